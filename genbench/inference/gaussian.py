"""Gaussian log-densities and KL divergences."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

LOG_2PI = math.log(2 * math.pi)


def diag_normal_log_prob(x: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """log N(x; mean, diag(exp(2 log_std))), summed over the last axis.

    Args:
      x, mean, log_std: broadcastable arrays ``[..., D]``.

    Returns:
      ``[...]`` log-densities in nats.
    """
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * LOG_2PI, axis=-1)


def standard_normal_log_prob(x: jax.Array) -> jax.Array:
    """log N(x; 0, I), summed over the last axis."""
    return jnp.sum(-0.5 * x**2 - 0.5 * LOG_2PI, axis=-1)


def kl_diag_normal_standard(mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """KL(N(mean, diag(exp(2 log_std))) || N(0, I)), summed over the last axis.

    KL = 0.5 * sum(mean^2 + sigma^2 - 1 - 2 log sigma).
    """
    return 0.5 * jnp.sum(mean**2 + jnp.exp(2 * log_std) - 1.0 - 2 * log_std, axis=-1)


def mvn_log_prob(x: jax.Array, mean: jax.Array, covariance: jax.Array) -> jax.Array:
    """log N(x; mean, covariance) for a full covariance, via its Cholesky factor.

    Args:
      x: ``[N, D]``.
      mean: ``[D]``.
      covariance: ``[D, D]`` symmetric positive definite.

    Returns:
      ``[N]`` log-densities in nats.
    """
    chol = jnp.linalg.cholesky(covariance)
    white = jax.scipy.linalg.solve_triangular(chol, (x - mean).T, lower=True)
    log_det = 2 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    dim = x.shape[-1]
    return -0.5 * (jnp.sum(white**2, axis=0) + log_det + dim * LOG_2PI)
