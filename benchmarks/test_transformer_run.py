"""The transformer benchmark as a user runs it: ``genbench run`` with the defaults, against
PyTorch eager, on CPU.

``test_transformer_step.py`` times the shared step at a call length it chooses; here
genbench goes through ``genbench.runner.run`` (what ``genbench run`` calls) with the
model family's defaults, so the number is the one a user's record holds. The run is the
issue's: the step benchmark's sizes (4 layers, 4 heads, width 256, block 128) and data
(``markov_text``: rows of 1,025 symbols, V = 65, given as a ``.npy`` file to the ``file``
dataset) for 40 steps, everything else as ``genbench run transformer`` sets it (batch 32,
Adam 1e-3, constant schedule, ``train.inner_steps`` the family default); only the
evaluation is trimmed (``EVAL``), which changes no training figure.

``test_transformer_run_ratio[defaults|inner1]`` alternates, for ``ROUNDS`` rounds, one
whole genbench run and 40 PyTorch eager steps of the same configuration (the peer of
``peers/torch_transformer.py``, as many threads as XLA uses). It reports the median
of the per-round ratios of tokens per second genbench / torch, for the record's
``train_tokens_per_s`` (timed calls of the compiled step) and for the fit's own wall
time (``train_s``, compilation excluded), also over the quiet rounds
(``benchmarks/timing.py``). ``inner1`` is the call length of one step, the default
before the family defaults were measured.

GENBENCH_WRITE_RESULTS=1 writes ``results/benchmarks/transformer_run_cpu.json``;
GENBENCH_BENCH_ROUNDS sets the number of rounds (default 3).
Run: ``python -m pytest benchmarks/test_transformer_run.py -s``.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from benchmarks.conftest import _environment, collect_results
from benchmarks.test_vae_step import _torch
from benchmarks.timing import QUIET, busy_ticks, foreign_share, report, timed_segment
from benchmarks.transformer_setup import (
    BATCH,
    BLOCK,
    N_EMBD,
    N_HEAD,
    N_LAYER,
    N_ROWS,
    N_TEST_ROWS,
    ROW_LENGTH,
    VOCAB,
    markov_text,
)
from benchmarks.vae_setup import cpu_threads
from genbench.runner import run
from genbench.spec import resolve

ROUNDS = int(os.environ.get("GENBENCH_BENCH_ROUNDS", "3"))
STEPS = 40  # the run: `genbench run` of the benchmark config for 40 steps
MODEL = {"model.n_layer": N_LAYER, "model.n_head": N_HEAD, "model.n_embd": N_EMBD}
# The evaluation only: fewer timed calls and test windows, no training setting.
EVAL = {"eval.timing_calls": 5, "eval.max_examples": 8}
CALL_LENGTHS = {"defaults": {}, "inner1": {"train.inner_steps": 1}}
RESULTS_FILE = (
    Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "transformer_run_cpu.json"
)


@pytest.fixture(scope="module")
def run_results():
    """A dict the tests fill; written to ``RESULTS_FILE`` when GENBENCH_WRITE_RESULTS=1."""
    setup = {"steps": STEPS, "model": MODEL, "block_size": BLOCK, "eval": EVAL}
    yield from collect_results(RESULTS_FILE, _environment() | setup)


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory) -> Path:
    """The step benchmark's rows (``markov_text``), train and test, as a ``.npy`` file."""
    path = tmp_path_factory.mktemp("markov65") / "markov65.npy"
    np.save(path, markov_text(N_ROWS + N_TEST_ROWS, ROW_LENGTH))
    return path


def run_spec(rows_file: Path, call_length: dict):
    """The spec ``genbench run transformer file`` resolves for the issue's run."""
    data = {
        "data.path": str(rows_file),
        "data.kind": "sequence",
        "data.levels": VOCAB,
        "data.test_fraction": N_TEST_ROWS / (N_ROWS + N_TEST_ROWS),
    }
    overrides = data | MODEL | {"model.block_size": BLOCK, "train.steps": STEPS}
    return resolve("transformer", "file", overrides=overrides | EVAL | call_length)


def _genbench_round(spec) -> dict:
    """One whole run: tokens/s of its record and of its fit's wall time, and the load."""
    before, start = busy_ticks(), time.perf_counter()
    record = run(spec, devices=jax.devices()[:1])
    wall_s = time.perf_counter() - start
    assert record.status == "ok", record.error
    throughput = record.throughput
    tokens_per_step = spec.config.train.batch_size * BLOCK
    return {
        "record_tokens_per_s": throughput["train_tokens_per_s"],
        "fit_tokens_per_s": STEPS * tokens_per_step / throughput["train_s"],
        "foreign": foreign_share(before, busy_ticks(), wall_s),
        "run_s": wall_s,
        "inner_steps": record.config["train"]["inner_steps"],
        "final_loss": record.history[-1]["loss"],
    }


def _rounds(spec, trainer) -> dict:
    """``ROUNDS`` rounds, a genbench run then ``STEPS`` torch steps; medians of the ratios."""
    trainer.run(1)  # warm-up
    ours, theirs, foreign = [], [], []
    for _ in range(ROUNDS):
        ours.append(_genbench_round(spec))
        step_ms, _, share = timed_segment(trainer.run, STEPS, 1, budget_s=120.0)
        theirs.append(BATCH * BLOCK / step_ms * 1e3)
        foreign.append([ours[-1]["foreign"], share])
    quiet = [None not in f and max(f) < QUIET for f in foreign]
    result = {"rounds": ROUNDS, "steps": STEPS, "inner_steps": ours[0]["inner_steps"]}
    result["torch_tokens_per_s_median"] = statistics.median(theirs)
    for figure in ("record", "fit"):
        values = [o[f"{figure}_tokens_per_s"] for o in ours]
        ratios = [v / t for v, t in zip(values, theirs, strict=True)]
        quiet_ratios = [r for r, q in zip(ratios, quiet, strict=True) if q]
        result[f"genbench_{figure}_tokens_per_s_median"] = statistics.median(values)
        result[f"ratio_{figure}_median"] = statistics.median(ratios)
        result[f"ratio_{figure}_median_quiet"] = (
            statistics.median(quiet_ratios) if quiet_ratios else None
        )
        result[f"ratios_{figure}"] = ratios
    result["quiet_rounds"] = sum(quiet)
    result["final_loss"] = {"genbench": ours[-1]["final_loss"], "torch": trainer.last_loss}
    result["threads"] = cpu_threads()
    result["foreign_cpu_share"] = foreign
    return result


@pytest.mark.parametrize("call_length", sorted(CALL_LENGTHS))
def test_transformer_run_ratio(benchmark, run_results, rows_file, call_length):
    """Median ratio genbench / torch of tokens per second, a whole genbench run per round."""
    torch = _torch(cpu_threads())
    from benchmarks.peers.torch_transformer import TorchTransformerTrainer

    spec = run_spec(rows_file, CALL_LENGTHS[call_length])
    trainer = TorchTransformerTrainer(markov_text(N_ROWS, ROW_LENGTH), spec.config, VOCAB)
    result = benchmark.pedantic(_rounds, args=(spec, trainer), rounds=1, iterations=1)
    result["torch"] = torch.__version__
    title = f"{call_length}: genbench run / torch eager tokens per second, {ROUNDS} rounds"
    report(benchmark, run_results, call_length, result, title)
