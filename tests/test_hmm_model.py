"""The HMM model through the runner: EM and gradient fits on the dishonest casino."""

import jax
import pytest

from genbench.results import validate_record
from genbench.runner import run
from genbench.spec import resolve

EVAL = {"eval.timing_calls": 3, "eval.source_samples": 300}


@pytest.fixture(scope="module")
def em_record():
    spec = resolve("hmm", "casino", overrides=EVAL)
    return run(spec, devices=jax.devices()[:1])


def test_em_on_the_casino_reaches_the_source(em_record):
    record = em_record
    validate_record(record)
    metrics = record.metrics
    assert record.config["train"]["fit"] == "em"
    assert record.config["train"]["restarts"] == 5
    # num_states=0 and emissions=auto are recorded as what they resolved to
    assert record.config["model"] == {"num_states": 2, "emissions": "categorical"}
    assert record.estimators["kl_rate_to_source"] == "exact"
    # 5 sequences of 5,000 rolls, best of 5 restarts (hmmlearn's EM: 0.0002 on this setup).
    assert -3 * metrics["kl_rate_to_source_se"] < metrics["kl_rate_to_source"] < 0.002
    assert metrics["viterbi_accuracy"] > 0.7
    losses = [h["loss"] for h in record.history]
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:], strict=False))


def test_gradient_fit_matches_em_within_one_percent(em_record):
    spec = resolve(
        "hmm",
        "casino",
        overrides={
            **EVAL,
            "train.fit": "gradient",
            "train.steps": 600,
            "train.inner_steps": 50,
            "train.batch_size": 5,
            "train.lr": 0.05,
        },
    )
    record = run(spec, devices=jax.devices()[:1])
    assert record.status == "ok", record.error
    em, gradient = em_record.metrics["nll"], record.metrics["nll"]
    assert gradient == pytest.approx(em, rel=0.01)
