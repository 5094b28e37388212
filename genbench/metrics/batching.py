"""Per-example functions of a model, jitted once and mapped over a dataset in padded batches."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class ModelFunction:
    """``fn(model, x, rng) -> [B]`` (or a dict of ``[B]``) compiled once for a fixed batch size.

    The model is split once and its state passed as an argument (not baked in
    as a constant), so the same compiled program serves every batch.

    Args:
      model: the NNX module.
      fn: per-example function of the model.
      batch_size: examples per compiled call; the last batch is padded.
    """

    def __init__(self, model: nnx.Module, fn: Callable, batch_size: int):
        self.graphdef, self.state = nnx.split(model)
        self.batch_size = batch_size
        self._jitted = jax.jit(lambda state, x, rng: fn(nnx.merge(self.graphdef, state), x, rng))

    def call_batch(self, x: jax.Array, rng: jax.Array):
        """One compiled call on a full batch ``x`` (``[batch_size, ...]``)."""
        return self._jitted(self.state, x, rng)

    def map(self, data: np.ndarray, rng: jax.Array):
        """Applies the function to every example of ``data``; returns host arrays ``[N]``."""
        n = len(data)
        size = min(self.batch_size, n)
        pad = (-n) % size
        padded = np.concatenate([data, np.repeat(data[:1], pad, axis=0)]) if pad else data
        outputs = []
        for i, start in enumerate(range(0, len(padded), size)):
            batch = jnp.asarray(padded[start : start + size], jnp.float32)
            outputs.append(self._jitted(self.state, batch, jax.random.fold_in(rng, i)))
        outputs = jax.device_get(outputs)
        return jax.tree.map(lambda *parts: np.concatenate(parts)[:n], *outputs)


def test_examples(dataset, eval_cfg) -> np.ndarray:
    """The test split, capped at ``eval.max_examples`` when that is set."""
    test = dataset.test
    return test[: eval_cfg.max_examples] if eval_cfg.max_examples else test
