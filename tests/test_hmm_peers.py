"""HMM log-likelihoods against hmmlearn (runs when the ``peers`` extra is installed)."""

import numpy as np
import pytest

from genbench.inference import hmm

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_categorical_log_likelihood_matches_hmmlearn_score(seed):
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
