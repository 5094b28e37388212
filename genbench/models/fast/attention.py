"""Causal softmax attention computed heads-first, a drop-in for the transformer's
``causal_attention`` (``jax.nn.dot_product_attention(q, k, v, is_causal=True)``).

Why: ``jax.nn.dot_product_attention`` computes in the ``[N, T, H, D]`` layout,
and on XLA:CPU the backward pass of its batched products is slow. With the
heads moved next to the batch first (``[N, H, T, D]``), forward and backward of
one layer of the transformer benchmark's config (4 x 256, block 128, batch 32)
took 21 ms against 41-44 ms (quiet 2-core CPU; ``benchmarks/README.md``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def heads_first_causal_attention(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """Causal attention softmax(Q K^T / sqrt(D) + M) V per head, computed as ``[N, H, T, D]``.

    Args:
      q, k, v: queries, keys and values, each ``[N, T, H, D]``.

    Returns:
      The attention output ``[N, T, H, D]``; position i attends to positions <= i.
    """
    n, t, h, d = q.shape
    q, k, v = (a.transpose(0, 2, 1, 3) for a in (q, k, v))
    scores = jnp.einsum("nhqd,nhkd->nhqk", q, k) * (1.0 / math.sqrt(d))
    causal = jnp.tril(jnp.ones((t, t), bool))
    scores = jnp.where(causal, scores, jnp.finfo(scores.dtype).min)
    out = jnp.einsum("nhqk,nhkd->nhqd", jax.nn.softmax(scores, axis=-1), v)
    return out.transpose(0, 2, 1, 3)
