"""Hidden Markov model inference: forward, backward, smoother, Viterbi, sampling, Baum-Welch.

Notation: K states, initial distribution pi [K], transition matrix A [K, K]
with A[i, j] = p(z_t = j | z_{t-1} = i), and per-step emission
log-likelihoods l_t(k) = log p(x_t | z_t = k), given as ``[..., T, K]`` with
any leading batch dimensions. ``lengths`` (one per sequence, <= T) makes a
ragged batch: steps t >= length are padding and do not count.

The forward recursion is scaled (Rabiner 1989): with alpha_t the filtered
distribution p(z_t | x_{1:t}),

    alpha_1 ∝ pi * exp(l_1),   alpha_t ∝ (alpha_{t-1} A) * exp(l_t),
    log p(x_{1:T}) = sum_t log c_t,   c_t the normaliser of step t,

and each step's emission factor is shifted by its maximum, so it is stable in
float32 at T = 10,000 and beyond. The whole batch advances as one matrix
product per time step. All functions are pure and jit-compatible; argument
checks that need concrete values live in ``genbench.inference.checks``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genbench.errors import UsageError
from genbench.inference import checks


def _arrays(*arrays):
    return tuple(jnp.asarray(a) for a in arrays)


def _check_model(initial_probs, transition_matrix, log_likelihoods, lengths):
    checks.check_probabilities("initial_probs", initial_probs)
    checks.check_probabilities("transition_matrix", transition_matrix)
    checks.check_lengths("lengths", lengths, log_likelihoods.shape[:-2], log_likelihoods.shape[-2])


def _flatten(log_likelihoods: jax.Array, lengths, initial_probs, transition_matrix):
    _check_model_shapes(log_likelihoods)
    _check_model(initial_probs, transition_matrix, log_likelihoods, lengths)
    batch_shape = log_likelihoods.shape[:-2]
    num_steps, num_states = log_likelihoods.shape[-2:]
    flat = log_likelihoods.reshape(-1, num_steps, num_states)
    if lengths is None:
        lengths = jnp.full(flat.shape[0], num_steps, jnp.int32)
    return batch_shape, flat, jnp.reshape(jnp.asarray(lengths, jnp.int32), (-1,))


def _check_model_shapes(log_likelihoods):
    if log_likelihoods.ndim < 2:
        raise UsageError(f"log_likelihoods must be [..., T, K], got shape {log_likelihoods.shape}")


def _scaled_forward(pi, A, lik, shift, lengths):
    """Forward pass on a flat batch: lik [B, T, K] = exp(l - shift), shift [B, T]."""
    num_steps = lik.shape[1]

    def step(carry, inputs):
        alpha_prev, log_norm = carry
        lik_t, shift_t, t = inputs
        predicted = jnp.where(t == 0, pi[None, :], alpha_prev @ A)
        unnormalised = predicted * lik_t
        norm = jnp.sum(unnormalised, axis=-1)
        alpha = unnormalised / norm[:, None]
        valid = t < lengths
        alpha = jnp.where(valid[:, None], alpha, alpha_prev)
        log_norm = log_norm + jnp.where(valid, jnp.log(norm) + shift_t, 0.0)
        return (alpha, log_norm), (
            jnp.where(valid[:, None], alpha, 0.0),
            jnp.where(valid, norm, 1.0),
        )

    init = (jnp.zeros_like(lik[:, 0]), jnp.zeros(lik.shape[0], lik.dtype))
    xs = (jnp.swapaxes(lik, 0, 1), jnp.swapaxes(shift, 0, 1), jnp.arange(num_steps))
    (_, log_marginal), (filtered, norms) = jax.lax.scan(step, init, xs)
    return log_marginal, jnp.swapaxes(filtered, 0, 1), jnp.swapaxes(norms, 0, 1)


def _shifted(log_likelihoods):
    shift = jnp.max(log_likelihoods, axis=-1)
    return jnp.exp(log_likelihoods - shift[..., None]), shift


def forward(initial_probs, transition_matrix, log_likelihoods, lengths=None):
    """Log marginal likelihood and filtered posteriors of a batch of sequences.

    Args:
      initial_probs: pi, ``[K]``.
      transition_matrix: A, ``[K, K]``, rows sum to one.
      log_likelihoods: log p(x_t | z_t = k), ``[..., T, K]``.
      lengths: optional ``[...]`` valid lengths (ragged batch).

    Returns:
      ``(log_marginal [...], filtered_probs [..., T, K])``; filtered
      probabilities are zero at padded steps.
    """
    initial_probs, transition_matrix, log_likelihoods = _arrays(
        initial_probs, transition_matrix, log_likelihoods
    )
    batch_shape, flat, lengths = _flatten(
        log_likelihoods, lengths, initial_probs, transition_matrix
    )
    lik, shift = _shifted(flat)
    log_marginal, filtered, _ = _scaled_forward(
        initial_probs, transition_matrix, lik, shift, lengths
    )
    return log_marginal.reshape(batch_shape), filtered.reshape(log_likelihoods.shape)


def _scaled_backward(A, lik, norms, lengths):
    """beta_t scaled by the forward normalisers, so that gamma_t = alpha_t * beta_t."""
    num_steps = lik.shape[1]

    def step(beta_next, inputs):
        lik_next, norm_next, t = inputs
        beta = ((lik_next * beta_next) @ A.T) / norm_next[:, None]
        beta = jnp.where((t + 1 < lengths)[:, None], beta, 1.0)
        return beta, beta

    init = jnp.ones_like(lik[:, 0])
    xs = (
        jnp.swapaxes(lik[:, 1:], 0, 1),
        jnp.swapaxes(norms[:, 1:], 0, 1),
        jnp.arange(num_steps - 1),
    )
    _, betas = jax.lax.scan(step, init, xs, reverse=True)
    betas = jnp.concatenate([jnp.swapaxes(betas, 0, 1), init[:, None]], axis=1)
    return betas


def backward(initial_probs, transition_matrix, log_likelihoods, lengths=None):
    """Scaled backward messages beta_t(k) ∝ p(x_{t+1:T} | z_t = k).

    They are scaled by the forward normalisers, so the smoothed marginals are
    filtered_probs * backward_probs. ``[..., T, K]``; ones at padded steps.
    """
    initial_probs, transition_matrix, log_likelihoods = _arrays(
        initial_probs, transition_matrix, log_likelihoods
    )
    batch_shape, flat, lengths = _flatten(
        log_likelihoods, lengths, initial_probs, transition_matrix
    )
    lik, shift = _shifted(flat)
    _, _, norms = _scaled_forward(initial_probs, transition_matrix, lik, shift, lengths)
    betas = _scaled_backward(transition_matrix, lik, norms, lengths)
    del batch_shape
    return betas.reshape(log_likelihoods.shape)


def smoother(initial_probs, transition_matrix, log_likelihoods, lengths=None):
    """Posterior marginals and expected transition counts (forward-backward).

    Returns:
      ``(log_marginal [...], smoothed_probs [..., T, K], expected_transitions [..., K, K])``
      with smoothed_probs[t] = p(z_t | x_{1:T}) (zero at padded steps) and
      expected_transitions[i, j] = sum_t p(z_t = i, z_{t+1} = j | x_{1:T}).
    """
    initial_probs, transition_matrix, log_likelihoods = _arrays(
        initial_probs, transition_matrix, log_likelihoods
    )
    batch_shape, flat, lengths = _flatten(
        log_likelihoods, lengths, initial_probs, transition_matrix
    )
    K = flat.shape[-1]
    lik, shift = _shifted(flat)
    log_marginal, filtered, norms = _scaled_forward(
        initial_probs, transition_matrix, lik, shift, lengths
    )
    betas = _scaled_backward(transition_matrix, lik, norms, lengths)
    smoothed = filtered * betas
    # xi_t(i, j) = alpha_t(i) A(i, j) lik_{t+1}(j) beta_{t+1}(j) / c_{t+1}, for t + 1 < length.
    weights = lik[:, 1:] * betas[:, 1:] / norms[:, 1:, None]
    valid = (jnp.arange(1, flat.shape[1])[None, :] < lengths[:, None])[..., None]
    pair = jnp.einsum("bti,btj->bij", filtered[:, :-1] * valid, weights) * transition_matrix
    return (
        log_marginal.reshape(batch_shape),
        smoothed.reshape(log_likelihoods.shape),
        pair.reshape(*batch_shape, K, K),
    )


def viterbi(initial_probs, transition_matrix, log_likelihoods, lengths=None):
    """Most probable state path arg max_z p(z_{1:T} | x_{1:T}), ``[..., T]`` (-1 at padding)."""
    initial_probs, transition_matrix, log_likelihoods = _arrays(
        initial_probs, transition_matrix, log_likelihoods
    )
    batch_shape, flat, lengths = _flatten(
        log_likelihoods, lengths, initial_probs, transition_matrix
    )
    num_steps, K = flat.shape[1:]
    log_A = jnp.log(transition_matrix)
    identity = jnp.broadcast_to(jnp.arange(K), (flat.shape[0], K))

    def step(score, inputs):
        ll_t, t = inputs
        candidates = score[:, :, None] + log_A[None]  # [B, from, to]
        pointer = jnp.argmax(candidates, axis=1)
        new = jnp.max(candidates, axis=1) + ll_t
        valid = (t < lengths)[:, None]
        return jnp.where(valid, new, score), jnp.where(valid, pointer, identity)

    first = jnp.log(initial_probs)[None] + flat[:, 0]
    xs = (jnp.swapaxes(flat[:, 1:], 0, 1), jnp.arange(1, num_steps))
    score, pointers = jax.lax.scan(step, first, xs)
    last = jnp.argmax(score, axis=-1)

    def trace(state, pointer_t):
        previous = jnp.take_along_axis(pointer_t, state[:, None], axis=1)[:, 0]
        return previous, state

    first_state, later = jax.lax.scan(trace, last, pointers, reverse=True)
    states = jnp.concatenate([first_state[None], later], axis=0).T
    states = jnp.where(jnp.arange(num_steps)[None] < lengths[:, None], states, -1)
    return states.reshape(*batch_shape, num_steps)


def categorical_log_likelihood(
    initial_probs, transition_matrix, emission_probs, observations, lengths=None
):
    """log p(x_{1:T}) of categorical sequences, the emission probabilities gathered in the loop.

    Args:
      initial_probs: ``[K]``.
      transition_matrix: ``[K, K]``.
      emission_probs: B, ``[K, M]`` with B[k, m] = p(x = m | z = k).
      observations: integer symbols ``[..., T]`` in [0, M).
      lengths: optional ``[...]`` valid lengths.

    Returns:
      ``[...]`` log marginal likelihoods. No ``[..., T, K]`` array of
      log-likelihoods is materialised: each step gathers B^T[x_t] for the batch.
    """
    initial_probs, transition_matrix, emission_probs, observations = _arrays(
        initial_probs, transition_matrix, emission_probs, observations
    )
    checks.check_probabilities("initial_probs", initial_probs)
    checks.check_probabilities("transition_matrix", transition_matrix)
    checks.check_probabilities("emission_probs", emission_probs)
    checks.check_symbols("observations", observations, emission_probs.shape[-1])
    checks.check_lengths("lengths", lengths, observations.shape[:-1], observations.shape[-1])
    batch_shape, num_steps = observations.shape[:-1], observations.shape[-1]
    obs = observations.reshape(-1, num_steps)
    lengths = (
        jnp.full(obs.shape[0], num_steps, jnp.int32)
        if lengths is None
        else jnp.reshape(jnp.asarray(lengths, jnp.int32), (-1,))
    )
    emission_t = emission_probs.T  # [M, K]

    def step(carry, inputs):
        alpha_prev, log_norm = carry
        x_t, t = inputs
        predicted = jnp.where(t == 0, initial_probs[None, :], alpha_prev @ transition_matrix)
        unnormalised = predicted * emission_t[x_t]
        norm = jnp.sum(unnormalised, axis=-1)
        valid = t < lengths
        alpha = jnp.where(valid[:, None], unnormalised / norm[:, None], alpha_prev)
        return (alpha, log_norm + jnp.where(valid, jnp.log(norm), 0.0)), None

    init = (
        jnp.zeros((obs.shape[0], initial_probs.shape[0]), emission_probs.dtype),
        jnp.zeros(obs.shape[0], emission_probs.dtype),
    )
    (_, log_marginal), _ = jax.lax.scan(step, init, (obs.T, jnp.arange(num_steps)))
    return log_marginal.reshape(batch_shape)


def categorical_emission_log_likelihoods(emission_probs, observations):
    """log B[k, x_t] arranged as ``[..., T, K]`` for the generic functions."""
    return jnp.log(emission_probs.T)[observations]


def gaussian_emission_log_likelihoods(means, variances, observations):
    """log N(x_t; mu_k, diag(var_k)) as ``[..., T, K]``; observations ``[..., T, D]``."""
    diff = observations[..., None, :] - means  # [..., T, K, D]
    return -0.5 * jnp.sum(diff**2 / variances + jnp.log(2 * jnp.pi * variances), axis=-1)


def sample_states(rng, initial_probs, transition_matrix, num_steps: int, num_sequences: int):
    """Draws ``[num_sequences, num_steps]`` state paths of the Markov chain."""
    k_first, k_rest = jax.random.split(rng)
    first = jax.random.categorical(k_first, jnp.log(initial_probs), shape=(num_sequences,))
    log_A = jnp.log(transition_matrix)

    def step(state, key):
        following = jax.random.categorical(key, log_A[state])
        return following, following

    _, rest = jax.lax.scan(step, first, jax.random.split(k_rest, num_steps - 1))
    return jnp.concatenate([first[None], rest], axis=0).T


def sample_categorical(
    rng, initial_probs, transition_matrix, emission_probs, num_steps: int, num_sequences: int
):
    """Draws ``(states, observations)``, each ``[num_sequences, num_steps]``."""
    k_states, k_obs = jax.random.split(rng)
    states = sample_states(k_states, initial_probs, transition_matrix, num_steps, num_sequences)
    observations = jax.random.categorical(k_obs, jnp.log(emission_probs)[states])
    return states, observations


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

    Returns:
      ``((pi, A, B), total_log_likelihood)``, the log-likelihood (summed over
      sequences) of the parameters *before* the update.
    """
    initial_probs, transition_matrix, emission_probs, observations = _arrays(
        initial_probs, transition_matrix, emission_probs, observations
    )
    num_symbols = emission_probs.shape[1]
    log_lik = categorical_emission_log_likelihoods(emission_probs, observations)
    log_marginal, gamma, xi = smoother(initial_probs, transition_matrix, log_lik, lengths)
    gamma = gamma.reshape(-1, *gamma.shape[-2:])
    obs = observations.reshape(-1, observations.shape[-1])
    first = jnp.sum(gamma[:, 0], axis=0) + pseudo_count
    transitions = jnp.sum(xi.reshape(-1, *xi.shape[-2:]), axis=0) + pseudo_count
    counts = jnp.einsum("btk,btm->km", gamma, jax.nn.one_hot(obs, num_symbols, dtype=gamma.dtype))
    counts = counts + pseudo_count
    new = (
        first / jnp.sum(first),
        transitions / jnp.sum(transitions, axis=1, keepdims=True),
        counts / jnp.sum(counts, axis=1, keepdims=True),
    )
    return new, jnp.sum(log_marginal)


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
    initial_probs, transition_matrix, means, variances, observations = _arrays(
        initial_probs, transition_matrix, means, variances, observations
    )
    log_lik = gaussian_emission_log_likelihoods(means, variances, observations)
    log_marginal, gamma, xi = smoother(initial_probs, transition_matrix, log_lik, lengths)
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
