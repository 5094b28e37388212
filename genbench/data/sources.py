"""Gaussian-mixture sources with the parameters the mode-collapse literature uses."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from genbench.data.base import Source, fixed_splits
from genbench.data.configs import Grid25Config, Ring8Config

# Fixed seeds of the test (and non-fresh train) sets, so every run sees the same split.
_SPLIT_SEED = 1234


class GaussianMixtureSource(Source):
    """Equal-weight mixture of isotropic Gaussians ``N(means[m], std^2 I)``.

    Args:
      name: registry name.
      means: ``[M, D]`` component means.
      std: per-coordinate standard deviation of every component.
      n_train, n_test: sizes of the fixed splits.
      fresh: whether training draws fresh samples.
    """

    def __init__(
        self, name: str, means: np.ndarray, std: float, n_train: int, n_test: int, fresh: bool
    ):
        self.means = np.asarray(means, np.float32)
        self.std = float(std)
        self.fresh = fresh
        train, test = fixed_splits(self, _SPLIT_SEED, n_train, n_test)
        super().__init__(name, train, test, "continuous")

    @property
    def mode_means(self) -> np.ndarray:  # opts into the mode-collapse metrics
        return self.means

    @property
    def mode_std(self) -> float:
        return self.std

    @property
    def num_modes(self) -> int:
        return self.means.shape[0]

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        return _sample_mixture(rng, jnp.asarray(self.means), jnp.float32(self.std), n)

    def log_prob(self, x: jax.Array) -> jax.Array:
        dim = self.means.shape[1]
        sq = jnp.sum((x[:, None, :] - jnp.asarray(self.means)[None]) ** 2, axis=-1)
        log_norm = -0.5 * dim * math.log(2 * math.pi * self.std**2) - math.log(self.num_modes)
        return jax.nn.logsumexp(-0.5 * sq / self.std**2, axis=-1) + log_norm


@functools.partial(jax.jit, static_argnums=3)
def _sample_mixture(rng: jax.Array, means: jax.Array, std: jax.Array, n: int) -> jax.Array:
    """``n`` draws of the equal-weight mixture of ``N(means[m], std^2 I)`` (one compiled call:
    eagerly, each random op compiles on its own, which costs seconds in a fresh process)."""
    k_mode, k_noise = jax.random.split(rng)
    modes = jax.random.randint(k_mode, (n,), 0, means.shape[0])
    return means[modes] + std * jax.random.normal(k_noise, (n, means.shape[1]))


def ring8(config: Ring8Config) -> GaussianMixtureSource:
    """Eight Gaussians on a circle of radius ``config.radius`` (PacGAN)."""
    angles = 2 * np.pi * np.arange(8) / 8
    means = config.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixtureSource(
        "ring8", means, config.std, config.n_train, config.n_test, config.fresh
    )


def grid25(config: Grid25Config) -> GaussianMixtureSource:
    """Twenty-five Gaussians on a 5x5 grid centred at the origin (VEEGAN, PacGAN)."""
    axis = config.spacing * (np.arange(5) - 2)
    means = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    return GaussianMixtureSource(
        "grid25", means, config.std, config.n_train, config.n_test, config.fresh
    )
