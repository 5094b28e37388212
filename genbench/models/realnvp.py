"""RealNVP (Dinh, Sohl-Dickstein and Bengio 2017): affine coupling layers.

Each coupling keeps one half of the variables, ``x_b``, and maps the other half
elementwise, ``y = x * exp(s(x_b)) + t(x_b)``; its Jacobian is triangular with
log-determinant sum(s), and its inverse costs one more pass of the same
network. The kept half alternates between layers (even and odd indices: for
2-D data, x then y), so every variable is transformed. The scale-and-shift
networks start at zero, so the flow starts as the identity (a N(0, I) density).
A class-conditional RealNVP (``model.conditional``) appends the one-hot label to
each network's input.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genbench.models.conditional import with_label
from genbench.models.flow import ConditionalFlow, Flow, assemble, bounded_log_scale
from genbench.models.nets import MLP


class AffineCoupling(nnx.Module):
    """One coupling layer: the variables with ``kept`` set condition the others.

    Args:
      kept: ``[D]`` booleans (static) of the variables this layer leaves unchanged.
      hidden: widths of the scale-and-shift MLP.
      activation: its nonlinearity.
      max_log_scale: bound of each log-scale (``bounded_log_scale``).
      classes: C one-hot label inputs of the network besides the D variables (0: none).
      rngs: initialisation PRNGs.
    """

    def __init__(self, kept, hidden, activation, max_log_scale, classes=0, *, rngs: nnx.Rngs):
        self.kept = tuple(bool(k) for k in kept)
        self.dim = len(self.kept)
        self.max_log_scale = max_log_scale
        self.net = MLP((self.dim + classes, *hidden, 2 * self.dim), activation, rngs=rngs)
        last = self.net.layers[-1]
        last.kernel[...] = jnp.zeros_like(last.kernel[...])  # identity at initialisation

    def _scale_shift(self, x: jax.Array, one_hot=None) -> tuple[jax.Array, jax.Array]:
        """(log-scale, shift): s and t of the transformed variables, read from the kept
        ones of ``x`` (and the one-hot label, if given); zero on the kept ones."""
        kept = jnp.asarray(np.array(self.kept), x.dtype)
        raw_scale, shift = jnp.split(self.net(with_label(x * kept, one_hot)), 2, axis=-1)
        log_scale = bounded_log_scale(raw_scale, self.max_log_scale) * (1 - kept)
        return log_scale, shift * (1 - kept)

    def to_noise(self, x: jax.Array, one_hot=None) -> tuple[jax.Array, jax.Array]:
        """``(y, log |det dy/dx|)``: ``y = x * exp(s) + t`` on the transformed variables."""
        log_scale, shift = self._scale_shift(x, one_hot)
        return x * jnp.exp(log_scale) + shift, jnp.sum(log_scale, axis=-1)

    def to_data(self, y: jax.Array, one_hot=None) -> jax.Array:
        """The inverse: ``x = (y - t) * exp(-s)``, s and t read from the kept variables."""
        log_scale, shift = self._scale_shift(y, one_hot)
        return (y - shift) * jnp.exp(-log_scale)

    def macs(self) -> int:
        """Multiply-accumulates of one example: one pass of the network."""
        return self.net.macs()


class RealNVP(Flow):
    """A stack of ``AffineCoupling`` layers over a N(0, I) base (see ``Flow``)."""


class ConditionalRealNVP(ConditionalFlow):
    """A class-conditional RealNVP: p(x | y) (see ``ConditionalFlow``)."""


def alternating_halves(dim: int, layers: int) -> list[np.ndarray]:
    """The kept variables of each layer: even indices, then odd, alternating."""
    parity = np.arange(dim) % 2
    return [parity == (layer % 2) for layer in range(layers)]


def build(config, dataset, rngs: nnx.Rngs) -> RealNVP | ConditionalRealNVP:
    """The RealNVP flow of ``config.model`` (a ``RealNVPConfig``) for ``dataset``."""
    from genbench.errors import UsageError

    dim = dataset.event_size
    if dataset.kind == "sequence" or dim < 2:
        raise UsageError(
            f"realnvp models vectors of >= 2 variables; {dataset.name!r} is {dataset.kind} "
            f"with {dim}"
        )
    m = config.model

    def couplings(classes: int) -> list[AffineCoupling]:
        return [
            AffineCoupling(kept, m.hidden, m.activation, m.max_log_scale, classes, rngs=rngs)
            for kept in alternating_halves(dim, m.layers)
        ]

    return assemble(config, dataset, "realnvp", couplings, (RealNVP, ConditionalRealNVP), rngs)
