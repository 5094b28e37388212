"""A small gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with
PixelCNN Decoders"): exact log p(x) of binary or L-level images in raster order.

Two stacks of gated convolutions, tanh(a) * sigmoid(b), remove the blind spot
of masked convolutions: the vertical stack at (i, j) sees the rows <= i within
the kernel's width, and reaches the horizontal stack only shifted down by one
row (rows < i); the horizontal stack sees row i to the left of j (the first
layer strictly left of j, later ones up to j, whose features already exclude
pixel (i, j)). So the logits of pixel (i, j) read only the pixels before it,
and log p(x) = sum log p(x_ij | x_<ij) is one pass; sampling takes one pass per
pixel. Convolutions are unmasked: causality comes from padding and shifting.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.models.made import PixelModel
from genbench.models.nets import conv_product, training_flops


def gate(x: jax.Array) -> jax.Array:
    """tanh(a) * sigmoid(b) of the two channel halves of ``x [..., 2C]``: ``[..., C]``."""
    a, b = jnp.split(x, 2, axis=-1)
    return jnp.tanh(a) * jax.nn.sigmoid(b)


def down_shift(x: jax.Array) -> jax.Array:
    """Rows moved down by one (a zero top row) of ``x [N, H, W, C]``: row i then holds
    what row i - 1 saw."""
    return jnp.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]


def right_shift(x: jax.Array) -> jax.Array:
    """Columns moved right by one (a zero first column) of ``x [N, H, W, C]``."""
    return jnp.pad(x, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]


class GatedLayer(nnx.Module):
    """One layer of both stacks.

    Args:
      in_channels: channels of the inputs (the image's 1 for the first layer).
      channels: C, the channels of each stack's output.
      kernel: odd kernel width k; the vertical kernel is (k//2 + 1) x k, the
        horizontal one 1 x (k//2 + 1).
      first: the first layer (its horizontal stack reads strictly left of j, and it
        has no residual connection).
      rngs: initialisation PRNGs.
    """

    def __init__(self, in_channels, channels, kernel, first, *, rngs: nnx.Rngs):
        half = kernel // 2
        self.half, self.first = half, first
        conv = lambda shape, i, o: nnx.Conv(  # noqa: E731
            i, o, shape, padding="VALID", conv_general_dilated=conv_product, rngs=rngs
        )
        self.vertical = conv((half + 1, kernel), in_channels, 2 * channels)
        self.horizontal = conv((1, half + 1), in_channels, 2 * channels)
        self.vertical_to_horizontal = conv((1, 1), 2 * channels, 2 * channels)
        self.out = conv((1, 1), channels, channels)
        self.macs_per_pixel = (
            2 * channels * (in_channels * ((half + 1) * kernel + half + 1) + 2 * channels)
            + channels * channels
        )

    def __call__(self, v: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(v, h)`` -> the next layer's ``(v, h)``, each ``[N, H, W, C]``."""
        k = self.half
        v_pre = self.vertical(jnp.pad(v, ((0, 0), (k, 0), (k, k), (0, 0))))
        h_pre = self.horizontal(jnp.pad(h, ((0, 0), (0, 0), (k, 0), (0, 0))))
        if self.first:  # strictly left of the pixel: it must not read itself
            h_pre = right_shift(h_pre)
        h_pre = h_pre + self.vertical_to_horizontal(down_shift(v_pre))
        h_new = self.out(gate(h_pre))
        return gate(v_pre), h_new if self.first else h + h_new


class PixelCNN(PixelModel):
    """A gated PixelCNN over ``[N, H*W]`` images with ``levels`` values per pixel.

    Args:
      image_shape: ``(H, W)``.
      levels: 2 (binary, Bernoulli logits) or L > 2 (discrete, L logits per pixel).
      channels: C.
      layers: gated layers after the first.
      kernel: odd kernel width.
      rngs: initialisation PRNGs.
    """

    def __init__(self, image_shape, levels, channels, layers, kernel, *, rngs: nnx.Rngs):
        self.image_shape, self.levels = tuple(image_shape), levels
        self.dim = math.prod(self.image_shape)
        self.input_kind = "binary" if levels == 2 else "discrete"
        self.layers = nnx.List(
            [GatedLayer(1, channels, kernel, True, rngs=rngs)]
            + [GatedLayer(channels, channels, kernel, False, rngs=rngs) for _ in range(layers)]
        )
        self.out_channels = 1 if levels == 2 else levels
        self.head = nnx.Conv(
            channels, channels, (1, 1), conv_general_dilated=conv_product, rngs=rngs
        )
        self.logits_layer = nnx.Conv(
            channels, self.out_channels, (1, 1), conv_general_dilated=conv_product, rngs=rngs
        )

    def logits(self, x: jax.Array) -> jax.Array:
        """The conditionals' logits of ``x [N, D]``: ``[N, D]`` (binary) or ``[N, D, L]``;
        those of pixel d read pixels < d (raster order) only."""
        n = x.shape[0]
        image = (x / (self.levels - 1)).reshape(n, *self.image_shape, 1)
        v = h = image
        for layer in self.layers:
            v, h = layer(v, h)
        out = self.logits_layer(jax.nn.relu(self.head(jax.nn.relu(h))))
        out = out.reshape(n, self.dim, self.out_channels)
        return out[..., 0] if self.levels == 2 else out

    def flops_per_example(self) -> int:
        """Analytic training FLOPs of one image: every convolution at every pixel."""
        head = self.head.in_features * (self.head.out_features + self.out_channels)
        per_pixel = sum(layer.macs_per_pixel for layer in self.layers) + head
        return training_flops(per_pixel * self.dim)


def build(config, dataset, rngs: nnx.Rngs) -> PixelCNN:
    """The PixelCNN of ``config.model`` (a ``PixelCNNConfig``) for a binary or discrete
    image ``dataset``."""
    from genbench import contract
    from genbench.errors import UsageError

    image_shape = contract.image_shape(dataset)
    if dataset.kind not in ("binary", "discrete") or image_shape is None:
        raise UsageError(
            f"pixelcnn models binary or discrete images; {dataset.name!r} is "
            f"{dataset.kind} data {'without' if image_shape is None else 'with'} an image shape"
        )
    levels = 2 if dataset.kind == "binary" else dataset.levels
    m = config.model
    return PixelCNN(image_shape, levels, m.channels, m.layers, m.kernel, rngs=rngs)
