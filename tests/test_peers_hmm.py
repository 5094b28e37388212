"""Categorical HMM: genbench's log-likelihoods and Baum-Welch step equal hmmlearn's and dynamax's.

``benchmarks/test_hmm.py`` times these same peer calls (``benchmarks/peers/hmm_peers.py``)
against genbench at N = 512, T = 256; here they run at a small size and must give
the same per-sequence log-likelihoods (1e-4 relative) and the same updated
parameters (1e-5). hmmlearn and dynamax come from the ``peers`` extra.
"""

import jax
import numpy as np
import pytest
from peer_support import import_peer

from benchmarks.peers import hmm_peers
from genbench.inference import hmm, hmm_em

N, T, K, M = 12, 40, 4, 6


@pytest.fixture(scope="module")
def problem():
    """(pi, A, B) float32 to score and update, and observations ``[N, T]`` int32 drawn from a
    different, sticky HMM, so that the Baum-Welch step moves the parameters."""
    return hmm_peers.em_problem(N, T, K, M)


@pytest.fixture(scope="module")
def genbench_sides(problem):
    """genbench's per-sequence log-likelihoods, and its Baum-Welch step's (pi, A, B) and total."""
    params, obs = problem
    log_likelihoods = np.asarray(jax.jit(hmm.categorical_log_likelihood)(*params, obs))
    new, total = jax.jit(hmm_em.categorical_baum_welch_step)(*params, obs)
    np.testing.assert_allclose(float(total), log_likelihoods.sum(), rtol=1e-5)
    moved = max(float(np.abs(np.asarray(a) - b).max()) for a, b in zip(new, params, strict=True))
    assert moved > 1e-2  # the step changes the parameters, so equal updates mean something
    return log_likelihoods, tuple(np.asarray(a) for a in new)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_categorical_log_likelihood_matches_hmmlearn_score(seed):
    hmmlearn_hmm = import_peer("hmmlearn.hmm")
    rng = np.random.default_rng(seed)
    K, M, T = 4, 6, 300
    pi, A, B = (
        rng.dirichlet(np.ones(K)),
        rng.dirichlet(np.ones(K), K),
        rng.dirichlet(np.ones(M), K),
    )
    obs = rng.integers(0, M, (5, T))
    peer = hmmlearn_hmm.CategoricalHMM(n_components=K, n_features=M)
    peer.startprob_, peer.transmat_, peer.emissionprob_ = pi, A, B
    expected = [peer.score(sequence[:, None]) for sequence in obs]
    ours = hmm.categorical_log_likelihood(pi, A, B, obs)
    np.testing.assert_allclose(ours, expected, rtol=1e-4)
    log_marginal, _ = hmm.forward(pi, A, np.log(B.T[obs]))
    np.testing.assert_allclose(log_marginal, expected, rtol=1e-4)


@pytest.mark.parametrize("implementation", ["log", "scaling"])
def test_hmmlearn_agrees_on_log_likelihoods_and_baum_welch(problem, genbench_sides, implementation):
    """hmmlearn's per-sequence and total scores, and one ``fit`` iteration (n_iter=1)."""
    import_peer("hmmlearn.hmm")
    params, obs = problem
    ours, new = genbench_sides
    theirs = hmm_peers.hmmlearn_per_sequence(*params, obs, implementation=implementation)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    total = hmm_peers.hmmlearn_log_likelihood(*params, obs, implementation=implementation)()
    np.testing.assert_allclose(ours.sum(), total, rtol=1e-4)
    fitted = hmm_peers.hmmlearn_em(*params, obs, implementation=implementation)()
    theirs = (fitted.startprob_, fitted.transmat_, fitted.emissionprob_)
    for name, a, b in zip(("pi", "A", "B"), new, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5, err_msg=name)


def test_dynamax_agrees_on_log_likelihoods_and_em(problem, genbench_sides):
    """dynamax's ``hmm_filter`` (vmapped) and one ``CategoricalHMM`` EM iteration."""
    import_peer("dynamax")
    params, obs = problem
    ours, new = genbench_sides
    theirs = hmm_peers.dynamax_log_likelihood(*params, obs)()
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4)
    (pi, A, B), total = hmm_peers.dynamax_em(*params, obs)[1]()
    np.testing.assert_allclose(ours.sum(), float(total), rtol=1e-4)
    for name, a, b in zip(("pi", "A", "B"), new, (pi, A, B), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-3, atol=1e-5, err_msg=name)


def test_a_missing_peer_skips_but_fails_where_peers_are_required(monkeypatch):
    """Without the extra the peer tests skip; CI (GENBENCH_REQUIRE_PEERS=1) fails them."""
    missing = "genbench_no_such_peer"
    monkeypatch.delenv("GENBENCH_REQUIRE_PEERS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="peers extra"):
        import_peer(missing)
    monkeypatch.setenv("GENBENCH_REQUIRE_PEERS", "1")
    with pytest.raises(ModuleNotFoundError, match=missing):
        import_peer(missing)
