"""A dense layer's product over flattened rows, a drop-in for ``jax.lax.dot_general`` as
``nnx.Linear`` calls it (the transformer's ``dense_product``).

Why: on ``[N, T, C]`` inputs XLA:CPU's backward pass contracts two axes for the
weight gradient, and a training step of the transformer benchmark's config
(4 x 256, block 128, batch 32) took 1,053 ms against 660 ms with every dense
layer on ``[N * T, C]`` rows (quiet 2-core CPU, median of 5; ``benchmarks/README.md``).
"""

from __future__ import annotations

import jax


def dot_general_on_rows(
    lhs: jax.Array,
    rhs: jax.Array,
    dimension_numbers,
    precision=None,
    preferred_element_type=None,
    *,
    out_sharding=None,
) -> jax.Array:
    """``jax.lax.dot_general``, with a dense layer's ``[..., C] x [C, F]`` product taken as
    one 2-D product over the ``[rows, C]`` flattening of ``lhs``.

    Any other product (batch dimensions, other contractions, 2-D ``lhs``, an
    output sharding) is passed to ``jax.lax.dot_general`` as it is.

    Args:
      lhs, rhs, dimension_numbers, precision, preferred_element_type, out_sharding:
        as ``jax.lax.dot_general``.

    Returns:
      The same array as ``jax.lax.dot_general``, ``[..., F]`` for a dense layer.
    """
    (lhs_contract, rhs_contract), batch = dimension_numbers
    dense = (
        lhs.ndim > 2
        and rhs.ndim == 2
        and tuple(lhs_contract) == (lhs.ndim - 1,)
        and tuple(rhs_contract) == (0,)
        and not any(batch)
        and out_sharding is None
    )
    if not dense:
        return jax.lax.dot_general(
            lhs,
            rhs,
            dimension_numbers,
            precision,
            preferred_element_type,
            out_sharding=out_sharding,
        )
    rows = jax.lax.dot_general(
        lhs.reshape(-1, lhs.shape[-1]),
        rhs,
        (((1,), (0,)), ((), ())),
        precision,
        preferred_element_type,
    )
    return rows.reshape(*lhs.shape[:-1], rhs.shape[-1])


def attend_on_rows(embedding, h: jax.Array) -> jax.Array:
    """``embedding.attend(h)`` (tied output logits) as one 2-D product over ``h``'s rows.

    Args:
      embedding: an ``nnx.Embed`` of V embeddings of width C.
      h: hidden states ``[..., C]``.

    Returns:
      The logits ``[..., V]``.
    """
    return embedding.attend(h.reshape(-1, h.shape[-1])).reshape(*h.shape[:-1], -1)
