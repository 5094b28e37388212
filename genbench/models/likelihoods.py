"""Observation models p(x | decoder output) shared by the families."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from genbench.inference.gaussian import diag_normal_log_prob
from genbench.models.fast import replaceable


@replaceable("bernoulli_log_prob")
def bernoulli_log_prob(logits: jax.Array, x: jax.Array) -> jax.Array:
    """log Bernoulli(x; sigmoid(logits)), summed over the last axis.

    ``logits`` and ``x`` broadcast against each other (IWAE: K samples of logits
    for one x); x may be grey values in [0, 1] (the form is linear in x).
    """
    return -jnp.sum(optax.sigmoid_binary_cross_entropy(logits, x), axis=-1)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
    """log N(x; mean, diag(exp(2 log_std))), summed over the last axis."""
    return diag_normal_log_prob(x, mean, log_std)


def bounded_log_std(raw: jax.Array, min_std: float) -> jax.Array:
    """log(min_std + softplus(raw)): a standard deviation that cannot collapse to 0."""
    return jnp.log(min_std + jax.nn.softplus(raw))


def max_likelihood_loss(log_p: jax.Array):
    """The shared step's ``(losses, metrics)`` of maximum likelihood: the negative mean of
    the batch's exact log-likelihoods ``log_p [B]`` (one parameter group)."""
    mean = jnp.mean(log_p)
    return {"params": -mean}, {"log_prob": mean}
