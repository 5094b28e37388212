"""Categorical HMM peers: dynamax (JAX) and hmmlearn (C++ loops), each at its fastest usage.

Every function takes the parameters pi ``[K]``, A ``[K, K]``, B ``[K, M]``
(numpy) and integer observations ``[N, T]``, and returns a zero-argument
callable that runs the whole computation once and waits for its result, so
that the benchmark can time the sides alike. Importing this module imports
neither peer; the functions import them when called.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from genbench.inference import hmm


def em_problem(num_sequences: int, num_steps: int, num_states: int, num_symbols: int):
    """(pi, A, B) to score and update, float32 numpy, and observations ``[N, T]`` int32.

    The observations come from a different, sticky HMM, so that an EM step
    changes the parameters. Fixed numpy and jax seeds.
    """
    rng = np.random.default_rng(0)

    def random_params(stickiness):
        pi = rng.dirichlet(np.ones(num_states))
        A = stickiness * np.eye(num_states) + (1 - stickiness) * rng.dirichlet(
            np.ones(num_states), num_states
        )
        B = rng.dirichlet(np.full(num_symbols, 0.5), num_states)
        return tuple(np.asarray(a, np.float32) for a in (pi, A, B))

    true = random_params(0.8)
    _, obs = hmm.sample_categorical(
        jax.random.key(0), *map(jnp.asarray, true), num_steps, num_sequences
    )
    return random_params(0.3), np.asarray(obs, np.int32)


def import_quietly(name: str):
    """Imports a peer module; dynamax's tensorflow_probability warns about jax deprecations."""
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(name)


def dynamax_log_likelihood(pi, A, B, observations):
    """dynamax's ``hmm_filter``, vmapped over sequences, in one jitted call.

    The emission log-likelihoods log B[:, x_t] are gathered inside the jit
    (integer observations in, per-sequence log-likelihoods out). This is the
    fastest way dynamax offers: ``CategoricalHMM.marginal_log_prob`` runs the
    same filter after building a tfp distribution per state.
    """
    hmm_filter = import_quietly("dynamax.hidden_markov_model.inference").hmm_filter

    @jax.jit
    def run(pi, A, B, obs):
        log_b = jnp.log(B).T  # [M, K]
        return jax.vmap(lambda x: hmm_filter(pi, A, log_b[x]).marginal_loglik)(obs)

    args = tuple(jnp.asarray(a, jnp.float32) for a in (pi, A, B)) + (jnp.asarray(observations),)
    return lambda: run(*args).block_until_ready()


def dynamax_em(pi, A, B, observations):
    """One EM iteration of dynamax's ``CategoricalHMM``: its E-step vmapped, its M-step, jitted.

    This is the body of ``CategoricalHMM.fit_em``'s loop. The Dirichlet prior
    concentrations are 1, so the M-step is maximum likelihood like genbench's
    (pseudo-count 0) and hmmlearn's. Returns ``(callable, step)`` where
    ``step()`` gives ``((pi, A, B), total log-likelihood)`` for the check.
    """
    CategoricalHMM = import_quietly("dynamax.hidden_markov_model").CategoricalHMM

    K, M = np.shape(B)
    model = CategoricalHMM(
        K,
        1,
        M,
        initial_probs_concentration=1.0,
        transition_matrix_concentration=1.0,
        emission_prior_concentration=1.0,
    )
    f32 = [jnp.asarray(a, jnp.float32) for a in (pi, A, B)]
    params, props = model.initialize(
        initial_probs=f32[0], transition_matrix=f32[1], emission_probs=f32[2][:, None, :]
    )
    emissions = jnp.asarray(observations)[:, :, None]  # [N, T, emission_dim = 1]

    @jax.jit
    def em_step(params, emissions):
        stats, log_liks = jax.vmap(lambda e: model.e_step(params, e))(emissions)
        m_state = model.initialize_m_step_state(params, props)
        new, _ = model.m_step(params, props, stats, m_state)
        return new, jnp.sum(log_liks)

    def step():
        new, total = em_step(params, emissions)
        return (
            new.initial.probs,
            new.transitions.transition_matrix,
            new.emissions.probs[:, 0],
        ), total

    return lambda: jax.block_until_ready(em_step(params, emissions)), step


def hmmlearn_model(pi, A, B, implementation: str, **kwargs):
    """hmmlearn's ``CategoricalHMM`` with the given parameters (float64)."""
    from hmmlearn.hmm import CategoricalHMM

    K, M = np.shape(B)
    model = CategoricalHMM(n_components=K, n_features=M, implementation=implementation, **kwargs)
    model.startprob_, model.transmat_, model.emissionprob_ = (
        np.asarray(a, np.float64) for a in (pi, A, B)
    )
    return model


def hmmlearn_log_likelihood(pi, A, B, observations, implementation: str = "log"):
    """``CategoricalHMM.score`` on all sequences at once (``lengths``): the summed log-likelihood.

    One call is hmmlearn's fastest way to score many sequences; it returns the
    total only (its per-sequence loop, one ``score`` per sequence, is slower).
    """
    model = hmmlearn_model(pi, A, B, implementation)
    X = np.asarray(observations).reshape(-1, 1)
    lengths = [np.shape(observations)[1]] * np.shape(observations)[0]
    return lambda: model.score(X, lengths)


def hmmlearn_per_sequence(pi, A, B, observations, implementation: str = "log"):
    """Per-sequence log-likelihoods from hmmlearn (for the agreement check)."""
    model = hmmlearn_model(pi, A, B, implementation)
    return np.array([model.score(np.asarray(x)[:, None]) for x in observations])


def hmmlearn_em(pi, A, B, observations, implementation: str = "log"):
    """One Baum-Welch iteration: ``fit`` with ``n_iter=1``, ``init_params=''``, the params set.

    Returns a callable that builds the model and fits it, and returns it.
    """
    X = np.asarray(observations).reshape(-1, 1)
    lengths = [np.shape(observations)[1]] * np.shape(observations)[0]

    def run():
        model = hmmlearn_model(pi, A, B, implementation, n_iter=1, init_params="", params="ste")
        return model.fit(X, lengths)

    return run
