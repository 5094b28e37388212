"""The HMM's EM restarts, one vmapped program against the sequential loop, on CPU.

The classical suite's two categorical EM runs, as it sets them: the dishonest casino
(5 sequences of 5,000 rolls, K = 2) and ``hmm_random`` (200 sequences of 100 steps,
K = 4, M = 8), ``train.steps`` 100 EM iterations per restart, seed 0, with
R = 1, 5 and 10 restarts initialised from the seeds ``em_fit`` uses.

- vmapped: ``genbench.train.restarts.compile_restarts``, the program ``train.fit=em``
  runs: all restarts' iterations in one compiled call (compiled once, outside the timing).
- loop: ``genbench.train.restarts.sequential_restarts``, what ``train.fit=em`` ran
  before: one compiled ``em_step`` call per iteration with its likelihood read on the
  host, a Python loop over restarts, the final likelihoods computed eagerly (warmed up
  first, so its compilation is outside the timing too).

``test_hmm_restarts_ratio[dataset-R]`` alternates the two for ``ROUNDS`` rounds (fresh
models each round) and reports the median of the per-round ratios loop / vmapped,
also over the quiet rounds (``benchmarks/timing.py``), the vmapped program's
``compile_s`` and each side's chosen restart. That the two compute the same restarts
is a test: ``tests/test_em_restarts.py``.

GENBENCH_WRITE_RESULTS=1 writes ``results/benchmarks/hmm_restarts_cpu.json``;
GENBENCH_BENCH_ROUNDS sets the number of rounds (default 3).
Run: ``python -m pytest benchmarks/test_hmm_restarts.py -s``.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.conftest import _environment, collect_results
from benchmarks.timing import QUIET, busy_ticks, foreign_share, report
from genbench.runner import build, build_model
from genbench.spec import resolve
from genbench.train.fits import RESTART_SEED_STRIDE
from genbench.train.restarts import RestartRun, compile_restarts, sequential_restarts

ROUNDS = int(os.environ.get("GENBENCH_BENCH_ROUNDS", "3"))
SEED, EM_STEPS = 0, 100
# The classical suite's EM runs of the categorical sources (genbench/suites/classical.toml).
SUITE_RUNS = {"casino": {}, "hmm_random": {"model.num_states": 4}}
RESULTS_FILE = (
    Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "hmm_restarts_cpu.json"
)


@pytest.fixture(scope="module")
def restarts_results():
    """A dict the tests fill; written to ``RESULTS_FILE`` when GENBENCH_WRITE_RESULTS=1."""
    setup = {"em_steps": EM_STEPS, "seed": SEED, "suite_runs": SUITE_RUNS}
    yield from collect_results(RESULTS_FILE, _environment() | setup)


@pytest.fixture(scope="module", params=sorted(SUITE_RUNS))
def problem(request):
    """(name, spec, dataset, training data) of one of the suite's EM runs."""
    spec = resolve("hmm", request.param, overrides=SUITE_RUNS[request.param], seed=SEED)
    dataset, _ = build(spec)
    return request.param, spec, dataset, jnp.asarray(dataset.train)


def _models(spec, dataset, restarts: int) -> list:
    """Fresh models of ``restarts`` restarts, from the seeds ``em_fit`` gives them."""
    seeds = [SEED] + [SEED * RESTART_SEED_STRIDE + r for r in range(1, restarts)]
    return [build_model(spec, dataset, seed) for seed in seeds]


def _timed(function, *args) -> tuple[float, float | None, object]:
    """(seconds, share of the machine other processes used, result) of ``function(*args)``."""
    before, start = busy_ticks(), time.perf_counter()
    out = jax.block_until_ready(function(*args))
    seconds = time.perf_counter() - start
    return seconds, foreign_share(before, busy_ticks(), seconds), out


def _rounds(spec, dataset, data, restarts: int) -> dict:
    """``ROUNDS`` interleaved rounds, vmapped then loop; the summary of their seconds."""
    sequential_restarts(_models(spec, dataset, 1), data, 1)  # compile em_step, log_prob
    compiled, states, compile_s = compile_restarts(_models(spec, dataset, restarts), data, EM_STEPS)
    vmapped_s, loop_s, foreign, best = [], [], [], {}
    for _ in range(ROUNDS):
        seconds, share_v, out = _timed(compiled, states, data)
        vmapped_s.append(seconds)
        best["vmapped"] = RestartRun(*map(np.asarray, out[1:]), out[0], compile_s, seconds).best()
        models = _models(spec, dataset, restarts)
        seconds, share_l, run = _timed(sequential_restarts, models, data, EM_STEPS)
        loop_s.append(run.run_s)
        best["loop"] = run.best()
        foreign.append([share_v, share_l])
    ratios = [loop / vmapped for loop, vmapped in zip(loop_s, vmapped_s, strict=True)]
    quiet = [None not in f and max(f) < QUIET for f in foreign]
    quiet_ratios = [r for r, q in zip(ratios, quiet, strict=True) if q]
    return {
        "restarts": restarts,
        "em_steps": EM_STEPS,
        "rounds": ROUNDS,
        "vmapped_s_median": statistics.median(vmapped_s),
        "loop_s_median": statistics.median(loop_s),
        "ratio_median": statistics.median(ratios),
        "quiet_rounds": sum(quiet),
        "ratio_median_quiet": statistics.median(quiet_ratios) if quiet_ratios else None,
        "vmapped_compile_s": compile_s,
        "best_restart": best,
        "vmapped_s": vmapped_s,
        "loop_s": loop_s,
        "ratios": ratios,
        "foreign_cpu_share": foreign,
    }


@pytest.mark.parametrize("restarts", [1, 5, 10])
def test_hmm_restarts_ratio(benchmark, restarts_results, problem, restarts):
    """Median ratio loop / vmapped over interleaved rounds, the same restarts on both sides."""
    name, spec, dataset, data = problem
    result = benchmark.pedantic(
        _rounds, args=(spec, dataset, data, restarts), rounds=1, iterations=1
    )
    title = f"{name}, {restarts} restarts: loop / vmapped, {ROUNDS} rounds"
    report(benchmark, restarts_results, f"{name}_R{restarts}", result, title)
