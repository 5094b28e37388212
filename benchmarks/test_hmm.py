"""Categorical HMM, genbench vs dynamax vs hmmlearn, side by side in one process.

N = 512 sequences of T = 256 symbols, K = 16 states, M = 32 symbols, the same
data and parameters on every side, end to end (integer observations in):

- log-likelihood: genbench's jitted ``categorical_log_likelihood`` (per-sequence
  values out); dynamax's ``hmm_filter`` vmapped and jitted, the emission
  log-likelihoods gathered inside the jit; hmmlearn's ``CategoricalHMM.score``
  on all sequences at once (``lengths``), in both its implementations
  (``"log"``, the default, and ``"scaling"``, its fastest).
- one Baum-Welch iteration (E- and M-step, maximum likelihood): genbench's
  jitted ``categorical_baum_welch_step``; dynamax's ``CategoricalHMM`` E-step
  vmapped plus its M-step, jitted (the body of ``fit_em``); hmmlearn's ``fit``
  with ``n_iter=1``, ``init_params=''`` and the parameters set.

That the sides compute the same numbers (log-likelihoods to 1e-4 relative, the
updated parameters to 1e-5) is a test, run by CI: ``tests/test_peers_hmm.py``.
``test_hmm_speed_ratio[...]`` times ``ROUNDS`` interleaved rounds (genbench,
dynamax, hmmlearn log, hmmlearn scaling, genbench, ...) and reports the median
per-round ratios peer / genbench, also over the quiet rounds only (see
``benchmarks/timing.py``). Peers that are not installed are skipped.
GENBENCH_WRITE_RESULTS=1 writes the numbers to ``results/benchmarks/hmm_cpu.json``.

Run: ``python -m pytest benchmarks/test_hmm.py -s``.
"""

from __future__ import annotations

import importlib.metadata
import json
import statistics
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from benchmarks.conftest import _environment, collect_results
from benchmarks.peers import hmm_peers
from benchmarks.timing import QUIET, pedantic, rounded, timed_segment
from genbench.inference import hmm, hmm_em

N, T, K, M = 512, 256, 16, 32
ROUNDS = 7
SEGMENT_BUDGET_S = 2.0
RESULTS_FILE = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "hmm_cpu.json"
# The targets: ratio peer / genbench.
TARGETS = {
    "log_likelihood": {"dynamax": 3.0, "hmmlearn_log": 50.0},
    "baum_welch": {"dynamax": 5.0, "hmmlearn_log": 10.0},
}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.fixture(scope="module")
def hmm_results():
    """A dict the tests fill; written to ``RESULTS_FILE`` when GENBENCH_WRITE_RESULTS=1."""
    environment = _environment() | {
        "dynamax": _version("dynamax"),
        "hmmlearn": _version("hmmlearn"),
        "sizes": {"N": N, "T": T, "K": K, "M": M},
    }
    yield from collect_results(RESULTS_FILE, environment)


@pytest.fixture(scope="module")
def problem():
    """(pi, A, B) to score and update, float32 numpy, and observations ``[N, T]`` int32.

    The observations come from a different, sticky HMM, so that the EM step
    changes the parameters.
    """
    return hmm_peers.em_problem(N, T, K, M)


def _installed(peer: str) -> bool:
    return _version(peer) is not None


def _require(peer: str) -> None:
    """``pytest.importorskip(peer)``, with the peer's import-time deprecation warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pytest.importorskip(peer)


def _genbench_log_likelihood(params, obs):
    run = jax.jit(hmm.categorical_log_likelihood)
    args = tuple(jnp.asarray(a) for a in params) + (jnp.asarray(obs),)
    return lambda: run(*args).block_until_ready()


def _genbench_em(params, obs):
    run = jax.jit(hmm_em.categorical_baum_welch_step)
    args = tuple(jnp.asarray(a) for a in params) + (jnp.asarray(obs),)
    return lambda: jax.block_until_ready(run(*args))


def _sides(task: str, params, obs) -> dict:
    """name -> zero-argument callable, for the sides whose package is installed."""
    sides = {
        "genbench": (_genbench_log_likelihood if task == "log_likelihood" else _genbench_em)(
            params, obs
        )
    }
    if _installed("dynamax"):
        if task == "log_likelihood":
            sides["dynamax"] = hmm_peers.dynamax_log_likelihood(*params, obs)
        else:
            sides["dynamax"] = hmm_peers.dynamax_em(*params, obs)[0]
    if _installed("hmmlearn"):
        for impl in ("log", "scaling"):
            make = (
                hmm_peers.hmmlearn_log_likelihood
                if task == "log_likelihood"
                else hmm_peers.hmmlearn_em
            )
            sides[f"hmmlearn_{impl}"] = make(*params, obs, implementation=impl)
    return sides


@pytest.mark.parametrize("side", ["genbench", "dynamax", "hmmlearn_log", "hmmlearn_scaling"])
@pytest.mark.parametrize("task", ["log_likelihood", "baum_welch"])
def test_hmm_side(benchmark, problem, task, side):
    """One call of one side (pytest-benchmark's own statistics)."""
    if side != "genbench":
        _require(side.split("_")[0])
    run = _sides(task, *problem)[side]
    slow = side.startswith("hmmlearn") and (task == "baum_welch" or side.endswith("log"))
    pedantic(benchmark, run, rounds=3 if slow else 20, warmup_rounds=1)


def _interleaved(sides: dict, rounds: int, calls: dict) -> dict:
    """Times every side ``calls[name]`` times per round, the sides alternating, for ``rounds``."""
    ms = {name: [] for name in sides}
    foreign = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            step_ms, _, share = timed_segment(
                lambda n, run=run: [run() for _ in range(n)], calls[name], 1, SEGMENT_BUDGET_S
            )
            ms[name].append(step_ms)
            foreign[name].append(share)
    quiet = [
        all(foreign[name][r] is not None and foreign[name][r] < QUIET for name in sides)
        for r in range(rounds)
    ]
    summary = {"rounds": rounds, "quiet_rounds": sum(quiet), "calls_per_round": calls}
    summary["ms_median"] = {name: statistics.median(values) for name, values in ms.items()}
    summary["ms"] = ms
    summary["foreign_cpu_share"] = foreign
    for key in ("ratio_median", "ratio_median_quiet", "ratio_best_rounds"):
        summary[key] = {}
    for name in sides:
        if name == "genbench":
            continue
        ratios = [t / o for o, t in zip(ms["genbench"], ms[name], strict=True)]
        quiet_ratios = [r for r, q in zip(ratios, quiet, strict=True) if q]
        summary["ratio_median"][name] = statistics.median(ratios)
        summary["ratio_median_quiet"][name] = (
            statistics.median(quiet_ratios) if quiet_ratios else None
        )
        summary["ratio_best_rounds"][name] = min(ms[name]) / min(ms["genbench"])
    return summary


CALLS = {
    "log_likelihood": {"genbench": 40, "dynamax": 10, "hmmlearn_log": 1, "hmmlearn_scaling": 3},
    "baum_welch": {"genbench": 10, "dynamax": 2, "hmmlearn_log": 1, "hmmlearn_scaling": 1},
}


@pytest.mark.parametrize("task", ["log_likelihood", "baum_welch"])
def test_hmm_speed_ratio(benchmark, problem, hmm_results, task):
    """Median ratio peer / genbench over interleaved rounds, same data, same process."""
    sides = _sides(task, *problem)
    if len(sides) == 1:
        pytest.skip("no HMM peer installed (pip install -e '.[peers]')")
    for run in sides.values():  # compile and warm up
        run()
        run()
    result = benchmark.pedantic(
        _interleaved, args=(sides, ROUNDS, CALLS[task]), rounds=1, iterations=1
    )
    result["targets"] = TARGETS[task]
    benchmark.extra_info.update(
        {k: v for k, v in result.items() if k not in ("ms", "foreign_cpu_share")}
    )
    hmm_results[task] = result
    print(f"\n{task}, peer / genbench, {ROUNDS} interleaved rounds:")
    for key, value in result.items():
        print(f"  {key}: {json.dumps(rounded(value))}")
