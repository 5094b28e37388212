"""Baum-Welch: one EM iteration of an HMM over a batch of sequences (categorical or
diagonal-Gaussian emissions), on the forward-backward recursions of
``genbench.inference.hmm``. Pure and jit-compatible; each step returns the new
parameters and the total log-likelihood under the parameters before the update.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genbench.inference import hmm


def categorical_baum_welch_step(
    initial_probs,
    transition_matrix,
    emission_probs,
    observations,
    lengths=None,
    pseudo_count: float = 0.0,
):
    """One EM iteration for a categorical HMM over a batch of sequences.

    E-step: the smoother's posteriors. M-step: pi ∝ sum_n gamma_1 + c,
    A ∝ sum xi + c, B[k, m] ∝ sum_t gamma_t(k) [x_t = m] + c, with the
    pseudo-count c (0 gives maximum likelihood).

    The forward pass is ``categorical_log_likelihood``'s, keeping its messages.
    The backward pass accumulates the expected counts as it goes: with
    w_{t+1} = B[:, x_{t+1}] * beta_{t+1} / c_{t+1} (states first, ``[K, N]``),
    beta_t = A w_{t+1}, sum_t xi_t = A * sum_t alpha_t w_{t+1}^T (one
    ``[K, N] @ [N, K]`` product per step) and gamma_t = alpha_t * beta_t; the
    emission counts are one segment sum of the gammas by symbol.

    Returns:
      ``((pi, A, B), total_log_likelihood)``, the log-likelihood (summed over
      sequences) of the parameters *before* the update.
    """
    (pi, A, B), obs_t, lengths = hmm._categorical_inputs(
        initial_probs, transition_matrix, emission_probs, observations, lengths
    )
    num_steps, num_sequences = obs_t.shape
    num_states, num_symbols = B.shape
    norms, unnormalised = hmm._categorical_forward(pi, A, B, obs_t, keep=True)
    valid = hmm._valid_steps(num_steps, lengths)
    total = jnp.sum(hmm._sum_log_norms(norms, valid))

    def alpha_at(u, norm, t):
        alpha = u / norm
        return alpha if lengths is None else jnp.where(t < lengths, alpha, 0.0)

    def step(carry, inputs):
        beta_next, xi = carry
        x_next, norm_next, u, norm, t = inputs
        w = B[:, x_next] * (beta_next / norm_next)  # [K, N]
        beta = A @ w
        if lengths is not None:
            pair = t + 1 < lengths
            w = jnp.where(pair, w, 0.0)
            beta = jnp.where(pair, beta, 1.0)
        alpha = alpha_at(u, norm, t)
        xi = xi + alpha @ w.T
        return (beta, xi), alpha * beta

    init = (
        jnp.ones((num_states, num_sequences), A.dtype),
        jnp.zeros((num_states, num_states), A.dtype),
    )
    inputs = (obs_t[1:], norms[1:], unnormalised[:-1], norms[:-1], jnp.arange(num_steps - 1))
    (_, xi), gammas = jax.lax.scan(step, init, inputs, reverse=True)
    last = alpha_at(unnormalised[-1], norms[-1], num_steps - 1)
    gammas = jnp.concatenate([gammas, last[None]], axis=0)  # [T, K, N]
    rows = jnp.swapaxes(gammas, 1, 2).reshape(-1, num_states)  # [T * N, K]
    counts = jax.ops.segment_sum(rows, obs_t.reshape(-1), num_segments=num_symbols).T
    first = jnp.sum(gammas[0], axis=1) + pseudo_count
    transitions = xi * A + pseudo_count
    counts = counts + pseudo_count
    new = (
        first / jnp.sum(first),
        transitions / jnp.sum(transitions, axis=1, keepdims=True),
        counts / jnp.sum(counts, axis=1, keepdims=True),
    )
    return new, total


def gaussian_baum_welch_step(
    initial_probs,
    transition_matrix,
    means,
    variances,
    observations,
    lengths=None,
    min_variance: float = 1e-6,
):
    """One EM iteration for an HMM with diagonal Gaussian emissions.

    Returns:
      ``((pi, A, means, variances), total_log_likelihood_before_update)``.
    """
    initial_probs, transition_matrix, means, variances, observations = hmm._arrays(
        initial_probs, transition_matrix, means, variances, observations
    )
    log_lik = hmm.gaussian_emission_log_likelihoods(means, variances, observations)
    log_marginal, gamma, xi = hmm.smoother(initial_probs, transition_matrix, log_lik, lengths)
    gamma = gamma.reshape(-1, *gamma.shape[-2:])
    x = observations.reshape(-1, *observations.shape[-2:])
    first = jnp.sum(gamma[:, 0], axis=0)
    transitions = jnp.sum(xi.reshape(-1, *xi.shape[-2:]), axis=0)
    weight = jnp.sum(gamma, axis=(0, 1))[:, None]  # [K, 1]
    new_means = jnp.einsum("btk,btd->kd", gamma, x) / weight
    second = jnp.einsum("btk,btd->kd", gamma, x**2) / weight
    new_variances = jnp.maximum(second - new_means**2, min_variance)
    new = (
        first / jnp.sum(first),
        transitions / jnp.sum(transitions, axis=1, keepdims=True),
        new_means,
        new_variances,
    )
    return new, jnp.sum(log_marginal)
