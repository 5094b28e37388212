"""The VAE ``iwae`` preset's training step, genbench vs PyTorch eager, on 784-D binary data.

Batch 128, Adam 1e-3, 10,000 training examples; both sides feed their data
the same way (one permutation per epoch, a gathered batch per step).

- ``test_genbench_vae_step[inner1|inner50]``: one compiled call of the
  harness's shared step (``inner_steps`` optimisation steps, data feeding
  included); ``extra_info['step_ms']`` is the median per optimisation step.
- ``test_torch_vae_step``: one PyTorch eager step.
- ``test_vae_speed_ratio[dim784|dim64]``: ``ROUNDS`` interleaved rounds
  (genbench at inner 50, torch, genbench, torch, ...) of ``STEPS_PER_ROUND``
  steps each, after warm-up, so that drifts in the machine's speed hit both
  sides; reports the median of the per-round ratios torch / genbench (and the
  ratio of the best rounds). 64-D is the size of the 8x8 digits, where
  per-step overheads matter more than the matmuls.

That the peer computes genbench's loss, gradients and Adam steps (same weights and
noise) is a test, run by CI: ``tests/test_peers_torch.py``.

Threads: XLA's CPU client uses every core in the affinity mask by default;
torch is set to the same number. GENBENCH_WRITE_RESULTS=1 writes the numbers
to ``results/benchmarks/vae_step_cpu.json``; GENBENCH_ASSERT_SPEED=1 makes the
784-D ratio test fail below ``TARGET`` (CPU timings on shared machines are too
noisy to assert by default).
"""

from __future__ import annotations

import os

import pytest

from benchmarks.timing import benchmark_ratio, pedantic, ratio_context, report, step_call_info
from benchmarks.vae_setup import BATCH, GenbenchStep, binary_dataset, cpu_threads

ROUNDS, STEPS_PER_ROUND, RATIO_INNER_STEPS, TARGET = 9, 200, 50, 1.4


def _median_s(benchmark) -> float | None:
    """Median seconds per benchmarked call (None when pytest-benchmark is disabled)."""
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else stats.stats.median


def _torch(threads: int):
    """torch with ``threads`` intra-op threads, or a skip when the peers extra is missing."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(threads)
    return torch


@pytest.mark.parametrize("inner_steps", [1, 50], ids=["inner1", "inner50"])
def test_genbench_vae_step(benchmark, dataset, bench_results, inner_steps):
    """One compiled call of the shared step; ``step_ms`` = its median / ``inner_steps``."""
    step = GenbenchStep(dataset, inner_steps)
    rounds = 200 if inner_steps == 1 else 20
    info = step_call_info(benchmark, step, rounds, warmup_rounds=3, harness_calls=20)
    if info is None:
        return
    benchmark.extra_info.update(info)
    bench_results[f"genbench_inner{inner_steps}"] = info
    print(f"\ngenbench inner {inner_steps}: {info['step_ms']:.3f} ms/step")


def test_torch_vae_step(benchmark, dataset, bench_results):
    """One PyTorch eager step with as many threads as JAX uses."""
    _torch(cpu_threads())
    from benchmarks.peers.torch_vae import TorchTrainer

    trainer = TorchTrainer(dataset.train, BATCH)
    foreign = pedantic(benchmark, trainer.run, args=(1,), rounds=200, warmup_rounds=10)
    median = _median_s(benchmark)
    if median is None:
        return
    info = {
        "threads": cpu_threads(),
        "calls": 200,
        "step_ms": median * 1e3,
        "foreign_cpu_share": foreign,
    }
    benchmark.extra_info.update(info)
    bench_results["torch_eager"] = info
    print(f"\ntorch eager: {info['step_ms']:.3f} ms/step")


@pytest.mark.parametrize("dim", [784, 64], ids=["dim784", "dim64"])
def test_vae_speed_ratio(benchmark, bench_results, dim):
    """Median ratio torch / genbench (inner 50) over interleaved rounds, same thread count."""
    torch = _torch(cpu_threads())
    from benchmarks.peers.torch_vae import TorchTrainer

    data = binary_dataset(dim)
    ours = GenbenchStep(data, RATIO_INNER_STEPS)
    theirs = TorchTrainer(data.train, BATCH)
    ours.run(2 * RATIO_INNER_STEPS)
    theirs.run(20)
    result = benchmark_ratio(
        benchmark, ours, theirs, ROUNDS, STEPS_PER_ROUND, (RATIO_INNER_STEPS, 10)
    )
    result |= {
        "dim": dim,
        "batch_size": BATCH,
    }
    result |= ratio_context(ours, theirs, cpu_threads(), torch.__version__)
    title = f"{dim}-D, torch / genbench (inner {RATIO_INNER_STEPS}), {ROUNDS} interleaved rounds"
    report(benchmark, bench_results, f"ratio_dim{dim}", result, title)
    if dim == 784 and os.environ.get("GENBENCH_ASSERT_SPEED") == "1":
        assert result["ratio_median"] >= TARGET, f"median ratio {result['ratio_median']:.2f}"
