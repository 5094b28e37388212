"""What every normalizing flow shares: a stack of invertible layers over a N(0, I) base.

A flow maps data x to noise u = f(x) through layers with tractable Jacobians,
so log p(x) = log p_base(f(x)) + log |det df/dx| exactly, and samples are
f^{-1}(u) for u ~ p_base. A layer is any module with
``to_noise(x) -> (y, log_det [N])`` and ``to_data(y) -> x`` (its inverse);
``realnvp`` and ``maf`` differ only in their layers.

The base is N(0, I), as in the papers, or a learned mixture of K diagonal
Gaussians (MAF's "MoG" variant, Papamakarios et al. 2017, section 3.4, put as
the base): an affine flow maps a connected density to a connected one, so
well-separated modes (ring8: std 0.01 at radius 1) leave thin bridges of mass
between them; a mixture base gives the modes their own components and the flow
shapes them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.inference.gaussian import diag_normal_log_prob, standard_normal_log_prob
from genbench.models.likelihoods import max_likelihood_loss
from genbench.models.nets import training_flops


def bounded_log_scale(raw: jax.Array, bound: float) -> jax.Array:
    """``bound * tanh(raw / bound)``: a log-scale near ``raw`` when small, never past
    ``±bound`` (an unbounded scale overflows in the first steps of training)."""
    return bound * jnp.tanh(raw / bound)


class StandardNormal(nnx.Module):
    """The N(0, I) base density of ``dim`` variables (no parameters)."""

    def __init__(self, dim: int):
        self.dim = dim

    def log_prob(self, u: jax.Array) -> jax.Array:
        """log N(u; 0, I), ``[N]``."""
        return standard_normal_log_prob(u)

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """``[n, D]`` draws."""
        return jax.random.normal(rng, (n, self.dim))


class GaussianMixture(nnx.Module):
    """A learned mixture of ``components`` diagonal Gaussians over ``dim`` variables.

    Means start at N(0, I) draws, standard deviations at 1 and weights equal.

    Args:
      dim: D.
      components: K.
      rngs: initialisation PRNGs.
    """

    def __init__(self, dim: int, components: int, *, rngs: nnx.Rngs):
        self.dim = dim
        self.logits = nnx.Param(jnp.zeros(components))
        self.means = nnx.Param(jax.random.normal(rngs.params(), (components, dim)))
        self.log_stds = nnx.Param(jnp.zeros((components, dim)))

    def log_prob(self, u: jax.Array) -> jax.Array:
        """log sum_k w_k N(u; m_k, diag s_k^2), ``[N]``."""
        per_component = diag_normal_log_prob(u[:, None, :], self.means[...], self.log_stds[...])
        log_weights = jax.nn.log_softmax(self.logits[...])
        return jax.nn.logsumexp(per_component + log_weights, axis=-1)

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """``[n, D]`` draws: a component by its weight, then its Gaussian."""
        k_component, k_noise = jax.random.split(rng)
        k = jax.random.categorical(k_component, self.logits[...], shape=(n,))
        noise = jax.random.normal(k_noise, (n, self.dim))
        return self.means[...][k] + jnp.exp(self.log_stds[...][k]) * noise


def base_density(dim: int, components: int, rngs: nnx.Rngs) -> nnx.Module:
    """N(0, I) for ``components`` 0, else a learned mixture of that many Gaussians."""
    return StandardNormal(dim) if components == 0 else GaussianMixture(dim, components, rngs=rngs)


class Flow(nnx.Module):
    """A normalizing flow over ``[N, D]`` continuous inputs.

    Args:
      layers: the invertible layers, data side first (``to_noise`` runs them in order).
      base: the base density (``StandardNormal`` or ``GaussianMixture``).
    """

    input_kind = "continuous"

    def __init__(self, layers: list[nnx.Module], base: nnx.Module):
        self.layers = nnx.List(layers)
        self.base = base

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
        return self.base.log_prob(u) + log_det

    def loss(self, batch: jax.Array, rng: jax.Array):
        """Negative mean log-likelihood of the batch (maximum likelihood)."""
        del rng
        return max_likelihood_loss(self.log_prob(batch))

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """``n`` draws ``f^{-1}(u)``, u ~ p_base: ``[n, D]``."""
        return self.to_data(self.base.sample(rng, n))

    def flops_per_example(self) -> int:
        """Analytic training FLOPs of one example: each layer's network once, forward and
        backward (the affine arithmetic and the base density are O(K D), not counted)."""
        return training_flops(sum(layer.net.macs() for layer in self.layers))
