"""VAE ``iwae`` preset, 784-D binary data, batch 128: genbench's shared step vs PyTorch eager.

Run: ``python -m pytest benchmarks/test_vae_step.py -s``. The ratio is also
measured on 64-D data (the size of the digits), where dispatch, not GEMM,
dominates. Both sides use the process's cores: JAX's CPU client uses all
cores in the affinity mask, and torch is set to the same number of threads.
``test_vae_speed_ratio`` interleaves rounds (genbench, torch, genbench, ...)
so that drifts in the machine's speed hit both, and reports the median ratio
of step times. Set GENBENCH_WRITE_RESULTS=1 to write the numbers to
results/benchmarks/, and GENBENCH_ASSERT_SPEED=1 to assert the 1.4x target.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import pytest

from benchmarks.vae_setup import BATCH, GenbenchTrainer, binary_data

ROUNDS, STEPS_PER_ROUND, TARGET = 7, 200, 1.4
RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


def threads() -> int:
    return len(os.sched_getaffinity(0))


@pytest.fixture(scope="module")
def data():
    return binary_data()


@pytest.mark.parametrize("inner_steps", [1, 50], ids=["inner1", "inner50"])
def test_genbench_vae_step(benchmark, data, inner_steps):
    trainer = GenbenchTrainer(data, inner_steps)
    trainer.run(2 * inner_steps)
    benchmark.extra_info["compile_s"] = trainer.compile_s
    benchmark.pedantic(trainer.run, args=(inner_steps,), rounds=20, warmup_rounds=2)
    benchmark.extra_info["step_ms"] = benchmark.stats.stats.median / inner_steps * 1e3


def test_torch_vae_step(benchmark, data):
    torch = pytest.importorskip("torch")
    from benchmarks.peers.torch_vae import TorchTrainer

    torch.set_num_threads(threads())
    trainer = TorchTrainer(data, BATCH)
    trainer.run(5)
    benchmark.pedantic(trainer.run, args=(1,), rounds=50, warmup_rounds=5)
    benchmark.extra_info["step_ms"] = benchmark.stats.stats.median * 1e3


def _timed(trainer, steps: int) -> float:
    start = time.perf_counter()
    trainer.run(steps)
    return (time.perf_counter() - start) / steps


@pytest.mark.parametrize("dim", [784, 64], ids=["dim784", "dim64"])
def test_vae_speed_ratio(dim):
    torch = pytest.importorskip("torch")
    from benchmarks.peers.torch_vae import TorchTrainer

    torch.set_num_threads(threads())
    data = binary_data(dim=dim)
    ours, theirs = GenbenchTrainer(data, 50), TorchTrainer(data, BATCH)
    ours.run(100)
    theirs.run(20)
    ratios, ours_ms, theirs_ms = [], [], []
    for _ in range(ROUNDS):
        a = _timed(ours, STEPS_PER_ROUND)
        b = _timed(theirs, STEPS_PER_ROUND)
        ours_ms.append(a * 1e3)
        theirs_ms.append(b * 1e3)
        ratios.append(b / a)
    result = {
        "benchmark": f"vae iwae preset, {dim}-D binary, batch 128, Adam; data feeding included",
        "dim": dim,
        "threads": threads(),
        "rounds": ROUNDS,
        "steps_per_round": STEPS_PER_ROUND,
        "genbench_inner_steps": 50,
        "genbench_step_ms_median": statistics.median(ours_ms),
        "torch_eager_step_ms_median": statistics.median(theirs_ms),
        "ratio_torch_over_genbench_median": statistics.median(ratios),
        "ratios": ratios,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
    }
    print(json.dumps(result, indent=1))
    if os.environ.get("GENBENCH_WRITE_RESULTS") == "1":
        from genbench.results import write_text

        RESULTS.mkdir(parents=True, exist_ok=True)
        write_text(RESULTS / f"vae_step_cpu_dim{dim}.json", json.dumps(result, indent=1) + "\n")
    if os.environ.get("GENBENCH_ASSERT_SPEED") == "1":
        assert result["ratio_torch_over_genbench_median"] >= TARGET
