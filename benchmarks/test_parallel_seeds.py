"""Seeds in parallel: seeds per second of one seed group's program against S runs one
after the other, and the wall time of whole runs as a user sees them.

Step throughput: for S seeds, "ours" is the group's compiled program (``SeedGroupStep``)
and "theirs" is one seed's program run S times as many steps. A run's program takes its
seed's key as an argument, so S sequential runs time exactly as one run S times as long
(compilation apart); the ratio theirs / ours is the speed-up in seeds per second
(``timing.interleaved_ratio``, medians of interleaved rounds). The cases are the smoke
suite's VAE on digits, the gan2d suite's ring8 PacGAN2 run and the sequences suite's
Markov transformer, each as its suite runs it.

Whole runs: the digits VAE at 5 seeds (6,000 steps, batch 128, 50 steps per call),
``genbench.seed_runs.run_group`` against ``genbench.runner.run`` per seed, in interleaved
rounds, compilation, evaluation and timing included.

With ``GENBENCH_WRITE_RESULTS=1`` the results go to
``results/benchmarks/parallel_seeds_<backend>.json``. ``GENBENCH_MAX_SEEDS`` (default
10 on CPU, 100 elsewhere) bounds S; ``GENBENCH_SEED_SIZES`` (default 1,2,5,10,20,50,100)
lists the sizes, 1 first.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from pathlib import Path

import jax
import pytest

from benchmarks.conftest import _environment, collect_results
from benchmarks.timing import interleaved_ratio, rounded
from genbench.data.view import data_view
from genbench.registry import get_dataset, resolve_factory
from genbench.runner import build_model, run
from genbench.seed_runs import run_group
from genbench.spec import _read_suite as read_suite
from genbench.spec import resolve, seed_groups
from genbench.train.fit import fit, fit_seeds
from genbench.train.mesh import data_mesh
from genbench.train.seed_limits import whole_group_limit

RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"
CASES = {  # (suite, model, dataset, preset, overrides that pick the run)
    "vae_digits_smoke": ("smoke", "vae", "digits", None, {}),
    "gan_ring8_pacgan2": ("gan2d", "gan", "ring8", "pacgan", {"pack": 2}),
    "transformer_markov": ("sequences", "transformer", "markov", None, {}),
}
ON_CPU = jax.default_backend() == "cpu"
MAX_SEEDS = int(os.environ.get("GENBENCH_MAX_SEEDS", 10 if ON_CPU else 100))
ALL_SIZES = os.environ.get("GENBENCH_SEED_SIZES", "1,2,5,10,20,50,100")  # 1 comes first
SIZES = [int(s) for s in ALL_SIZES.split(",") if int(s) <= MAX_SEEDS]
# An accelerator's timings vary little, and its device time is scarce: fewer, shorter rounds.
ROUNDS, SEGMENT_S = (5, 5.0) if ON_CPU else (3, 1.0)


def suite_spec(case: str):
    """The case's run exactly as its suite configures it (seed 0), resolved alone (other
    runs of its suite may need packages this machine lacks)."""
    suite, model, dataset, preset, model_fields = CASES[case]
    _, content = read_suite(suite)
    for entry in content["run"]:
        picked = (entry["model"], entry["dataset"], entry.get("preset")) == (model, dataset, preset)
        overrides = {**content.get("defaults", {}), **entry.get("set", {})}
        fields = {k: overrides.get(f"model.{k}") for k in model_fields}
        if picked and fields == model_fields:
            return resolve(model, dataset, preset, overrides, 0, suite)
    raise LookupError(case)


class Warm:
    """A compiled, warmed step of ``spec`` for ``seeds`` (one seed: the run's own step);
    ``run(steps)`` advances every seed by ``steps`` steps."""

    def __init__(self, spec, seeds):
        train = spec.config.train
        self.inner = train.inner_steps
        train = dataclasses.replace(train, steps=2 * self.inner)
        dataset = resolve_factory(get_dataset(spec.dataset))(spec.config.data)
        models = [build_model(spec, dataset, s) for s in seeds]
        view = data_view(dataset, models[0].input_kind)
        mesh = data_mesh(jax.devices()[:1])
        if len(seeds) == 1:
            result = fit(models[0], dataset, view.transform, train, seeds[0], mesh)
        else:
            result = fit_seeds(models, dataset, view.transform, train, seeds, mesh)[0]
        self.step_fn, self.state = result.step_fn, result.state
        self.next_step = train.steps

    def run(self, steps: int) -> float:
        out = None
        for _ in range(steps // self.inner):
            self.state, out = self.step_fn(self.state, self.next_step)
            self.next_step += self.inner
        return float(jax.tree.leaves(out["loss"])[0].ravel()[-1])


class Sequential:
    """S runs one after the other: one seed's warmed step run S times as many steps."""

    def __init__(self, warm: Warm, seeds: int):
        self.warm, self.seeds = warm, seeds

    def run(self, steps: int) -> float:
        return self.warm.run(steps * self.seeds)


class DefaultGroups:
    """S seeds as ``--parallel-seeds`` with no size trains them on this platform: groups
    of at most the family's limit (``genbench.train.seed_limits``), one after another."""

    def __init__(self, spec, seeds: int, warmed: dict[int, Warm]):
        specs = [dataclasses.replace(spec, seed=s) for s in range(seeds)]
        self.chunks = [len(g) for g in seed_groups(specs, None, whole_group_limit)]
        for size in set(self.chunks) - set(warmed):
            warmed[size] = Warm(spec, list(range(size)))
        self.warmed = warmed

    def run(self, steps: int) -> float:
        return [self.warmed[size].run(steps) for size in self.chunks][-1]


@pytest.fixture(scope="module")
def seed_results():
    path = RESULTS / f"parallel_seeds_{jax.default_backend()}.json"
    yield from collect_results(path, _environment())


@pytest.mark.parametrize("case", sorted(CASES))
def test_seeds_per_second_of_a_group_against_sequential_runs(case, seed_results):
    spec = suite_spec(case)
    inner = spec.config.train.inner_steps
    one = Warm(spec, [0])
    warmed = {1: one}
    rows = {}
    for size in SIZES:
        group = Warm(spec, list(range(size))) if size > 1 else one
        warmed.setdefault(size, group)
        sequential = Sequential(one, size)
        timing = interleaved_ratio(group, sequential, ROUNDS, 4 * inner, (inner, inner), SEGMENT_S)
        rows[size] = {
            "seeds_per_s_ratio_median": timing["ratio_median"],
            "group_ms_per_step_median": timing["genbench_step_ms_median"],
            "sequential_ms_per_step_median": timing["torch_step_ms_median"],
            "quiet_rounds": timing["quiet_rounds"],
        }
        default = DefaultGroups(spec, size, warmed)
        if default.chunks != [size]:  # the default path is not this one group: time it too
            timing = interleaved_ratio(
                default, sequential, ROUNDS, 4 * inner, (inner, inner), SEGMENT_S
            )
            rows[size]["default_chunks"] = default.chunks
            rows[size]["default_seeds_per_s_ratio_median"] = timing["ratio_median"]
        print(f"\n{case} S={size}: {rounded(rows[size])}")
    base = rows[1]["group_ms_per_step_median"]
    for row in rows.values():
        row["group_time_over_one_seed"] = row["group_ms_per_step_median"] / base
    seed_results[case] = {
        "inner_steps": inner,
        "batch_size": spec.config.train.batch_size,
        "sizes": rows,
    }


def test_whole_runs_of_five_vae_seeds(seed_results):
    """Five digits VAE runs as a user runs them, with and without ``--parallel-seeds``."""
    if not ON_CPU:
        pytest.skip("the whole-run comparison is the CPU goal")
    overrides = {
        "train.steps": 6000,
        "train.batch_size": 128,
        "train.inner_steps": 50,
        "eval.nll_k": 200,
        "eval.iwae_k": (10, 100),
    }
    specs = [resolve("vae", "digits", None, overrides, s) for s in range(5)]
    devices = jax.devices()[:1]
    walls = {"sequential": [], "parallel": []}
    for _ in range(3):
        start = time.perf_counter()
        sequential = [run(spec, devices=devices) for spec in specs]
        walls["sequential"].append(time.perf_counter() - start)
        start = time.perf_counter()
        parallel = run_group(specs, devices=devices)
        walls["parallel"].append(time.perf_counter() - start)
    assert all(r.status == "ok" for r in sequential + parallel)
    ratios = [s / p for s, p in zip(walls["sequential"], walls["parallel"], strict=True)]
    result = {
        "wall_s": walls,
        "speedup_median": statistics.median(ratios),
        "nll": {
            "sequential": [r.metrics["nll"] for r in sequential],
            "parallel": [r.metrics["nll"] for r in parallel],
        },
    }
    seed_results["whole_runs_vae_digits_5_seeds"] = result
    print(f"\nwhole runs: {rounded(result)}")
