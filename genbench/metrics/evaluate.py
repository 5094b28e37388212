"""``evaluate``: every metric a model's capabilities allow, never a branch on its name."""

from __future__ import annotations

import jax
import numpy as np

from genbench.metrics.divergence import source_metrics
from genbench.metrics.likelihood import likelihood_metrics
from genbench.metrics.reconstruction import reconstruction_metrics


def test_examples(dataset, eval_cfg) -> np.ndarray:
    """The test split, capped at ``eval.max_examples`` when that is set."""
    test = dataset.test
    return test[: eval_cfg.max_examples] if eval_cfg.max_examples else test


def evaluate(model, dataset, view, eval_cfg, seed: int):
    """Measures ``model`` on the test split of ``dataset`` (and against it, if a source).

    Args:
      model: the trained NNX module.
      dataset: ``genbench.data.base.Dataset`` (or ``Source``).
      view: the ``DataView`` of the dataset for this model.
      eval_cfg: the ``eval`` config section.
      seed: run seed (evaluation keys derive from it).

    Returns:
      ``(metrics, estimators)`` dicts for the result record.
    """
    key = jax.random.fold_in(jax.random.key(seed), 0xE7A1)
    k_lik, k_rec, k_src = jax.random.split(key, 3)
    data = test_examples(dataset, eval_cfg)
    metrics, estimators = likelihood_metrics(model, data, view, eval_cfg, k_lik)
    if hasattr(model, "reconstruct"):
        metrics |= reconstruction_metrics(model, data, view, eval_cfg, k_rec)
    if dataset.is_source and not view.dequantized:
        src_metrics, src_estimators = source_metrics(model, dataset, eval_cfg, k_src)
        metrics |= src_metrics
        estimators |= src_estimators
    return metrics, estimators


def primary_eval_fn(model, view):
    """The per-example score whose speed ``eval_examples_per_s`` reports.

    The exact ``log_prob`` where the model has one, else the ELBO, else the
    reconstruction; ``None`` for a model with none of them.
    """

    def flat(x):
        return x.reshape(x.shape[0], -1)

    if hasattr(model, "log_prob"):
        return lambda m, x, r: m.log_prob(view.transform(flat(x), r))
    if hasattr(model, "elbo"):
        return lambda m, x, r: m.elbo(view.transform(flat(x), r), r)
    if hasattr(model, "reconstruct"):
        return lambda m, x, r: m.reconstruct(view.transform(flat(x), r), r)
    return None
