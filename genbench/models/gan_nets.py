"""Generator and discriminator networks of the GAN family: MLPs for low-dimensional data
(PacGAN's 2-D networks) and small convolutional networks for 8x8 images."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.models.nets import conv_product


def conv(in_channels: int, out_channels: int, kernel, strides=1, *, rngs, **options) -> nnx.Conv:
    """``nnx.Conv`` (``SAME`` padding unless ``options`` say otherwise) whose product is
    ``conv_product``: on CPU, one product of image patches."""
    return nnx.Conv(
        in_channels,
        out_channels,
        kernel,
        strides,
        conv_general_dilated=conv_product,
        rngs=rngs,
        **options,
    )


def upsampling_conv(in_channels: int, out_channels: int, kernel: int, *, rngs) -> nnx.Conv:
    """The transposed convolution ``nnx.ConvTranspose(in, out, (k, k), (2, 2))`` (``SAME``
    padding: twice the input's height and width, k >= 3), written as the convolution that
    ``lax.conv_transpose`` lowers it to: the input dilated by 2 and padded by ``ceil(k / 2)``
    before and ``k - ceil(k / 2)`` after, then a stride-1 ``k x k`` convolution with the same
    kernel (same parameters, same values), so that it runs through ``conv_product``."""
    before = -(-kernel // 2)
    pad = (before, kernel - before)
    return conv(
        in_channels, out_channels, (kernel, kernel), padding=(pad, pad), input_dilation=2, rngs=rngs
    )


def slot_batch_norm(norm: nnx.BatchNorm, h: jax.Array, slots: int) -> jax.Array:
    """``norm`` in training mode with statistics per slot: rows ``r mod slots`` of
    ``h [n, F]`` are normalised by their own mean and (biased) variance, then scaled and
    shifted by ``norm``'s parameters. The running statistics move towards the slots' mean
    statistics (PacGAN's code averages its per-slot population updates the same way).
    """
    grouped = h.reshape(-1, slots, h.shape[-1])  # [n / slots, slots, F]
    mean = jnp.mean(grouped, axis=0)
    var = jnp.mean(jnp.square(grouped - mean), axis=0)
    y = (grouped - mean) * jax.lax.rsqrt(var + norm.epsilon)
    y = y * norm.scale.get_value() + norm.bias.get_value()
    keep = norm.momentum
    norm.mean.set_value(keep * norm.mean.get_value() + (1 - keep) * jnp.mean(mean, axis=0))
    norm.var.set_value(keep * norm.var.get_value() + (1 - keep) * jnp.mean(var, axis=0))
    return y.reshape(h.shape)


class MLPGenerator(nnx.Module):
    """noise -> [Linear -> (BatchNorm) -> ReLU] x len(hidden) -> Linear -> output.

    Args:
      noise_dim: dimension of the N(0, I) input.
      hidden: hidden widths.
      out_dim: data dimension.
      batchnorm: BatchNorm after each hidden layer; its statistics are
        non-parameter state carried by the training step.
      batchnorm_epsilon: added to BatchNorm's variance.
      squash: a sigmoid on the output (data in [0, 1)).
      rngs: initialisation PRNGs.
    """

    def __init__(
        self,
        noise_dim: int,
        hidden: Sequence[int],
        out_dim: int,
        *,
        batchnorm: bool,
        batchnorm_epsilon: float = 1e-5,
        squash: bool,
        rngs: nnx.Rngs,
    ):
        sizes = (noise_dim, *hidden)
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in pairwise(sizes)])
        self.norms = nnx.List(
            [nnx.BatchNorm(h, epsilon=batchnorm_epsilon, rngs=rngs) for h in hidden]
            if batchnorm
            else [],
        )
        self.out = nnx.Linear(sizes[-1], out_dim, rngs=rngs)
        self.squash = squash
        self.sizes = (*sizes, out_dim)

    def __call__(self, z: jax.Array, train: bool, slots: int = 1) -> jax.Array:
        """``x [n, out_dim]`` for ``z [n, noise_dim]``.

        Args:
          z: the inputs.
          train: BatchNorm with the batch's statistics (and updating the running ones),
            else with the running statistics.
          slots: in training, BatchNorm statistics per pack slot: row r belongs to slot
            ``r mod slots`` (the layout ``GAN`` packs), as if G ran once per slot.
        """
        h = z
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if len(self.norms):
                norm = self.norms[i]
                if train and slots > 1:
                    h = slot_batch_norm(norm, h, slots)
                else:
                    h = norm(h, use_running_average=not train)
            h = jax.nn.relu(h)
        x = self.out(h)
        return jax.nn.sigmoid(x) if self.squash else x

    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of one sample."""
        return sum(a * b for a, b in pairwise(self.sizes))


class MaxoutDiscriminator(nnx.Module):
    """[Linear -> maxout over ``pieces``] x len(hidden) -> Linear -> one logit.

    Args:
      in_dim: input dimension (pack x data dimension).
      hidden: maxout units per layer.
      pieces: linear pieces per maxout unit (1: ReLU).
      rngs: initialisation PRNGs.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], pieces: int, *, rngs: nnx.Rngs):
        sizes = (in_dim, *hidden)
        self.layers = nnx.List([nnx.Linear(a, b * pieces, rngs=rngs) for a, b in pairwise(sizes)])
        self.out = nnx.Linear(sizes[-1], 1, rngs=rngs)
        self.pieces = pieces
        self.sizes = sizes

    def __call__(self, x: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """Logits ``[n]`` of inputs ``[n, in_dim]`` (with ``labels``: the packed one-hot
        labels ``[n, pack * C]``, appended; ``in_dim`` counts them)."""
        h = x if labels is None else jnp.concatenate([x, labels], axis=-1)
        for layer in self.layers:
            h = layer(h)
            if self.pieces > 1:
                # Pieces-major ([..., pieces, units]): the max over a leading axis is an
                # elementwise max of contiguous slices, ~6x faster on XLA:CPU forward and
                # backward than a max over a trailing axis of size 5.
                h = jnp.max(h.reshape(*h.shape[:-1], self.pieces, -1), axis=-2)
            else:
                h = jax.nn.relu(h)
        return self.out(h)[..., 0]

    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of one (packed) input."""
        return sum(a * b * self.pieces for a, b in pairwise(self.sizes)) + self.sizes[-1]


class ConvGenerator(nnx.Module):
    """noise -> Linear to (H/2, W/2, 2C) -> BN, ReLU -> 2x transposed conv to C -> BN, ReLU
    -> 3x3 conv to one channel -> sigmoid; flattened ``[n, H * W]``."""

    def __init__(
        self,
        noise_dim: int,
        image_shape,
        channels: int,
        *,
        batchnorm_epsilon: float = 1e-5,
        rngs: nnx.Rngs,
    ):
        height, width = image_shape
        self.start = (height // 2, width // 2, 2 * channels)
        self.project = nnx.Linear(noise_dim, height * width // 4 * 2 * channels, rngs=rngs)
        self.norm1 = nnx.BatchNorm(2 * channels, epsilon=batchnorm_epsilon, rngs=rngs)
        self.up = upsampling_conv(2 * channels, channels, 4, rngs=rngs)
        self.norm2 = nnx.BatchNorm(channels, epsilon=batchnorm_epsilon, rngs=rngs)
        self.to_pixels = conv(channels, 1, (3, 3), rngs=rngs)
        self._macs = noise_dim * height * width // 4 * 2 * channels + height * width * (
            16 * 2 * channels * channels // 4 + 9 * channels
        )

    def __call__(self, z: jax.Array, train: bool) -> jax.Array:
        h = self.project(z).reshape(z.shape[0], *self.start)
        h = jax.nn.relu(self.norm1(h, use_running_average=not train))
        h = jax.nn.relu(self.norm2(self.up(h), use_running_average=not train))
        return jax.nn.sigmoid(self.to_pixels(h)).reshape(z.shape[0], -1)

    def macs(self) -> int:
        return self._macs


class ConvDiscriminator(nnx.Module):
    """``pack`` images as channels -> 3x3 conv stride 2 (C) -> leaky ReLU -> 3x3 conv stride 2
    (2C) -> leaky ReLU -> Linear -> one logit.

    With ``num_classes`` K > 0 (a conditional GAN) each packed image's one-hot label is K
    more constant input channels."""

    def __init__(
        self, image_shape, pack: int, channels: int, *, num_classes: int = 0, rngs: nnx.Rngs
    ):
        height, width = image_shape
        self.image_shape, self.pack = tuple(image_shape), pack
        in_channels = pack * (1 + num_classes)
        self.conv1 = conv(in_channels, channels, (3, 3), (2, 2), rngs=rngs)
        self.conv2 = conv(channels, 2 * channels, (3, 3), (2, 2), rngs=rngs)
        flat = -(-height // 4) * -(-width // 4) * 2 * channels
        self.out = nnx.Linear(flat, 1, rngs=rngs)
        quarter = height * width // 4
        self._macs = (
            quarter * 9 * in_channels * channels + quarter // 4 * 9 * 2 * channels**2 + flat
        )

    def __call__(self, x: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """Logits ``[n]`` of packed images ``[n, pack * H * W]`` (and their packed one-hot
        labels ``[n, pack * K]``)."""
        # x: [n, pack * H * W] -> [n, H, W, pack]
        images = x.reshape(x.shape[0], self.pack, *self.image_shape).transpose(0, 2, 3, 1)
        if labels is not None:
            planes = jnp.broadcast_to(
                labels[:, None, None, :], (*images.shape[:3], labels.shape[-1])
            )
            images = jnp.concatenate([images, planes], axis=-1)
        h = jax.nn.leaky_relu(self.conv1(images), 0.2)
        h = jax.nn.leaky_relu(self.conv2(h), 0.2)
        return self.out(h.reshape(h.shape[0], -1))[..., 0]

    def macs(self) -> int:
        return self._macs
