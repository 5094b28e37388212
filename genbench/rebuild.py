"""What a record was run on, rebuilt from the record alone (for figures of its samples)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from genbench import contract, registry


def dataset_of(record: dict):
    """The dataset of ``record``, built from its name and the record's ``config.data``.

    Args:
      record: a run record (JSON form).

    Returns:
      The ``Dataset`` (or ``Source``); data fields the dataset no longer has are ignored.
    """
    entry = registry.get_dataset(record["dataset"])
    fields = {f.name for f in dataclasses.fields(entry.config)}
    cfg = entry.config(**{k: v for k, v in record["config"]["data"].items() if k in fields})
    return registry.resolve_factory(entry)(cfg)


def source_log_density(record: dict) -> tuple[Callable, object] | None:
    """``(points [N, D] -> log p [N] compiled, test examples [M, D])`` of the source
    ``record`` ran on; None where the dataset has no density (not a ``Source``)."""
    import jax
    import numpy as np

    dataset = dataset_of(record)
    if not contract.is_source(dataset):
        return None
    examples = np.asarray(dataset.test, np.float64).reshape(len(dataset.test), -1)
    return jax.jit(dataset.log_prob), examples


def _leaves(config: dict, prefix: str = "") -> dict:
    """``{"train.lr": 1e-3, "train.groups.generator.lr": ...}``: every leaf of a config."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= _leaves(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def spec_of(record: dict):
    """The ``RunSpec`` of ``record``: its model, dataset, preset and seed, with every value
    of its resolved config set as an override (so defaults changed since do not leak in).

    Raises:
      UsageError: a field the record has that this genbench does not know.
    """
    from genbench.spec import resolve

    overrides = _leaves(record["config"])
    return resolve(record["model"], record["dataset"], record["preset"], overrides, record["seed"])
