"""HMM sources with exact log p: the dishonest casino, random categorical HMMs and
Gaussian HMMs."""

from __future__ import annotations

import abc

import jax
import jax.numpy as jnp
import numpy as np

from genbench.data.base import Estimate, Source
from genbench.data.configs import CasinoConfig, GaussianHMMConfig, RandomHMMConfig
from genbench.inference import hmm
from genbench.stats import mean_and_se

CASINO = (
    np.array([0.5, 0.5]),
    np.array([[0.95, 0.05], [0.10, 0.90]]),
    np.array([[1 / 6] * 6, [0.1] * 5 + [0.5]]),
)


class HMMSource(Source):
    """Sequences of a known HMM; ``log_prob`` is the exact sequence log-likelihood.

    Subclasses give the emissions: ``emission_log_likelihoods`` and ``emit``.

    Args:
      name: registry name.
      params: (pi [K], A [K, K], *emission parameters).
      config: sizes of the fixed splits and their seed.
      levels: number of symbols (0 for real-valued observations).
    """

    fresh = False

    def __init__(self, name: str, params, config: CasinoConfig, levels: int = 0):
        self.params = tuple(jnp.asarray(p, jnp.float32) for p in params)
        self.num_states = self.params[0].shape[0]
        k_train, k_test = jax.random.split(jax.random.key(config.source_seed))
        _, train = self.sample_with_states(k_train, config.num_sequences, config.num_steps)
        _, test = self.sample_with_states(k_test, config.n_test, config.num_steps)
        dtype = np.int32 if levels else np.float32
        super().__init__(
            name, np.asarray(train, dtype), np.asarray(test, dtype), "sequence", levels=levels
        )

    @abc.abstractmethod
    def emission_log_likelihoods(self, x: jax.Array) -> jax.Array:
        """log p(x_t | z_t = k), ``[n, T, K]``."""

    @abc.abstractmethod
    def emit(self, rng: jax.Array, states: jax.Array) -> jax.Array:
        """Observations for the state paths ``states [n, T]``."""

    def sample_with_states(self, rng, n: int, num_steps: int):
        """``(states [n, T], observations [n, T, ...])``."""
        k_states, k_obs = jax.random.split(rng)
        states = hmm.sample_states(k_states, *self.params[:2], num_steps, n)
        return states, self.emit(k_obs, states)

    def sample(self, rng, n: int, num_steps: int | None = None) -> jax.Array:
        return self.sample_with_states(rng, n, num_steps or self.train.shape[1])[1]

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x_{1:T}) of each sequence."""
        return hmm.forward(*self.params[:2], self.emission_log_likelihoods(x))[0]

    def entropy(self, rng: jax.Array, n: int = 200, num_steps: int = 1000) -> Estimate:
        """Entropy rate (nats per step), by Monte Carlo: -E[log p(x_{1:T})] / T.

        The standard error is across independent sequences.
        """
        x = self.sample(rng, n, num_steps)
        per_step = np.asarray(jax.jit(self.log_prob)(x), np.float64) / num_steps
        return Estimate(*mean_and_se(-per_step))


class CategoricalHMMSource(HMMSource):
    """A categorical HMM: params (pi [K], A [K, K], B [K, M])."""

    def __init__(self, name: str, params, config: CasinoConfig):
        self.num_symbols = params[2].shape[1]
        super().__init__(name, params, config, levels=self.num_symbols)

    def emission_log_likelihoods(self, x):
        return hmm.categorical_emission_log_likelihoods(self.params[2], x)

    def emit(self, rng, states):
        return _categorical_emissions(rng, self.params[2], states)

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x_{1:T}) of each symbol sequence ``[n, T]``."""
        return hmm.categorical_log_likelihood(*self.params, x)


@jax.jit
def _categorical_emissions(rng, emission_probs, states):
    """A symbol per state of ``states``, compiled once per shape (eager, the draw compiled
    anew for every source built; the bits are the same)."""
    return jax.random.categorical(rng, jnp.log(emission_probs)[states])


class GaussianHMMSource(HMMSource):
    """An HMM with diagonal Gaussian emissions: params (pi, A, means [K, D], variances [K, D])."""

    def emission_log_likelihoods(self, x):
        return hmm.gaussian_emission_log_likelihoods(*self.params[2:], x)

    def emit(self, rng, states):
        means, variances = self.params[2:]
        noise = jax.random.normal(rng, (*states.shape, means.shape[1]))
        return means[states] + jnp.sqrt(variances[states]) * noise


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


def gaussian_hmm(config: GaussianHMMConfig) -> GaussianHMMSource:
    """A random sticky K-state HMM with D-dimensional diagonal Gaussian emissions.

    A = stickiness * I + (1 - stickiness) * Dirichlet(1) rows; means ~ N(0,
    separation^2 I); variances ~ U[0.5, 1.5] per coordinate.
    """
    rng = np.random.default_rng(config.source_seed + 2000)
    K, D, s = config.num_states, config.dim, config.stickiness
    params = (
        rng.dirichlet(np.ones(K)),
        s * np.eye(K) + (1 - s) * rng.dirichlet(np.ones(K), K),
        config.separation * rng.standard_normal((K, D)),
        rng.uniform(0.5, 1.5, (K, D)),
    )
    return GaussianHMMSource("hmm_gaussian", params, config)
