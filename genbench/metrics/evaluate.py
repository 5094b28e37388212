"""``evaluate``: every registered metric group, each measuring what the model can do.

The harness never branches on a model's name: each metric group checks the
capabilities it needs (``log_prob``, ``elbo``, ``reconstruct``, ...) and
returns nothing for a model without them. Plugins add groups through
``genbench.registry.register_metric``.
"""

from __future__ import annotations

import zlib

import jax

from genbench import contract, registry


def evaluate(model, dataset, view, eval_cfg, seed: int):
    """Measures ``model`` on ``dataset`` with every registered metric group (or those of
    ``eval.groups``).

    Args:
      model: the trained NNX module.
      dataset: ``genbench.data.base.Dataset`` (or ``Source``).
      view: the ``DataView`` of the dataset for this model.
      eval_cfg: the ``eval`` config section.
      seed: run seed; each group's key derives from it and the group's name,
        so adding a group does not change the numbers of the others.

    Returns:
      ``(metrics, estimators)`` dicts for the result record.
    """
    return evaluate_seeds([model], dataset, view, eval_cfg, [seed])[0]


def evaluate_seeds(models, dataset, view, eval_cfg, seeds) -> list[tuple[dict, dict]]:
    """``evaluate`` of each trained model of a seed group: a group with a ``seeds_factory``
    measures them all at once (vmapped), any other group one after the other.

    Args:
      models: the group's trained models, one per seed.
      dataset, view, eval_cfg: as for ``evaluate``.
      seeds: the models' run seeds, in order.

    Returns:
      One ``(metrics, estimators)`` per model, what ``evaluate`` gives it alone.
    """
    results = [({}, {}) for _ in models]
    for name, entry in registry.metrics().items():
        if eval_cfg.groups and name not in eval_cfg.groups:
            continue
        keys = [_group_key(seed, name) for seed in seeds]
        if len(models) > 1 and entry.seeds_factory is not None:
            factory = registry.resolve_factory(entry.seeds_factory)
            measured = factory(models, dataset, view, eval_cfg, keys)
        else:
            factory = registry.resolve_factory(entry)
            pairs = zip(models, keys, strict=True)
            measured = [factory(model, dataset, view, eval_cfg, key) for model, key in pairs]
        for (metrics, estimators), (values, tags) in zip(results, measured, strict=True):
            metrics |= {k: float(v) if v is not None else None for k, v in values.items()}
            estimators |= tags
    return results


def _group_key(seed: int, name: str) -> jax.Array:
    key = jax.random.fold_in(jax.random.key(seed), 0xE7A1)
    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def primary_eval_fn(model, view):
    """The per-example score whose speed ``eval_examples_per_s`` reports.

    The exact ``log_prob`` where the model has one, else the ELBO, else the
    variational bound ``vlb``, else the reconstruction; ``None`` for a model with none of them.
    """

    def flat(x):
        return x.reshape(x.shape[0], -1)

    if contract.has(model, "log_prob"):
        return lambda m, x, r: m.log_prob(view.transform(flat(x), r))
    if contract.has(model, "elbo"):
        return lambda m, x, r: m.elbo(view.transform(flat(x), r), r)
    if contract.has(model, "vlb"):
        return lambda m, x, r: m.vlb(view.transform(flat(x), r), r)
    if contract.has(model, "reconstruct"):
        return lambda m, x, r: m.reconstruct(view.transform(flat(x), r), r)
    return None
