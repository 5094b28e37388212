"""A convolution taken as one matrix product over image patches, a drop-in for
``jax.lax.conv_general_dilated`` as ``nnx.Conv`` calls it (``conv_product``).

Why: XLA:CPU sends a convolution to Eigen's spatial-convolution kernels, which are
slow for the few channels and small images of the 8x8 digit models, above all in
the backward pass (the kernel's gradient). Gathering the kernel's k_h x k_w shifted
views of the input into ``[N * H_out * W_out, k_h * k_w * C_in]`` rows and
multiplying them by the kernel reshaped to ``[k_h * k_w * C_in, C_out]`` computes
the same sums as one dense product, whose gradients are again products plus the
slices' transposes (pads). A transposed convolution (input dilation, stride 1) is taken
the other way round, without the dilation's zeros: each input pixel times every kernel
tap in one product, each tap's results then added where they land. The measured effect
is in ``benchmarks/README.md``.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp


def _channels_last(dimension_numbers, ndim: int) -> bool:
    """Whether ``dimension_numbers`` (a ``ConvDimensionNumbers``) is ``NH..WC``,
    ``H..WIO``, ``NH..WC``, the layout ``nnx.Conv`` uses."""
    spatial = tuple(range(1, ndim - 1))
    return (
        tuple(dimension_numbers.lhs_spec) == (0, ndim - 1, *spatial)
        and tuple(dimension_numbers.rhs_spec) == (ndim - 1, ndim - 2, *range(ndim - 2))
        and tuple(dimension_numbers.out_spec) == (0, ndim - 1, *spatial)
    )


def _explicit_padding(padding, in_sizes, window, strides) -> list[tuple[int, int]]:
    """``padding`` as ``(low, high)`` pairs per spatial axis (strings resolved as XLA does)."""
    if isinstance(padding, str):
        return list(jax.lax.padtype_to_pads(in_sizes, window, strides, padding))
    return [tuple(int(p) for p in pair) for pair in padding]


def _padded(x: jax.Array, pads, dilation) -> jax.Array:
    """``x [N, ..., C]`` dilated (zeros between its pixels) and zero-padded by ``pads``
    (``(low, high)`` per spatial axis; a negative pad crops), in one ``lax.pad``."""
    spatial = [(lo, hi, d - 1) for (lo, hi), d in zip(pads, dilation, strict=True)]
    return jax.lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), *spatial, (0, 0, 0)])


def _patches(x: jax.Array, window, strides) -> tuple[jax.Array, list[int]]:
    """The valid ``window``-sized patches of ``x [N, ..., C]`` at ``strides``:
    ``([N, ..., prod(window) * C], output sizes)``, the channels of kernel offset
    ``(i, j)`` at ``(i * k_w + j) * C``, the order of an ``H..WIO`` kernel's rows."""
    sizes = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], window, strides, strict=True)]
    views = []
    for offset in itertools.product(*(range(k) for k in window)):
        ends = [o + (m - 1) * s + 1 for o, m, s in zip(offset, sizes, strides, strict=True)]
        views.append(
            jax.lax.slice(x, (0, *offset, 0), (x.shape[0], *ends, x.shape[-1]), (1, *strides, 1))
        )
    return (views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)), sizes


def _product(rows: jax.Array, matrix: jax.Array, precision, preferred_element_type) -> jax.Array:
    """``rows [R, K] @ matrix [K, F]`` with a convolution's precision and result type."""
    dims = (((1,), (0,)), ((), ()))
    return jax.lax.dot_general(rows, matrix, dims, precision, preferred_element_type)


def _transposed(lhs, rhs, pads, dilation, precision, preferred_element_type) -> jax.Array:
    """A stride-1 convolution of the ``dilation``-dilated input (a transposed convolution)
    without the dilation's zeros: every input pixel's product with every kernel tap,
    ``Y[i, k] = x[i] @ K[k]`` (one product), is added at the output position it reaches,
    ``o = dilation * i + low - k`` (one ``lax.pad`` per tap places all of them)."""
    spatial = lhs.ndim - 2
    window, n, c_out = rhs.shape[:spatial], lhs.shape[0], rhs.shape[-1]
    in_sizes = lhs.shape[1:-1]
    # Y: [N, *in_sizes, prod(window) * C_out], the taps in the kernel's (row-major) order.
    kernel = jnp.moveaxis(rhs.reshape(-1, lhs.shape[-1], c_out), 0, 1).reshape(lhs.shape[-1], -1)
    rows = lhs.reshape(-1, lhs.shape[-1])
    products = _product(rows, kernel, precision, preferred_element_type)
    products = products.reshape(n, *in_sizes, -1, c_out)
    dilated = [(m - 1) * d + 1 for m, d in zip(in_sizes, dilation, strict=True)]
    out_sizes = [m + lo + hi - k + 1 for m, (lo, hi), k in zip(dilated, pads, window, strict=True)]
    out = None
    for tap, offset in enumerate(itertools.product(*(range(k) for k in window))):
        placement = [
            (lo - o, size - m - (lo - o), d - 1)
            for (lo, _), o, size, m, d in zip(
                pads, offset, out_sizes, dilated, dilation, strict=True
            )
        ]
        zero = jnp.zeros((), products.dtype)
        placed = jax.lax.pad(products[..., tap, :], zero, [(0, 0, 0), *placement, (0, 0, 0)])
        out = placed if out is None else out + placed
    return out


def conv_on_patches(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision=None,
    preferred_element_type=None,
    *,
    out_sharding=None,
) -> jax.Array:
    """``jax.lax.conv_general_dilated``, computed as one product of the input's patches
    with the flattened kernel for channels-last convolutions (any strides, explicit or
    string padding, input dilation: a transposed convolution).

    Any other convolution (another layout, kernel dilation, feature or batch groups,
    string padding with input dilation, an output sharding) is passed to
    ``jax.lax.conv_general_dilated`` as it is.

    Args:
      lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, batch_group_count, precision, preferred_element_type,
        out_sharding: as ``jax.lax.conv_general_dilated``.

    Returns:
      The same array as ``jax.lax.conv_general_dilated``.
    """
    spatial = lhs.ndim - 2
    ones = (1,) * spatial
    lhs_dilation = tuple(lhs_dilation or ones)
    dn = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    on_patches = (
        _channels_last(dn, lhs.ndim)
        and tuple(rhs_dilation or ones) == ones
        and feature_group_count == 1
        and batch_group_count == 1
        and out_sharding is None
        and not (isinstance(padding, str) and lhs_dilation != ones)
    )
    if not on_patches:
        return jax.lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            batch_group_count,
            precision,
            preferred_element_type,
            out_sharding=out_sharding,
        )
    window, strides = rhs.shape[:spatial], tuple(window_strides)
    pads = _explicit_padding(padding, lhs.shape[1:-1], window, strides)
    if lhs_dilation != ones and strides == ones:
        return _transposed(lhs, rhs, pads, lhs_dilation, precision, preferred_element_type)
    patches, out_sizes = _patches(_padded(lhs, pads, lhs_dilation), window, strides)
    rows = patches.reshape(-1, math.prod(window) * lhs.shape[-1])
    out = _product(rows, rhs.reshape(-1, rhs.shape[-1]), precision, preferred_element_type)
    return out.reshape(lhs.shape[0], *out_sizes, rhs.shape[-1])
