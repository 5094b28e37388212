"""RealNVP (Dinh, Sohl-Dickstein and Bengio 2017): affine coupling layers.

Each coupling keeps one half of the variables, ``x_b``, and maps the other half
elementwise, ``y = x * exp(s(x_b)) + t(x_b)``; its Jacobian is triangular with
log-determinant sum(s), and its inverse costs one more pass of the same
network. The kept half alternates between layers (even and odd indices: for
2-D data, x then y), so every variable is transformed. The scale-and-shift
networks start at zero, so the flow starts as the identity (a N(0, I) density).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genbench.models.flow import Flow, base_density, bounded_log_scale
from genbench.models.nets import MLP


class AffineCoupling(nnx.Module):
    """One coupling layer: the variables with ``kept`` set condition the others.

    Args:
      kept: ``[D]`` booleans (static) of the variables this layer leaves unchanged.
      hidden: widths of the scale-and-shift MLP.
      activation: its nonlinearity.
      max_log_scale: bound of each log-scale (``bounded_log_scale``).
      rngs: initialisation PRNGs.
    """

    def __init__(self, kept, hidden, activation, max_log_scale, *, rngs: nnx.Rngs):
        self.kept = tuple(bool(k) for k in kept)
        self.dim = len(self.kept)
        self.max_log_scale = max_log_scale
        self.net = MLP((self.dim, *hidden, 2 * self.dim), activation, rngs=rngs)
        last = self.net.layers[-1]
        last.kernel[...] = jnp.zeros_like(last.kernel[...])  # identity at initialisation

    def _scale_shift(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(kept mask, log-scale, shift): s and t of the transformed variables, read from
        the kept ones of ``x`` (zero on the kept ones)."""
        kept = jnp.asarray(np.array(self.kept), x.dtype)
        raw_scale, shift = jnp.split(self.net(x * kept), 2, axis=-1)
        log_scale = bounded_log_scale(raw_scale, self.max_log_scale) * (1 - kept)
        return kept, log_scale, shift * (1 - kept)

    def to_noise(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(y, log |det dy/dx|)``: ``y = x * exp(s) + t`` on the transformed variables."""
        _, log_scale, shift = self._scale_shift(x)
        return x * jnp.exp(log_scale) + shift, jnp.sum(log_scale, axis=-1)

    def to_data(self, y: jax.Array) -> jax.Array:
        """The inverse: ``x = (y - t) * exp(-s)``, s and t read from the kept variables."""
        _, log_scale, shift = self._scale_shift(y)
        return (y - shift) * jnp.exp(-log_scale)


class RealNVP(Flow):
    """A stack of ``AffineCoupling`` layers over a N(0, I) base (see ``Flow``)."""


def alternating_halves(dim: int, layers: int) -> list[np.ndarray]:
    """The kept variables of each layer: even indices, then odd, alternating."""
    parity = np.arange(dim) % 2
    return [parity == (layer % 2) for layer in range(layers)]


def build(config, dataset, rngs: nnx.Rngs) -> RealNVP:
    """The RealNVP flow of ``config.model`` (a ``RealNVPConfig``) for ``dataset``."""
    from genbench.errors import UsageError

    m, dim = config.model, dataset.event_size
    if dataset.kind == "sequence" or dim < 2:
        raise UsageError(
            f"realnvp models vectors of >= 2 variables; {dataset.name!r} is {dataset.kind} "
            f"with {dim}"
        )
    return RealNVP(
        [
            AffineCoupling(kept, m.hidden, m.activation, m.max_log_scale, rngs=rngs)
            for kept in alternating_halves(dim, m.layers)
        ],
        base_density(dim, m.base_components, rngs),
    )
