"""Transformer sampling: the KV-cache sampler vs a jitted full re-computation, and training speed.

Model: the ``shakespeare-char-cpu`` preset's network (4 layers, 4 heads, width
128, block 64) over V = 65 symbols, freshly initialised (speed does not depend
on the weights). Both samplers are one compiled program each:

- KV cache: ``genbench.models.transformer_sampling.generate``.
- re-computation: a ``lax.fori_loop`` over positions p that runs the network
  on the whole context window x[m(p) : m(p) + B] at every step (the positions
  after p - 1 are padding, which the causal mask ignores) and draws token p
  from the logits at position p - m(p) - 1, with the same key: the tokens are
  the same as the cache's (checked), the work O(B) times larger per token.

Both are timed on 64 tokens (inside the context) and 256 tokens (beyond it:
windows restart every S = 32 tokens), batch 1 and 8, median of ``CALLS``
calls after a warm-up.

Run: ``python -m pytest benchmarks/test_transformer_sampling.py -s``.
"""

from __future__ import annotations

import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench.models.transformer import Transformer, context_start
from genbench.models.transformer_sampling import generate, pick

V, BLOCK, STRIDE = 65, 64, 32
CALLS = 5


def _model() -> Transformer:
    return Transformer(
        V, 256, n_layer=4, n_head=4, n_embd=128, block_size=BLOCK, stride=STRIDE, rngs=nnx.Rngs(0)
    )


@functools.partial(jax.jit, static_argnames=("graphdef", "n", "length"))
def recompute(graphdef, state, rng, n: int, length: int):
    """Draws ``[n, length]`` tokens re-running the whole context window at every position."""
    model = nnx.merge(graphdef, state)
    starts = jnp.array([context_start(p, BLOCK, STRIDE) for p in range(length)])
    tokens = jnp.zeros((n, length + BLOCK), jnp.int32)
    first = jnp.broadcast_to(model.first_logits[...], (n, V))
    tokens = tokens.at[:, 0].set(pick(jax.random.fold_in(rng, 0), first))

    def step(p, tokens):
        window = jax.lax.dynamic_slice_in_dim(tokens, starts[p], BLOCK, axis=1)
        logits = jax.lax.dynamic_index_in_dim(model(window), p - starts[p] - 1, 1, False)
        return tokens.at[:, p].set(pick(jax.random.fold_in(rng, p), logits))

    return jax.lax.fori_loop(1, length, step, tokens)[:, :length]


def _median_s(call) -> float:
    jax.block_until_ready(call())
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.mark.parametrize("n", [1, 8])
@pytest.mark.parametrize("length", [64, 256])
def test_kv_cache_vs_recompute(n, length):
    model = _model()
    graphdef, state = nnx.split(model)
    key = jax.random.key(0)
    empty = jnp.zeros((n, 0), jnp.int32)
    cached = generate(model, key, empty, length)
    np.testing.assert_array_equal(cached, recompute(graphdef, state, key, n, length))
    t_cache = _median_s(lambda: generate(model, key, empty, length))
    t_full = _median_s(lambda: recompute(graphdef, state, key, n, length))
    print(
        f"\nsampling n={n} length={length}: KV cache {n * length / t_cache:,.0f} tokens/s, "
        f"re-computation {n * length / t_full:,.0f} tokens/s, speed-up {t_full / t_cache:.1f}x"
    )
