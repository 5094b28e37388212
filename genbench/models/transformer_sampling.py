"""Autoregressive sampling from a ``Transformer`` with a preallocated KV cache.

The cache is a pair of arrays (keys, values), each ``[n_layer, N, B, H, D_h]``
(layer, sequence, window position, head, head dimension: per layer the
``[batch, length, heads, dim]`` layout that ``jax.nn.dot_product_attention``
takes), threaded through ``lax.fori_loop`` as plain arrays. A decoding step
runs one token through the network: at each layer it writes that token's key
and value at its position j (``lax.dynamic_update_slice``) and attends over
positions <= j of the cache, so a step costs O(B) instead of re-running the
prefix, O(B^2).

The sampler draws from exactly the distribution that ``Transformer.log_prob``
scores (see ``genbench.models.transformer``): x_0 ~ softmax(a / tau); up to B
tokens of context the cache grows position by position; beyond that, each
context window starts at a multiple of the stride S, so a window is a fresh
cache prefilled with its B - S + 1 known tokens in one pass, followed by S
decoding steps. Token p is drawn with the key ``fold_in(rng, p)`` by the
Gumbel-max trick of ``jax.random.categorical``, so the tokens do not depend
on how the work is split (the tests compare with a full re-computation of
every prefix).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.models.transformer import Transformer, num_windows

Cache = tuple[jax.Array, jax.Array]


def empty_cache(model: Transformer, n: int) -> Cache:
    """Zero keys and values ``[n_layer, n, B, H, D_h]``."""
    shape = (model.n_layer, n, model.block_size, model.n_head, model.n_embd // model.n_head)
    return jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32)


def extend(model: Transformer, tokens: jax.Array, start, cache: Cache) -> tuple[jax.Array, Cache]:
    """Runs ``tokens [N, T]`` at window positions ``start .. start + T - 1`` against the cache.

    Writes their keys and values into the cache and returns their next-token
    logits ``[N, T, V]``; query i attends to cache positions <= start + i.
    ``T`` > 1 is a prefill, ``T`` = 1 a decoding step.
    """
    keys, values = cache
    t = tokens.shape[1]
    positions = start + jnp.arange(t)
    x = model.embed(tokens, positions)
    mask = (jnp.arange(model.block_size)[None, :] <= positions[:, None])[None, None]
    for layer, block in enumerate(model.blocks):
        q, k, v = block.qkv(x)
        keys = jax.lax.dynamic_update_slice(keys, k[None], (layer, 0, start, 0, 0))
        values = jax.lax.dynamic_update_slice(values, v[None], (layer, 0, start, 0, 0))
        attention = jax.nn.dot_product_attention(q, keys[layer], values[layer], mask=mask)
        x = block.finish(x, attention)
    return model.head(x), (keys, values)


def pick(key: jax.Array, logits: jax.Array, temperature=1.0, top_k: int | None = None):
    """A token ``[N]`` from ``logits [N, V]`` / temperature, among the ``top_k`` largest if set."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def sample_tokens(
    model: Transformer,
    rng: jax.Array,
    prompt: jax.Array,
    length: int,
    temperature=1.0,
    top_k: int | None = None,
) -> jax.Array:
    """Sequences ``[N, length]`` that continue ``prompt [N, P]`` (P may be 0), traceable.

    Args:
      model: the transformer (deterministic: no dropout).
      rng: token p is drawn with ``fold_in(rng, p)``.
      prompt: the first P tokens, kept as given (P <= length).
      length: total tokens per sequence.
      temperature: logits are divided by it (> 0).
      top_k: sample among the k most probable tokens only; None: all.
    """
    b, s = model.block_size, model.stride
    n, given = prompt.shape
    windows = num_windows(length, b, s)
    buffer = jnp.zeros((n, max(length, (windows - 1) * s + b + 1)), jnp.int32)
    buffer = buffer.at[:, :given].set(prompt.astype(jnp.int32))

    def choose(buffer, p, logits):
        token = pick(jax.random.fold_in(rng, p), logits, temperature, top_k)
        token = jnp.where(p < given, buffer[:, p], token)  # a prompt token is kept
        return buffer.at[:, p].set(token)

    def run_window(buffer, start, known, targets):
        """Prefills ``known`` tokens from ``start``, then draws ``targets`` tokens after them."""
        context = jax.lax.dynamic_slice_in_dim(buffer, start, known, axis=1)
        logits, cache = extend(model, context, 0, empty_cache(model, n))

        def step(i, carry):
            buffer, cache, last = carry
            buffer = choose(buffer, start + known + i, last)
            token = jax.lax.dynamic_slice_in_dim(buffer, start + known + i, 1, axis=1)
            logits, cache = extend(model, token, known + i, cache)
            return buffer, cache, logits[:, 0]

        buffer, _, last = jax.lax.fori_loop(0, targets - 1, step, (buffer, cache, logits[:, -1]))
        return choose(buffer, start + known + targets - 1, last)

    first = jnp.broadcast_to(model.first_logits[...], (n, model.vocab_size))
    buffer = choose(buffer, 0, first)
    if length > 1:
        buffer = run_window(buffer, 0, 1, min(length - 1, b))
    if windows > 1:
        buffer = jax.lax.fori_loop(
            1, windows, lambda k, buf: run_window(buf, k * s, b - s + 1, s), buffer
        )
    return buffer[:, :length]


@functools.partial(jax.jit, static_argnames=("graphdef", "length", "top_k"))
def _generate(graphdef, state, rng, prompt, length, temperature, top_k):
    return sample_tokens(nnx.merge(graphdef, state), rng, prompt, length, temperature, top_k)


def generate(
    model: Transformer,
    rng: jax.Array,
    prompt: jax.Array,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> jax.Array:
    """Jitted KV-cache sampling (nanoGPT's ``generate``): ``[N, P + max_new_tokens]`` tokens.

    Args:
      model: the transformer.
      rng: PRNG key (token p uses ``fold_in(rng, p)``).
      prompt: ``[N, P]`` int tokens to continue (P = 0 draws the first token too).
      max_new_tokens: tokens to add.
      temperature: logits are divided by it (> 0).
      top_k: restrict each draw to the k most probable tokens; None: no restriction.
    """
    graphdef, state = nnx.split(model)
    prompt = jnp.asarray(prompt, jnp.int32)
    length = prompt.shape[1] + max_new_tokens
    return _generate(graphdef, state, rng, prompt, length, jnp.float32(temperature), top_k)


def recompute_tokens(
    model: Transformer,
    rng: jax.Array,
    prompt: jax.Array,
    length: int,
    temperature=1.0,
    top_k: int | None = None,
) -> jax.Array:
    """The reference sampler without a cache: each token re-runs its whole context window.

    Token p is drawn from the network's last logits on x_{m(p)..p-1} with the
    same key as ``sample_tokens``; O(L B^2) work, for tests and speed comparisons.
    """
    from genbench.models.transformer import context_start

    n, given = prompt.shape
    tokens = jnp.zeros((n, length), jnp.int32).at[:, :given].set(prompt.astype(jnp.int32))
    graphdef, state = nnx.split(model)
    for p in range(length):
        if p == 0:
            logits = jnp.broadcast_to(model.first_logits[...], (n, model.vocab_size))
        else:
            start = context_start(p, model.block_size, model.stride)
            logits = last_logits(graphdef, state, tokens[:, start:p])
        if p >= given:
            token = pick(jax.random.fold_in(rng, p), logits, temperature, top_k)
            tokens = tokens.at[:, p].set(token)
    return tokens


@functools.partial(jax.jit, static_argnames="graphdef")
def last_logits(graphdef, state, context: jax.Array) -> jax.Array:
    """The network's logits ``[N, V]`` at the last position of ``context [N, T]`` (no cache)."""
    return nnx.merge(graphdef, state)(context)[:, -1]
