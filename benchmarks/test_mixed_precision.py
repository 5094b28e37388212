"""Mixed precision: ``train.compute_dtype=bfloat16`` against float32, speed and metrics.

For each case the same spec is run twice through the harness (``genbench.runner.run``),
once per compute dtype, and the records' headline metrics are put side by side. The
speed-up is measured separately, in one process: both compiled steps are warmed, then
timed in interleaved rounds (``timing.interleaved_ratio``; "theirs" is float32, so the
ratio is float32 ms / bfloat16 ms, > 1 when bfloat16 is faster).

With ``GENBENCH_WRITE_RESULTS=1`` the results go to
``results/benchmarks/mixed_precision_<backend>.json``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import pytest

from benchmarks.conftest import _environment, collect_results
from benchmarks.timing import interleaved_ratio, rounded
from genbench.data.view import data_view
from genbench.runner import build, run
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

CASES = {
    "vae_iwae_digits_binary": ("vae", "digits_binary", "iwae", {"train.steps": 2000}),
    "transformer_markov": (
        "transformer",
        "markov",
        None,
        {"train.steps": 300, "model.n_layer": 2, "model.n_embd": 128, "model.n_head": 4},
    ),
}
HEADLINE = ("nll", "bits_per_dim", "bits_per_token", "kl_rate_to_source", "elbo")
RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


def _spec(case: str, dtype: str, **extra):
    model, dataset, preset, overrides = CASES[case]
    overrides = overrides | {"train.compute_dtype": dtype, "eval.timing_calls": 20} | extra
    return resolve(model, dataset, preset, overrides)


class WarmStep:
    """A warmed compiled step of ``spec``: ``run(steps)`` as ``timing.interleaved_ratio`` wants."""

    def __init__(self, spec):
        dataset, model = build(spec)
        view = data_view(dataset, model.input_kind)
        result = fit(model, dataset, view.transform, spec.config.train, 0, data_mesh())
        self.step_fn, self.state = result.step_fn, result.state
        self.inner_steps = spec.config.train.inner_steps
        self.next_step = spec.config.train.steps
        self.last_loss = result.history[-1]["loss"]

    def run(self, steps: int) -> float:
        out = None
        for _ in range(steps // self.inner_steps):
            self.state, out = self.step_fn(self.state, self.next_step)
            self.next_step += self.inner_steps
        self.last_loss = float(sum(v[-1] for v in out["loss"].values()))
        return self.last_loss


@pytest.fixture(scope="module")
def precision_results():
    path = RESULTS / f"mixed_precision_{jax.default_backend()}.json"
    yield from collect_results(path, _environment())


@pytest.mark.parametrize("case", sorted(CASES))
def test_bfloat16_against_float32(case, precision_results):
    records = {d: run(_spec(case, d), devices=jax.devices()[:1]) for d in ("float32", "bfloat16")}
    assert all(r["status"] == "ok" for r in records.values()), [
        r["error"] for r in records.values()
    ]
    inner = records["float32"]["config"]["train"]["inner_steps"]
    warm = {d: WarmStep(_spec(case, d, **{"train.steps": 2 * inner})) for d in records}
    timing = interleaved_ratio(warm["bfloat16"], warm["float32"], 5, 10 * inner, (inner, inner))
    metrics = {
        name: {d: records[d]["metrics"].get(name) for d in records}
        for name in HEADLINE
        if records["float32"]["metrics"].get(name) is not None
    }
    result = {
        "speedup_bf16_over_f32_median": timing["ratio_median"],
        "f32_step_ms_median": timing["torch_step_ms_median"],
        "bf16_step_ms_median": timing["genbench_step_ms_median"],
        "quiet_rounds": timing["quiet_rounds"],
        "record_step_ms": {d: records[d]["throughput"]["step_ms"] for d in records},
        "metrics": metrics,
        "steps": records["float32"]["config"]["train"]["steps"],
    }
    precision_results[case] = result
    print(f"\n{case}: {rounded(result)}")
