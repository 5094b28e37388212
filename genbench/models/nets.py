"""Small network building blocks shared by the families."""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import nnx

from genbench.models.fast import replaceable

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jax.nn.tanh,
    "gelu": jax.nn.gelu,
    "softplus": jax.nn.softplus,
}

# The product of every convolution of the image families (``nnx.Conv(...,
# conv_general_dilated=conv_product)``): on CPU, one product of image patches
# (``genbench.models.fast.conv``).
conv_product = replaceable("conv_product")(jax.lax.conv_general_dilated)


class MLP(nnx.Module):
    """Dense layers ``sizes[0] -> ... -> sizes[-1]``, activation between them, none after the last.

    Args:
      sizes: layer widths, input first.
      activation: a key of ``ACTIVATIONS``.
      rngs: initialisation PRNGs.
    """

    def __init__(self, sizes: Sequence[int], activation: str, *, rngs: nnx.Rngs):
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        self.activation = ACTIVATIONS[activation]
        self.sizes = tuple(sizes)

    def __call__(self, x: jax.Array) -> jax.Array:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.activation(x)
        return x

    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of one example."""
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))


def training_flops(macs: int) -> int:
    """Forward + backward FLOPs of a dense network: 2 per MAC forward, twice that backward."""
    return 6 * macs
