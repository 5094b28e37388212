"""Hidden Markov model inference: forward, backward, smoother, Viterbi, sampling.

Baum-Welch (EM) steps built on these are in ``genbench.inference.hmm_em``.

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

import functools

import jax
import jax.numpy as jnp

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
        raise ValueError(f"log_likelihoods must be [..., T, K], got shape {log_likelihoods.shape}")


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


def _categorical_inputs(initial_probs, transition_matrix, emission_probs, observations, lengths):
    """Checks; a common float dtype; time-major obs ``[T, N]``; flat lengths or None."""
    initial_probs, transition_matrix, emission_probs, observations = _arrays(
        initial_probs, transition_matrix, emission_probs, observations
    )
    checks.check_probabilities("initial_probs", initial_probs)
    checks.check_probabilities("transition_matrix", transition_matrix)
    checks.check_probabilities("emission_probs", emission_probs)
    checks.check_symbols("observations", observations, emission_probs.shape[-1])
    checks.check_lengths("lengths", lengths, observations.shape[:-1], observations.shape[-1])
    dtype = jnp.result_type(initial_probs, transition_matrix, emission_probs, jnp.float32)
    params = tuple(a.astype(dtype) for a in (initial_probs, transition_matrix, emission_probs))
    obs_t = observations.reshape(-1, observations.shape[-1]).T  # [T, N]
    if lengths is not None:
        lengths = jnp.reshape(jnp.asarray(lengths, jnp.int32), (-1,))
    return params, obs_t, lengths


def _categorical_forward(initial_probs, transition_matrix, emission_probs, obs_t, keep: bool):
    """Scaled forward pass of categorical sequences, states first: messages are ``[K, N]``.

    Step t carries u_t = (alpha_{t-1} A) * B[:, x_t], the filtered distribution
    before its normalisation, whose sum is the normaliser c_t = p(x_t | x_{1:t-1}).
    One matrix product per step gives both A^T u_t and c_t (a row of ones is
    stacked under A^T), so the sum runs inside the product; the division by c_t
    is folded into the emission factor of the next step, which is gathered in
    the loop as B[:, x_{t+1}]. No logarithm is taken in the loop.

    Returns:
      ``(norms [T, N], unnormalised [T, K, N] or None)``: c_t, and u_t when
      ``keep`` (alpha_t = u_t / c_t).
    """
    num_states = initial_probs.shape[0]
    stacked = jnp.concatenate(
        [transition_matrix.T, jnp.ones((1, num_states), transition_matrix.dtype)], axis=0
    )  # [K + 1, K]

    def step(u, x_next):
        v = stacked @ u  # [K + 1, N]: (alpha A)^T * c, and c in the last row
        norm = v[num_states]
        u_next = v[:num_states] * (emission_probs[:, x_next] / norm)
        return u_next, ((u, norm) if keep else norm)

    first = initial_probs[:, None] * emission_probs[:, obs_t[0]]
    last, ys = jax.lax.scan(step, first, obs_t[1:])
    norms = ys[1] if keep else ys
    norms = jnp.concatenate([norms, jnp.sum(last, axis=0)[None]], axis=0)
    if not keep:
        return norms, None
    return norms, jnp.concatenate([ys[0], last[None]], axis=0)


def _valid_steps(num_steps: int, lengths):
    """``[T, N]`` mask t < length, or None for full-length sequences."""
    if lengths is None:
        return None
    return jnp.arange(num_steps)[:, None] < lengths[None, :]


def _sum_log_norms(norms, valid):
    logs = jnp.log(norms)
    if valid is not None:
        logs = jnp.where(valid, logs, 0.0)
    return jnp.sum(logs, axis=0)


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
      log-likelihoods is materialised: each step gathers B[:, x_t] for the
      whole batch, and the logs of the T normalisers are summed after the loop.
    """
    batch_shape = jnp.shape(observations)[:-1]
    params, obs_t, lengths = _categorical_inputs(
        initial_probs, transition_matrix, emission_probs, observations, lengths
    )
    norms, _ = _categorical_forward(*params, obs_t, keep=False)
    log_marginal = _sum_log_norms(norms, _valid_steps(obs_t.shape[0], lengths))
    return log_marginal.reshape(batch_shape)


def categorical_emission_log_likelihoods(emission_probs, observations):
    """log B[k, x_t] arranged as ``[..., T, K]`` for the generic functions."""
    return jnp.log(emission_probs.T)[observations]


def gaussian_emission_log_likelihoods(means, variances, observations):
    """log N(x_t; mu_k, diag(var_k)) as ``[..., T, K]``; observations ``[..., T, D]``."""
    diff = observations[..., None, :] - means  # [..., T, K, D]
    return -0.5 * jnp.sum(diff**2 / variances + jnp.log(2 * jnp.pi * variances), axis=-1)


@functools.partial(jax.jit, static_argnums=(3, 4))
@functools.partial(jax.jit, static_argnums=(3, 4))
def sample_states(rng, initial_probs, transition_matrix, num_steps: int, num_sequences: int):
    """Draws ``[num_sequences, num_steps]`` state paths of the Markov chain.

    Compiled once per shape: called eagerly, the scan compiled anew for every source built
    (2.3 s against 0.8 s for the casino's first draw), and draws the same bits either way.
    """
    k_first, k_rest = jax.random.split(rng)
    first = jax.random.categorical(k_first, jnp.log(initial_probs), shape=(num_sequences,))
    log_A = jnp.log(transition_matrix)

    def step(state, key):
        following = jax.random.categorical(key, log_A[state])
        return following, following

    _, rest = jax.lax.scan(step, first, jax.random.split(k_rest, num_steps - 1))
    return jnp.concatenate([first[None], rest], axis=0).T


@functools.partial(jax.jit, static_argnums=(4, 5))
def sample_categorical(
    rng, initial_probs, transition_matrix, emission_probs, num_steps: int, num_sequences: int
):
    """Draws ``(states, observations)``, each ``[num_sequences, num_steps]``."""
    k_states, k_obs = jax.random.split(rng)
    states = sample_states(k_states, initial_probs, transition_matrix, num_steps, num_sequences)
    observations = jax.random.categorical(k_obs, jnp.log(emission_probs)[states])
    return states, observations
