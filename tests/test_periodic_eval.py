"""Periodic evaluation (``eval.every``): convergence curves in the history, out of the training
time, on the validation split where there is one; ``select_metric`` picks the reported value."""

import time
from pathlib import Path

import jax
import numpy as np
import pytest

from genbench import registry
from genbench.config import TrainConfig
from genbench.data.base import Dataset, held_out
from genbench.data.view import data_view
from genbench.errors import UsageError
from genbench.metrics.batching import function_key
from genbench.results import read_records, run_key, validate_record
from genbench.results.record import SCHEMA_VERSION
from genbench.results.select import metric_direction, select_metric
from genbench.runner import build_model, run
from genbench.spec import resolve
from genbench.train.fit import PeriodicEval, fit
from genbench.train.mesh import data_mesh
from tests.record_factory import make_record

TINY = {
    "train.steps": 30,
    "train.inner_steps": 5,
    "train.batch_size": 32,
    "eval.nll_k": 4,
    "eval.iwae_k": (2,),
    "eval.max_examples": 60,
}
RESULTS = Path(__file__).resolve().parents[1] / "results"


def _run(dataset: str, **overrides):
    spec = resolve("vae", dataset, None, TINY | overrides)
    record = run(spec, devices=jax.devices()[:1], measure_throughput=False)
    assert record.status == "ok", record.error
    validate_record(record)
    return record


def test_history_holds_a_convergence_curve_and_the_last_point_is_the_final_evaluation():
    record = _run("ring8", **{"eval.every": 10})
    curve = [h for h in record.history if "metrics" in h]
    assert [h["step"] for h in curve] == [10, 20, 30]
    assert {h["eval_split"] for h in curve} == {"test"}  # ring8 has no validation split
    assert all(h["eval_s"] > 0 for h in curve)
    # Evaluated on the model of that step, with the run's seed: at the last step the curve's
    # point is the record's own final evaluation.
    assert curve[-1]["metrics"] == pytest.approx(record.metrics)
    assert curve[0]["metrics"]["nll"] != pytest.approx(curve[-1]["metrics"]["nll"])
    assert record.to_dict()["schema_version"] == SCHEMA_VERSION == 2


def test_evaluations_are_on_the_validation_split_and_out_of_the_training_time():
    rng = np.random.default_rng(0)
    train, test, validation = (rng.random((n, 4)).astype(np.float32) for n in (64, 16, 8))
    dataset = Dataset("v", train, test, "continuous", validation=validation)
    measured, split = held_out(dataset)
    assert split == "validation" and measured.test is validation and dataset.test is test
    assert held_out(Dataset("t", train, test, "continuous"))[1] == "test"
    spec = resolve("vae", "ring8", None, {"model.decoder": "gaussian", **TINY})
    model = build_model(spec, dataset, 0)
    view = data_view(dataset, model.input_kind)
    pause, seen = 0.5, []

    def slow(step, m):
        seen.append((step, float(np.abs(np.asarray(m.decoder_std_raw[...])).sum())))
        time.sleep(pause)
        return {"metrics": {"nll": float(step)}, "eval_split": split, "eval_s": pause}

    train_cfg = TrainConfig(steps=30, batch_size=16, inner_steps=5, log_every=5)
    result = fit(
        model, dataset, view.transform, train_cfg, 0, data_mesh(jax.devices()[:1]),
        periodic=PeriodicEval(10, slow),
    )  # fmt: skip
    curve = [h for h in result.history if "metrics" in h]
    assert [h["step"] for h in curve] == [s for s, _ in seen] == [10, 20, 30]
    assert len({v for _, v in seen}) == 3  # the model held that step's parameters
    assert result.train_s < 3 * pause  # three pauses, none of them counted as training
    times = [h["time"] for h in result.history]
    assert max(np.diff(times)) < pause


def test_eval_every_must_be_a_multiple_of_inner_steps():
    with pytest.raises(UsageError, match="eval.every=7 must be >= 0 and a multiple of"):
        resolve("vae", "ring8", None, TINY | {"eval.every": 7})


def test_the_run_key_of_a_run_without_periodic_evaluation_is_unchanged():
    config = {"model": {}, "data": {}, "train": {"steps": 1}, "eval": {"nll_k": 4}}
    every_0 = {**config, "eval": {"nll_k": 4, "every": 0}}
    every_5 = {**config, "eval": {"nll_k": 4, "every": 5}}
    assert run_key("vae", "d", "1", every_0, 0) == run_key("vae", "d", "1", config, 0)
    assert run_key("vae", "d", "1", every_5, 0) != run_key("vae", "d", "1", config, 0)


def _curve_record(values, metric="nll", split="validation"):
    history = [
        {"step": 10 * (i + 1), "loss": 1.0, "time": float(i), "metrics": {metric: v},
         "eval_split": split, "eval_s": 0.1}
        for i, v in enumerate(values)
    ]  # fmt: skip
    record = make_record(history=history, schema_version=2)
    record["metrics"] = {metric: 9.0, f"{metric}_se": 0.5}
    validate_record(record)
    return record


def test_select_final_and_best_on_validation_by_the_metric_direction():
    record = _curve_record([3.0, 1.5, 2.0, 1.5])
    final = select_metric(record, "nll")
    assert (final.value, final.se, final.step, final.label) == (9.0, 0.5, None, "final")
    best = select_metric(record, "nll", "best_on_validation")
    assert (best.value, best.step, best.split) == (1.5, 20, "validation")  # earliest of a tie
    assert best.label == "best of 4 evaluations on the validation split (step 20)"
    frac = select_metric(_curve_record([0.2, 0.9, 0.5], "high_quality_frac"), "high_quality_frac",
                         "best_on_validation")  # fmt: skip
    assert (frac.value, frac.step) == (0.9, 20)
    assert metric_direction("iwae_bound_k5000") == "max"
    assert metric_direction("next_token_xent") == metric_direction("nll_iwae_k50") == "min"


@pytest.mark.parametrize(
    ("metric", "how", "fragment"),
    [
        ("nll", "best", "is not one of final, best_on_validation"),
        ("elbo", "best_on_validation", "needs eval.every > 0"),
        ("nll_se", "best_on_validation", "no better direction"),
    ],
)
def test_select_errors_are_one_line(metric, how, fragment):
    record = _curve_record([1.0], metric="nll_se" if metric == "nll_se" else "nll")
    with pytest.raises(UsageError, match=fragment) as info:
        select_metric(record, metric, how)
    assert "\n" not in str(info.value)


def test_version_1_records_stay_readable():
    old = make_record()
    assert old["schema_version"] == 1
    validate_record(old)
    committed = read_records([RESULTS])
    assert committed and {r["schema_version"] for r in committed} <= {1, 2}
    assert registry.get_dataset("digits_binary")  # the registry is loaded alongside


def test_metric_functions_are_reused_only_when_they_compute_the_same_thing():
    def make(k, extra=None):
        return lambda m, x, r, k=k: (m, x, r, k, extra)

    assert function_key(make(2)) == function_key(make(2))  # same code, same values
    assert function_key(make(2)) != function_key(make(3))
    assert function_key(make(1)) != function_key(make(True))
    assert function_key(make(2, np.zeros(3))) is None  # an array: never reused
    assert function_key(make(2, object())) is None
