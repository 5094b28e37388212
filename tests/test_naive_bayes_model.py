"""The naive Bayes model through the runner: closed form, gradient, KL to its source."""

import jax
import pytest

from genbench.results import validate_record
from genbench.runner import run
from genbench.spec import resolve

# The likelihood and the KL to the source: the groups these tests read.
FAST_EVAL = {
    "eval.timing_calls": 3,
    "eval.source_samples": 20_000,
    "eval.groups": ("likelihood", "source"),
}


@pytest.fixture(scope="module")
def exact_on_source():
    spec = resolve("naive_bayes", "naive_bayes_source", overrides=FAST_EVAL)
    return run(spec, devices=jax.devices()[:1])


def test_closed_form_fit_is_close_to_its_source(exact_on_source):
    record = exact_on_source
    validate_record(record)
    metrics = record.metrics
    assert record.config["train"]["fit"] == "exact"
    assert record.estimators["kl_to_source"] == "exact"
    # Estimation error alone is about (C - 1 + C D) / (2 N) = 0.0065 nats for N = 50,000.
    assert -3 * metrics["kl_to_source_se"] < metrics["kl_to_source"] < 0.02
    assert metrics["nll"] == pytest.approx(metrics["entropy_source"], abs=0.2)
    assert record.throughput["fit_s"] > 0


def test_gradient_fit_through_the_shared_step_approaches_the_closed_form(exact_on_source):
    spec = resolve(
        "naive_bayes",
        "naive_bayes_source",
        overrides={
            **FAST_EVAL,
            "train.fit": "gradient",
            "train.steps": 2000,
            "train.inner_steps": 50,
            "train.lr": 0.05,
            "train.batch_size": 500,
        },
    )
    record = run(spec, devices=jax.devices()[:1])
    validate_record(record)
    assert record.status == "ok" and record.throughput["step_ms"] > 0
    exact = exact_on_source.metrics["nll"]
    assert record.metrics["nll"] == pytest.approx(exact, rel=0.01)


def test_digits_classification():
    spec = resolve("naive_bayes", "digits_binary", overrides={"eval.timing_calls": 3})
    record = run(spec, devices=jax.devices()[:1])
    assert record.metrics["accuracy"] > 0.8
    assert record.estimators["nll"] == "exact"


@pytest.mark.parametrize(("preset", "least"), [("categorical", 0.85), ("gaussian", 0.85)])
def test_grey_digits_with_categorical_and_gaussian_features(preset, least):
    spec = resolve("naive_bayes", "digits", preset, {"eval.timing_calls": 3})
    record = run(spec, devices=jax.devices()[:1])
    validate_record(record)
    assert record.metrics["accuracy"] > least
    # Both are likelihoods of the discrete grey levels (the Gaussian one via dequantisation).
    assert 50 < record.metrics["nll"] < 200
