"""The linear-Gaussian (probabilistic PCA) source: closed-form density and entropy."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from genbench.data.base import Estimate, Source, fixed_splits
from genbench.data.configs import LinearGaussianConfig
from genbench.inference.gaussian import mvn_log_prob


class LinearGaussianSource(Source):
    """x = W z + mu + eps, z ~ N(0, I_L), eps ~ N(0, sigma^2 I_D).

    The marginal is N(mu, C) with C = W W^T + sigma^2 I, so ``log_prob`` and
    the entropy 0.5 log det(2 pi e C) are exact.
    """

    def __init__(self, config: LinearGaussianConfig):
        rng = np.random.default_rng(config.source_seed)
        self.weight = rng.normal(size=(config.dim, config.latent_dim)).astype(np.float32)
        self.mean = rng.normal(size=config.dim).astype(np.float32)
        self.noise_std = float(config.noise_std)
        self.covariance = self.weight.astype(np.float64) @ self.weight.T.astype(
            np.float64
        ) + self.noise_std**2 * np.eye(config.dim)
        self.fresh = config.fresh
        train, test = fixed_splits(self, config.source_seed + 1, config.n_train, config.n_test)
        super().__init__("linear_gaussian", train, test, "continuous")

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        k_z, k_eps = jax.random.split(rng)
        z = jax.random.normal(k_z, (n, self.weight.shape[1]))
        eps = jax.random.normal(k_eps, (n, self.weight.shape[0]))
        return z @ jnp.asarray(self.weight).T + jnp.asarray(self.mean) + self.noise_std * eps

    def log_prob(self, x: jax.Array) -> jax.Array:
        cov = jnp.asarray(self.covariance, dtype=x.dtype)
        return mvn_log_prob(x, jnp.asarray(self.mean, dtype=x.dtype), cov)

    def entropy(self, rng: jax.Array | None = None, n: int = 0) -> Estimate:
        dim = self.covariance.shape[0]
        _, logdet = np.linalg.slogdet(self.covariance)
        return Estimate(float(0.5 * (dim * math.log(2 * math.pi * math.e) + logdet)))


def linear_gaussian(config: LinearGaussianConfig) -> LinearGaussianSource:
    """The PPCA source of ``config``."""
    return LinearGaussianSource(config)
