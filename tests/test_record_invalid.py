"""A value that cannot be a number is data: the record is still written, with null and a reason."""

import json
import math

import jax.numpy as jnp
import pytest

from genbench import registry
from genbench.models.configs import VAEConfig
from genbench.models.vae import build as build_vae
from genbench.registry import ModelEntry
from genbench.results import read_records, validate_record, write_record
from genbench.results.record import RunRecord
from genbench.runner import run
from genbench.spec import resolve
from tests.record_factory import make_record


def test_nan_metrics_and_utilisation_above_one_are_null_with_a_reason(tmp_path):
    fields = make_record()
    fields["metrics"] = {"nll": math.nan, "kl_to_source": -math.inf, "elbo": -1.5}
    fields["throughput"] = {"step_ms": 2.0, "mfu": 1.16, "hfu": 0.4, "peak_flops_per_s": 1e11}
    record = RunRecord(**fields)
    path = write_record(record, tmp_path)
    written = json.loads(path.read_text())  # strict JSON: json.loads would accept NaN, so check
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()
    validate_record(written)
    assert written["metrics"] == {"nll": None, "kl_to_source": None, "elbo": -1.5}
    assert written["throughput"]["mfu"] is None and written["throughput"]["hfu"] == 0.4
    assert written["invalid"]["metrics.nll"] == "nan"
    assert written["invalid"]["metrics.kl_to_source"] == "-inf"
    assert written["invalid"]["throughput.mfu"].startswith("1.16 > 1")
    assert "throughput.hfu" not in written["invalid"]


def test_a_clean_record_has_no_invalid_field():
    assert "invalid" not in RunRecord(**make_record()).to_dict()


def _nan_vae(config, dataset, rngs):
    model = build_vae(config, dataset, rngs)
    model.log_prob = lambda x: jnp.full(x.shape[0], jnp.nan)  # an exact likelihood gone wrong
    return model


@pytest.fixture
def nan_model(monkeypatch):
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    registry.register_model(ModelEntry("nan_vae", VAEConfig, _nan_vae, description="NaN nll"))
    yield "nan_vae"


def test_a_run_whose_metric_is_nan_still_writes_a_valid_record(nan_model, tmp_path):
    overrides = {"train.steps": 10, "train.inner_steps": 5, "eval.timing_calls": 2}
    overrides |= {"eval.max_examples": 64, "eval.source_samples": 64, "model.hidden": (8,)}
    overrides |= {"eval.nll_k": 4, "eval.iwae_k": (2,)}
    record = run(resolve(nan_model, "ring8", None, overrides))
    assert record.status == "ok"
    write_record(record, tmp_path)
    (read,) = read_records([tmp_path])
    assert read["metrics"]["nll"] is None and read["invalid"]["metrics.nll"] == "nan"
    assert read["metrics"]["kl_to_source"] is None
