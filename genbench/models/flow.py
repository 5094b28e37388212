"""What every normalizing flow shares: a stack of invertible layers over a N(0, I) base.

A flow maps data x to noise u = f(x) through layers with tractable Jacobians,
so log p(x) = log N(f(x); 0, I) + log |det df/dx| exactly, and samples are
f^{-1}(u) for u ~ N(0, I). A layer is any module with
``to_noise(x) -> (y, log_det [N])`` and ``to_data(y) -> x`` (its inverse);
``realnvp`` and ``maf`` differ only in their layers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.inference.gaussian import standard_normal_log_prob
from genbench.models.likelihoods import max_likelihood_loss
from genbench.models.nets import training_flops


def bounded_log_scale(raw: jax.Array, bound: float) -> jax.Array:
    """``bound * tanh(raw / bound)``: a log-scale near ``raw`` when small, never past
    ``±bound`` (an unbounded scale overflows in the first steps of training)."""
    return bound * jnp.tanh(raw / bound)


class Flow(nnx.Module):
    """A normalizing flow over ``[N, D]`` continuous inputs.

    Args:
      layers: the invertible layers, data side first (``to_noise`` runs them in order).
    """

    input_kind = "continuous"

    def __init__(self, layers: list[nnx.Module]):
        self.layers = nnx.List(layers)

    def to_noise(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(u, log |det du/dx|)`` of ``x [N, D]``: ``[N, D]`` and ``[N]``."""
        log_det = jnp.zeros(x.shape[0], x.dtype)
        for layer in self.layers:
            x, layer_log_det = layer.to_noise(x)
            log_det = log_det + layer_log_det
        return x, log_det

    def to_data(self, u: jax.Array) -> jax.Array:
        """The inverse of ``to_noise``: ``x [N, D]`` of ``u [N, D]``."""
        for layer in reversed(self.layers):
            u = layer.to_data(u)
        return u

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x) by the change of variables, ``[N]`` nats."""
        u, log_det = self.to_noise(x.reshape(x.shape[0], -1))
        return standard_normal_log_prob(u) + log_det

    def loss(self, batch: jax.Array, rng: jax.Array):
        """Negative mean log-likelihood of the batch (maximum likelihood)."""
        del rng
        return max_likelihood_loss(self.log_prob(batch))

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """``n`` draws ``f^{-1}(u)``, u ~ N(0, I): ``[n, D]``."""
        return self.to_data(jax.random.normal(rng, (n, self.dim)))

    @property
    def dim(self) -> int:
        return self.layers[0].dim

    def flops_per_example(self) -> int:
        """Analytic training FLOPs of one example: each layer's network once, forward and
        backward (the affine arithmetic is O(D) and not counted)."""
        return training_flops(sum(layer.net.macs() for layer in self.layers))
