"""Masked dense networks (MADE, Germain et al. 2015), shared by ``made`` and ``maf``.

Every unit carries a degree: input ``d`` has degree ``d + 1`` (1..D), a hidden
unit a degree in 1..D-1, and an output block ``d`` the degree ``d + 1``. A
hidden unit sees the units of the layer below whose degree is at most its own;
an output sees only the hidden units of strictly lower degree. So output ``d``
depends on inputs ``0..d-1`` only, and the network's outputs are the
conditionals of an autoregressive factorisation in one pass. Context inputs
(a class label's one-hot) have degree 0: every hidden unit, so every output,
sees them.

Hidden degrees cycle through 1..D-1 (not drawn at random), so the masks are a
function of the sizes alone: constants of the compiled program (not
parameters), the same in every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genbench.models.nets import ACTIVATIONS


def hidden_degrees(width: int, dim: int) -> np.ndarray:
    """Degrees 1..D-1 cycled over ``width`` hidden units (all 1 when D = 1), ``[width]``."""
    return np.arange(width) % max(dim - 1, 1) + 1


def layer_degrees(dim: int, hidden: Sequence[int], out_blocks: int, context: int = 0):
    """The degrees on both sides of each layer of a MADE network.

    Args:
      dim: D, the number of autoregressive variables (inputs).
      hidden: hidden widths.
      out_blocks: outputs per variable (e.g. 2 for a shift and a log-scale, L for
        the logits of L levels); output ``j`` belongs to variable ``j % D``.
      context: inputs after the D variables that every output may read (degree 0).

    Returns:
      ``[(below, above, strict), ...]`` input layer first: tuples of the degrees of the
      units below and above, and whether a connection needs a strictly lower degree
      below (the output layer) or one at most equal (hidden layers).
    """
    inputs = np.concatenate([np.arange(1, dim + 1), np.zeros(context, int)])
    degrees = [inputs] + [hidden_degrees(w, dim) for w in hidden]
    layers = [
        (tuple(b.tolist()), tuple(a.tolist()), False)
        for b, a in zip(degrees[:-1], degrees[1:], strict=True)
    ]
    out_degrees = np.tile(np.arange(1, dim + 1), out_blocks)
    return [*layers, (tuple(degrees[-1].tolist()), tuple(out_degrees.tolist()), True)]


def connectivity(below, above, strict: bool) -> np.ndarray:
    """The float32 ``[in, out]`` mask of a layer: 1 where unit ``j`` above may read unit
    ``i`` below (degree below < degree above if ``strict``, else <=)."""
    below, above = np.asarray(below)[:, None], np.asarray(above)[None, :]
    return ((below < above) if strict else (below <= above)).astype(np.float32)


class MaskedDense(nnx.Module):
    """A dense layer whose kernel is multiplied by a fixed 0/1 mask.

    The layer keeps the degrees (small static tuples), not the mask: the mask is a
    constant of the compiled program, not state, and not trained.

    Args:
      below, above, strict: the layer's degrees (``layer_degrees``).
      zero_init: start with a zero kernel and bias (an output layer that makes a
        flow start at the identity).
      rngs: initialisation PRNGs.
    """

    def __init__(self, below, above, strict: bool, *, zero_init: bool = False, rngs: nnx.Rngs):
        init = nnx.initializers.zeros if zero_init else nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (len(below), len(above))))
        self.bias = nnx.Param(jnp.zeros(len(above)))
        self.degrees = (tuple(below), tuple(above), bool(strict))

    def __call__(self, x: jax.Array) -> jax.Array:
        mask = jnp.asarray(connectivity(*self.degrees), x.dtype)
        return x @ (self.kernel[...] * mask) + self.bias[...]


class MADE(nnx.Module):
    """A masked MLP: ``out_blocks`` autoregressive outputs per input variable.

    Args:
      dim: D, input variables.
      hidden: hidden widths (each at least D - 1 so every degree has a unit).
      out_blocks: outputs per variable; the result is ``[..., out_blocks, D]``.
      activation: a key of ``genbench.models.nets.ACTIVATIONS``.
      zero_init: zero output layer (a flow layer that starts at the identity).
      context: inputs besides the D variables that every output reads (a class label's
        C one-hot entries); 0 for none.
      rngs: initialisation PRNGs.
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int],
        out_blocks: int,
        activation: str = "relu",
        *,
        zero_init: bool = False,
        context: int = 0,
        rngs: nnx.Rngs,
    ):
        layers = layer_degrees(dim, hidden, out_blocks, context)
        self.layers = nnx.List(
            [
                MaskedDense(*degrees, zero_init=zero_init and i == len(layers) - 1, rngs=rngs)
                for i, degrees in enumerate(layers)
            ]
        )
        self.activation = ACTIVATIONS[activation]
        self.dim, self.out_blocks = dim, out_blocks
        self.sizes = (dim + context, *hidden, out_blocks * dim)

    def __call__(self, x: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """The outputs of ``x [..., D]`` (and of ``context [..., C]``, if the network has
        context inputs): ``[..., out_blocks, D]``, block ``[..., k, d]`` a function of
        ``x[..., :d]`` (and the context) only."""
        h = x if context is None else jnp.concatenate([x, context], axis=-1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h.reshape(*x.shape[:-1], self.out_blocks, self.dim)

    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of one example (masked weights counted)."""
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))
