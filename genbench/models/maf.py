"""MAF (Papamakarios, Pavlakou and Murray 2017): masked autoregressive flow.

Each layer is an affine autoregressive transform whose shift and log-scale of
variable d come from a MADE reading variables < d:
u_d = (x_d - mu_d(x_<d)) * exp(-alpha_d(x_<d)). Density evaluation is one MADE
pass per layer (log-determinant -sum(alpha)); sampling inverts it one variable
at a time (D passes per layer). The variable order reverses between layers, and
each MADE's output layer starts at zero, so the flow starts as the identity.
A class-conditional MAF (``model.conditional``) gives each MADE the one-hot label
as inputs of degree 0, which every output reads.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.models.flow import ConditionalFlow, Flow, assemble, bounded_log_scale
from genbench.models.masked import MADE


class AutoregressiveAffine(nnx.Module):
    """One MAF layer over ``[N, D]``; ``reverse`` runs the autoregressive order D-1..0.

    Args:
      dim: D.
      hidden: widths of the MADE.
      activation: its nonlinearity.
      max_log_scale: bound of each log-scale (``bounded_log_scale``).
      reverse: whether this layer's order is reversed.
      classes: C one-hot label inputs of the MADE (degree 0; 0: none).
      rngs: initialisation PRNGs.
    """

    def __init__(self, dim, hidden, activation, max_log_scale, reverse, classes=0, *, rngs):
        self.dim, self.reverse, self.max_log_scale = dim, bool(reverse), max_log_scale
        self.net = MADE(dim, hidden, 2, activation, zero_init=True, context=classes, rngs=rngs)

    def _ordered(self, x: jax.Array) -> jax.Array:
        return x[..., ::-1] if self.reverse else x

    def _shift_log_scale(self, x: jax.Array, one_hot=None) -> tuple[jax.Array, jax.Array]:
        """(mu, alpha) of every variable from the ones before it (and the one-hot label, if
        given), in the data's order."""
        out = self.net(self._ordered(x), one_hot)
        shift, raw = self._ordered(out[..., 0, :]), self._ordered(out[..., 1, :])
        return shift, bounded_log_scale(raw, self.max_log_scale)

    def to_noise(self, x: jax.Array, one_hot=None) -> tuple[jax.Array, jax.Array]:
        """``(u, log |det du/dx|)`` with ``u = (x - mu) * exp(-alpha)``: one MADE pass."""
        shift, log_scale = self._shift_log_scale(x, one_hot)
        return (x - shift) * jnp.exp(-log_scale), -jnp.sum(log_scale, axis=-1)

    def to_data(self, u: jax.Array, one_hot=None) -> jax.Array:
        """The inverse, one variable per MADE pass: after pass k the first k variables
        (in this layer's order) are final, so D passes give x."""

        def step(_, x):
            shift, log_scale = self._shift_log_scale(x, one_hot)
            return u * jnp.exp(log_scale) + shift

        return jax.lax.fori_loop(0, self.dim, step, jnp.zeros_like(u))

    def macs(self) -> int:
        """Multiply-accumulates of one example: one pass of the network."""
        return self.net.macs()


class MAF(Flow):
    """A stack of ``AutoregressiveAffine`` layers over a N(0, I) base (see ``Flow``)."""


class ConditionalMAF(ConditionalFlow):
    """A class-conditional MAF: p(x | y) (see ``ConditionalFlow``)."""


def build(config, dataset, rngs: nnx.Rngs) -> MAF | ConditionalMAF:
    """The MAF of ``config.model`` (a ``MAFConfig``) for ``dataset``."""
    from genbench.errors import UsageError

    m, dim = config.model, dataset.event_size
    if dataset.kind == "sequence":
        raise UsageError(f"maf models vectors; {dataset.name!r} is a sequence dataset")

    def autoregressive_layers(classes: int) -> list[AutoregressiveAffine]:
        return [
            AutoregressiveAffine(
                dim, m.hidden, m.activation, m.max_log_scale, layer % 2 == 1, classes, rngs=rngs
            )
            for layer in range(m.layers)
        ]

    return assemble(config, dataset, "maf", autoregressive_layers, (MAF, ConditionalMAF), rngs)
