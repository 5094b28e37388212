"""HMM inference against brute force: every state path enumerated at tiny sizes."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from genbench.inference import hmm, hmm_em


def random_hmm(seed, K, M=4):
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.ones(K))
    A = rng.dirichlet(np.ones(K), size=K)
    B = rng.dirichlet(np.ones(M), size=K)
    return pi, A, B


def brute_force(pi, A, ll):
    """log p(x), posterior marginals and the arg-max path by enumerating all K^T paths."""
    T, K = ll.shape
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    log_joint = np.log(pi[paths[:, 0]]) + ll[0, paths[:, 0]]
    for t in range(1, T):
        log_joint += np.log(A[paths[:, t - 1], paths[:, t]]) + ll[t, paths[:, t]]
    log_marginal = logsumexp(log_joint)
    post = np.exp(log_joint - log_marginal)
    marginals = np.stack([np.bincount(paths[:, t], post, K) for t in range(T)])
    pairs = np.zeros((K, K))
    for t in range(T - 1):
        np.add.at(pairs, (paths[:, t], paths[:, t + 1]), post)
    return log_marginal, marginals, pairs, paths[np.argmax(log_joint)]


def emissions(kind, seed, T, K):
    rng = np.random.default_rng(seed + 100)
    if kind == "categorical":
        _, _, B = random_hmm(seed, K)
        obs = rng.integers(0, B.shape[1], T)
        return np.log(B.T[obs])
    means, variances = rng.normal(size=(K, 2)), rng.uniform(0.5, 2, (K, 2))
    x = rng.normal(size=(T, 2))
    return np.asarray(hmm.gaussian_emission_log_likelihoods(means, variances, x))


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
@pytest.mark.parametrize(("T", "K"), [(1, 2), (3, 2), (5, 3), (4, 3)])
def test_forward_smoother_viterbi_match_brute_force(kind, T, K):
    pi, A, _ = random_hmm(T * 10 + K, K)
    ll = emissions(kind, T * 10 + K, T, K)
    expected, marginals, pairs, best = brute_force(pi, A, ll)
    args = (jnp.asarray(pi, jnp.float32), jnp.asarray(A, jnp.float32))
    ll32 = jnp.asarray(ll, jnp.float32)
    log_marginal, _ = jax.jit(hmm.forward)(*args, ll32)
    np.testing.assert_allclose(log_marginal, expected, rtol=1e-5, atol=1e-5)
    log_m2, smoothed, expected_pairs = jax.jit(hmm.smoother)(*args, ll32)
    np.testing.assert_allclose(log_m2, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(smoothed, marginals, atol=1e-5)
    np.testing.assert_allclose(np.sum(smoothed, -1), 1.0, atol=1e-5)
    np.testing.assert_allclose(expected_pairs, pairs, atol=1e-5)
    np.testing.assert_array_equal(jax.jit(hmm.viterbi)(*args, ll32), best)


def test_batched_and_ragged_sequences_equal_their_truncations():
    K, T = 3, 6
    pi, A, B = random_hmm(0, K)
    rng = np.random.default_rng(1)
    obs = rng.integers(0, B.shape[1], (2, 3, T))
    lengths = np.array([[6, 1, 4], [2, 5, 3]])
    ll = np.log(B.T[obs])
    log_m, filtered = hmm.forward(pi, A, ll, lengths)
    _, smoothed, _ = hmm.smoother(pi, A, ll, lengths)
    paths = hmm.viterbi(pi, A, ll, lengths)
    fast = hmm.categorical_log_likelihood(pi, A, B, obs, lengths)
    assert log_m.shape == (2, 3) and filtered.shape == (2, 3, T, K)
    for i, j in itertools.product(range(2), range(3)):
        n = lengths[i, j]
        truth, marginals, _, best = brute_force(pi, A, ll[i, j, :n])
        np.testing.assert_allclose(log_m[i, j], truth, rtol=1e-5)
        np.testing.assert_allclose(fast[i, j], truth, rtol=1e-5)
        np.testing.assert_allclose(smoothed[i, j, :n], marginals, atol=1e-5)
        assert np.all(np.asarray(smoothed[i, j, n:]) == 0)
        np.testing.assert_array_equal(paths[i, j, :n], best)
        assert np.all(np.asarray(paths[i, j, n:]) == -1)


def _log_space_forward(pi, A, ll):
    """Reference in float64 log space."""
    log_alpha = np.log(pi) + ll[0]
    log_A = np.log(A)
    for t in range(1, len(ll)):
        log_alpha = logsumexp(log_alpha[:, None] + log_A, axis=0) + ll[t]
    return logsumexp(log_alpha)


def test_stable_at_ten_thousand_steps_in_float32():
    pi, A, B = random_hmm(3, 3, 5)
    obs = np.random.default_rng(4).integers(0, 5, 10_000)
    ll = np.log(B.T[obs])
    expected = _log_space_forward(pi, A, ll)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    got, filtered = jax.jit(hmm.forward)(f32(pi), f32(A), f32(ll))
    fast = jax.jit(hmm.categorical_log_likelihood)(f32(pi), f32(A), f32(B), obs)
    assert np.isfinite(float(got)) and np.all(np.isfinite(filtered))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(fast, expected, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_never_lowers_the_likelihood(seed):
    K, M = 3, 5
    true = random_hmm(seed + 50, K, M)
    _, obs = hmm.sample_categorical(jax.random.key(seed), *map(jnp.asarray, true), 100, 8)
    params = tuple(jnp.asarray(p, jnp.float32) for p in random_hmm(seed, K, M))
    step = jax.jit(hmm_em.categorical_baum_welch_step)
    history = []
    for _ in range(30):
        params, log_lik = step(*params, obs)
        history.append(float(log_lik))
    # float32 round-off only: 1e-6 of the log-likelihood's size
    assert np.all(np.diff(history) >= -1e-6 * abs(history[0])), history
    assert history[-1] > history[0]


def test_gaussian_em_never_lowers_the_likelihood():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 0.5, (4, 50, 1)), rng.normal(2, 0.5, (4, 50, 1))], 1)
    pi, A = jnp.full(2, 0.5), jnp.full((2, 2), 0.5)
    means, variances = jnp.array([[-0.5], [0.5]]), jnp.ones((2, 1))
    params, history = (pi, A, means, variances), []
    step = jax.jit(hmm_em.gaussian_baum_welch_step)
    for _ in range(30):
        params, log_lik = step(*params, jnp.asarray(x, jnp.float32))
        history.append(float(log_lik))
    assert np.all(np.diff(history) >= -1e-4), history
    np.testing.assert_allclose(np.sort(np.asarray(params[2])[:, 0]), [-2, 2], atol=0.2)


def test_samples_follow_the_chain():
    pi, A, B = (jnp.asarray(p, jnp.float32) for p in random_hmm(7, 2, 3))
    states, obs = hmm.sample_categorical(jax.random.key(0), pi, A, B, 200, 500)
    states = np.asarray(states)
    counts = np.zeros((2, 2))
    np.add.at(counts, (states[:, :-1], states[:, 1:]), 1)
    np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), A, atol=0.02)
    assert obs.shape == (500, 200) and int(obs.max()) < 3


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda a: {**a, "observations": a["observations"] + 4}, "observations holds symbols"),
        (lambda a: {**a, "observations": a["observations"] * 1.0}, "must be integer symbols"),
        (lambda a: {**a, "lengths": np.array([4, 9])}, "lengths must lie in [1, 8]"),
        (lambda a: {**a, "lengths": np.array([4])}, "lengths has shape"),
        (lambda a: {**a, "initial_probs": np.zeros(0)}, "K >= 1"),
        (lambda a: {**a, "transition_matrix": a["transition_matrix"] * 2}, "transition_matrix"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(change, fragment):
    pi, A, B = random_hmm(0, 3, 4)
    args = {
        "initial_probs": pi,
        "transition_matrix": A,
        "emission_probs": B,
        "observations": np.random.default_rng(0).integers(0, 4, (2, 8)),
        "lengths": None,
    }
    with pytest.raises(ValueError, match=None) as info:
        hmm.categorical_log_likelihood(**change(args))
    assert fragment in str(info.value)
    with pytest.raises(ValueError, match="lengths"):
        hmm.forward(pi, A, np.zeros((2, 8, 3)), np.array([0, 3]))


def test_checks_are_skipped_under_the_callers_jit():
    pi, A, B = random_hmm(0, 2, 3)
    obs = np.random.default_rng(0).integers(0, 3, (4, 5))
    value = jax.jit(hmm.categorical_log_likelihood)(pi, A, B, obs)
    assert value.shape == (4,)
