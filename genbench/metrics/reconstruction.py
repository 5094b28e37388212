"""Reconstruction error of models that can ``reconstruct``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genbench import contract
from genbench.metrics.batching import ModelFunction, test_examples
from genbench.stats import mean_and_se

_EPS = 1e-6


def reconstruction_metrics(model, dataset, view, eval_cfg, rng: jax.Array):
    """``recon_bce`` (binary inputs, nats summed over dimensions) or ``recon_mse`` (mean per dim).

    Measured for models that can ``reconstruct``, on the test split. The error
    compares the reconstruction with the model-view input (dequantised where
    the view dequantises).

    Returns:
      ``(metrics, estimators)``; empty for a model that cannot reconstruct.
    """
    if not contract.has(model, "reconstruct"):
        return {}, {}

    def error(m, x, r):
        k_view, k_model = jax.random.split(r)
        x = view.transform(x.reshape(x.shape[0], -1), k_view)
        mean = m.reconstruct(x, k_model)
        if m.input_kind == "binary":
            p = jnp.clip(mean, _EPS, 1 - _EPS)
            return -jnp.sum(x * jnp.log(p) + (1 - x) * jnp.log1p(-p), axis=-1)
        return jnp.mean((mean - x) ** 2, axis=-1)

    data = test_examples(dataset, eval_cfg)
    values = ModelFunction(model, error, eval_cfg.batch_size).map(data, rng)
    name = "recon_bce" if model.input_kind == "binary" else "recon_mse"
    mean, se = mean_and_se(values)
    return {name: mean, f"{name}_se": se}, {}
