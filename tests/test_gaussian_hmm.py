"""The Gaussian-emission HMM: against its source, on digits read as rows, and its contract."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench.data.configs import GaussianHMMConfig
from genbench.data.hmm_sources import gaussian_hmm
from genbench.inference import hmm
from genbench.models.hmm import GaussianHMM
from genbench.results import validate_record
from genbench.runner import run
from genbench.spec import resolve

FAST = {
    "eval.timing_calls": 3,
    "eval.source_samples": 200,
    "eval.source_steps": 200,
    "train.steps": 40,
    "train.restarts": 2,
}


@pytest.fixture(scope="module")
def em_record():
    return run(resolve("hmm", "hmm_gaussian", overrides=FAST), devices=jax.devices()[:1])


def test_em_recovers_the_gaussian_source(em_record):
    validate_record(em_record)
    metrics = em_record.metrics
    assert em_record.status == "ok", em_record.error
    assert em_record.estimators["kl_rate_to_source"] == "exact"
    # 100 sequences of 100 steps from a 3-state, 2-D source: estimation error ~ 1e-3.
    assert -3 * metrics["kl_rate_to_source_se"] < metrics["kl_rate_to_source"] < 0.01
    assert metrics["viterbi_accuracy"] > 0.9
    losses = [
        h["loss"] for h in em_record.history if h["restart"] == em_record.history[0]["restart"]
    ]
    assert all(b <= a + 1e-5 for a, b in zip(losses, losses[1:], strict=False))


def test_gradient_fit_matches_em(em_record):
    overrides = {
        **FAST,
        "train.fit": "gradient",
        "train.steps": 600,
        "train.inner_steps": 50,
        "train.batch_size": 50,
        "train.lr": 0.05,
    }
    record = run(resolve("hmm", "hmm_gaussian", overrides=overrides), devices=jax.devices()[:1])
    assert record.status == "ok", record.error
    assert record.metrics["nll"] == pytest.approx(em_record.metrics["nll"], rel=0.01)


def test_source_log_prob_is_the_forward_recursion_on_its_parameters():
    source = gaussian_hmm(GaussianHMMConfig(num_sequences=4, num_steps=6, n_test=2))
    x = jnp.asarray(source.train)
    pi, A, means, variances = source.params
    # Brute force over all K^T paths for T = 6, K = 3.
    K, T = 3, 6
    paths = np.stack(np.meshgrid(*[np.arange(K)] * T, indexing="ij"), -1).reshape(-1, T)
    ll = np.asarray(hmm.gaussian_emission_log_likelihoods(means, variances, x))  # [N, T, K]
    log_pi, log_A = np.log(np.asarray(pi)), np.log(np.asarray(A))
    joint = log_pi[paths[:, 0]] + log_A[paths[:, :-1], paths[:, 1:]].sum(-1)
    emitted = ll[:, np.arange(T), paths].sum(-1)  # [N, paths]
    brute = jax.nn.logsumexp(joint + emitted, axis=-1)
    np.testing.assert_allclose(source.log_prob(x), brute, rtol=1e-5)


def test_flat_and_framed_inputs_agree_and_samples_have_the_data_shape():
    model = GaussianHMM(3, 8, 8, input_kind="continuous", rngs=nnx.Rngs(0))
    x = jax.random.uniform(jax.random.key(1), (5, 64))
    np.testing.assert_allclose(model.log_prob(x), model.log_prob(x.reshape(5, 8, 8)), rtol=1e-6)
    assert model.sample(jax.random.key(2), 7).shape == (7, 64)
    sequence_model = GaussianHMM(3, 2, 10, rngs=nnx.Rngs(0))
    assert sequence_model.sample(jax.random.key(2), 7).shape == (7, 10, 2)


def test_unvisited_state_keeps_its_parameters():
    model = GaussianHMM(2, 1, 4, rngs=nnx.Rngs(0))
    # The second state is placed so far away that no observation reaches it.
    model.means[...] = jnp.array([[0.0], [1e4]])
    before = np.asarray(model.params()[2][1])
    model.em_step(jnp.zeros((3, 4, 1)) + jax.random.normal(jax.random.key(0), (3, 4, 1)))
    assert all(np.all(np.isfinite(np.asarray(p))) for p in model.params())
    np.testing.assert_array_equal(np.asarray(model.params()[2][1]), before)


def test_digits_read_as_rows_dequantised():
    overrides = {"eval.timing_calls": 3, "train.steps": 10, "train.restarts": 1}
    record = run(resolve("hmm", "digits", overrides=overrides), devices=jax.devices()[:1])
    validate_record(record)
    assert record.status == "ok", record.error
    metrics = record.metrics
    # nats per 8x8 image of grey levels: better than uniform (64 ln 17 = 181) after 10 EM steps.
    assert 0 < metrics["nll"] < 64 * np.log(17)
    assert "bits_per_dim" in metrics and "kl_rate_to_source" not in metrics
