"""Importance-weighted bounds on log p(x) (Burda, Grosse and Salakhutdinov 2015).

With K samples z_k ~ q(z | x) and log-weights w_k = log p(x, z_k) - log q(z_k | x),

    L_K(x) = logsumexp_k(w_k) - log K  <=  log p(x),

L_1 is the ELBO in expectation and E[L_K] increases with K towards log p(x).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp


def iwae_bound_from_log_weights(log_weights: jax.Array) -> jax.Array:
    """L_K from log-weights ``[K, ...]`` (sample axis first); returns ``[...]``."""
    k = log_weights.shape[0]
    return jax.nn.logsumexp(log_weights, axis=0) - math.log(k)


def chunked_iwae_bound(
    log_weights_fn: Callable[[jax.Array, int], jax.Array],
    rng: jax.Array,
    k: int,
    chunk: int,
) -> jax.Array:
    """L_K computed in chunks of importance samples, so memory stays bounded for large K.

    Args:
      log_weights_fn: ``(rng, n) -> [n, B]`` log-weights of ``n`` fresh samples
        for each of the B examples.
      rng: PRNG key.
      k: total number of importance samples.
      chunk: samples per chunk; ``k`` is rounded up to a multiple of it only
        when ``k > chunk`` (the remainder is drawn in a last, smaller chunk).

    Returns:
      ``[B]`` importance-weighted bounds with K = k.
    """
    if k <= chunk:
        return iwae_bound_from_log_weights(log_weights_fn(rng, k))
    n_full, rest = divmod(k, chunk)
    keys = jax.random.split(rng, n_full + 1)

    def body(acc, key):
        return jnp.logaddexp(acc, jax.nn.logsumexp(log_weights_fn(key, chunk), axis=0)), None

    first = jax.nn.logsumexp(log_weights_fn(keys[0], chunk), axis=0)
    acc, _ = jax.lax.scan(body, first, keys[1:n_full])
    if rest:
        acc = jnp.logaddexp(acc, jax.nn.logsumexp(log_weights_fn(keys[-1], rest), axis=0))
    return acc - math.log(k)
