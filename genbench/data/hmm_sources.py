"""Categorical HMM sources: the dishonest casino and random HMMs, with exact log p."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genbench.data.base import Estimate, Source
from genbench.data.configs import CasinoConfig, RandomHMMConfig
from genbench.inference import hmm

CASINO = (
    np.array([0.5, 0.5]),
    np.array([[0.95, 0.05], [0.10, 0.90]]),
    np.array([[1 / 6] * 6, [0.1] * 5 + [0.5]]),
)


class CategoricalHMMSource(Source):
    """Sequences of a known categorical HMM; ``log_prob`` is the exact sequence log-likelihood.

    Args:
      name: registry name.
      params: (pi [K], A [K, K], B [K, M]).
      config: sizes of the fixed splits and their seed.
    """

    fresh = False

    def __init__(self, name: str, params, config: CasinoConfig):
        self.params = tuple(jnp.asarray(p, jnp.float32) for p in params)
        self.num_states, self.num_symbols = params[2].shape
        k_train, k_test = jax.random.split(jax.random.key(config.source_seed))
        _, train = self.sample_with_states(k_train, config.num_sequences, config.num_steps)
        _, test = self.sample_with_states(k_test, config.n_test, config.num_steps)
        super().__init__(
            name,
            np.asarray(train, np.int32),
            np.asarray(test, np.int32),
            "sequence",
            levels=self.num_symbols,
        )

    def sample_with_states(self, rng, n: int, num_steps: int):
        """``(states, observations)``, each ``[n, num_steps]``."""
        return hmm.sample_categorical(rng, *self.params, num_steps, n)

    def sample(self, rng, n: int, num_steps: int | None = None) -> jax.Array:
        return self.sample_with_states(rng, n, num_steps or self.train.shape[1])[1]

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x_{1:T}) of each sequence ``[n, T]``."""
        return hmm.categorical_log_likelihood(*self.params, x)

    def entropy(self, rng: jax.Array, n: int = 200, num_steps: int = 1000) -> Estimate:
        """Entropy rate (nats per step), by Monte Carlo: -E[log p(x_{1:T})] / T.

        The standard error is across independent sequences.
        """
        x = self.sample(rng, n, num_steps)
        per_step = np.asarray(jax.jit(self.log_prob)(x), np.float64) / num_steps
        return Estimate(float(-per_step.mean()), float(per_step.std(ddof=1) / np.sqrt(n)))


def casino(config: CasinoConfig) -> CategoricalHMMSource:
    """The occasionally dishonest casino: pi=[.5,.5], A=[[.95,.05],[.1,.9]], a loaded six."""
    return CategoricalHMMSource("casino", CASINO, config)


def random_hmm(config: RandomHMMConfig) -> CategoricalHMMSource:
    """A random K-state, M-symbol categorical HMM from ``config.source_seed``."""
    rng = np.random.default_rng(config.source_seed + 1000)
    K, M, c = config.num_states, config.num_symbols, config.concentration
    params = (
        rng.dirichlet(np.ones(K)),
        rng.dirichlet(np.full(K, c), K),
        rng.dirichlet(np.full(M, c), K),
    )
    return CategoricalHMMSource("hmm_random", params, config)
