"""The ``pacgan`` GAN iteration on ``grid25``, genbench vs PyTorch eager.

One iteration is one discriminator phase and one generator phase, at batch 100 and
pack 1, on fresh samples of the 25-Gaussian grid (``gan_setup.py``, ``peers/torch_gan.py``).

- ``test_genbench_gan_step[inner1|inner100]``: one compiled call of the harness's shared
  step. ``extra_info['step_ms']`` is the median per iteration, beside ``mfu`` and ``hfu``.
- ``test_torch_gan_step``: one PyTorch eager iteration.
- ``test_gan_speed_ratio``: ``ROUNDS`` interleaved rounds (genbench at inner 100, torch,
  genbench, ...). It reports the median of the per-round ratios torch / genbench and the
  median over the quiet rounds (``benchmarks/timing.py``), and genbench's ``mfu``
  (analytic FLOPs) and ``hfu`` (XLA's cost analysis) at its median step time.

That the peer computes genbench's losses, gradients and Adam steps is a test, run by
CI: ``tests/test_peers_torch.py``.

Threads: XLA uses every core in the affinity mask; torch is set to the same number.
GENBENCH_WRITE_RESULTS=1 writes ``results/benchmarks/gan_step_cpu.json``;
GENBENCH_ASSERT_SPEED=1 makes the ratio test fail below ``TARGET``.
Run: ``python -m pytest benchmarks/test_gan_step.py -s``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.conftest import _environment, collect_results
from benchmarks.gan_setup import BATCH, PRESET_INNER_STEPS, PacganStep, pacgan_spec
from benchmarks.test_vae_step import _median_s, _torch
from benchmarks.timing import (
    benchmark_ratio,
    pedantic,
    ratio_context,
    report,
    step_call_info,
    utilisation,
)
from benchmarks.vae_setup import cpu_threads
from genbench.metrics.hardware import peak_flops

ROUNDS, STEPS_PER_ROUND, TARGET = 9, 200, 1.5
# G's BatchNorm: None is the preset's (none); True is pacgan-paper's generator.
VARIANTS = pytest.mark.parametrize("batchnorm", [None, True], ids=["preset", "batchnorm"])
RESULTS_FILE = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "gan_step_cpu.json"


@pytest.fixture(scope="module")
def gan_results():
    """A dict the tests fill; written to ``RESULTS_FILE`` when GENBENCH_WRITE_RESULTS=1."""
    peak, source = peak_flops()
    setup = {"peak_flops_per_s": peak, "peak_source": source, "config": str(pacgan_spec().config)}
    yield from collect_results(RESULTS_FILE, _environment() | setup)


@VARIANTS
@pytest.mark.parametrize(
    "inner_steps", [1, PRESET_INNER_STEPS], ids=["inner1", f"inner{PRESET_INNER_STEPS}"]
)
def test_genbench_gan_step(benchmark, gan_results, inner_steps, batchnorm):
    """One compiled call of the shared step; ``step_ms`` = its median / ``inner_steps``."""
    step = PacganStep(batchnorm, inner_steps)
    rounds = 100 if inner_steps == 1 else 5
    info = step_call_info(benchmark, step, rounds, warmup_rounds=2, harness_calls=5)
    if info is None:
        return
    info |= utilisation(step, info["step_ms"])
    name = f"genbench_{'batchnorm' if step.batchnorm else 'preset'}_inner{inner_steps}"
    report(benchmark, gan_results, name, info, name)


@VARIANTS
def test_torch_gan_step(benchmark, gan_results, batchnorm):
    """One PyTorch eager iteration with as many threads as JAX uses."""
    _torch(cpu_threads())
    from benchmarks.peers.torch_gan import TorchGANTrainer

    trainer = TorchGANTrainer(pacgan_spec(batchnorm).config.model.generator_batchnorm, BATCH)
    foreign = pedantic(benchmark, trainer.run, args=(1,), rounds=100, warmup_rounds=10)
    median = _median_s(benchmark)
    if median is None:
        return
    info = {"threads": cpu_threads(), "calls": 100, "step_ms": median * 1e3}
    info["foreign_cpu_share"] = foreign
    benchmark.extra_info.update(info)
    name = f"torch_eager_{'batchnorm' if batchnorm else 'preset'}"
    gan_results[name] = info
    print(f"\n{name}: {info['step_ms']:.3f} ms/iteration")


@VARIANTS
def test_gan_speed_ratio(benchmark, gan_results, batchnorm):
    """Median ratio torch / genbench (inner 100) over interleaved rounds, same thread count."""
    torch = _torch(cpu_threads())
    from benchmarks.peers.torch_gan import TorchGANTrainer

    ours = PacganStep(batchnorm, PRESET_INNER_STEPS)
    theirs = TorchGANTrainer(ours.batchnorm, BATCH)
    ours.run(PRESET_INNER_STEPS)
    theirs.run(20)
    result = benchmark_ratio(
        benchmark, ours, theirs, ROUNDS, STEPS_PER_ROUND, (PRESET_INNER_STEPS, 10)
    )
    result |= utilisation(ours, result["genbench_step_ms_median"])
    if result["genbench_step_ms_median_quiet"] is not None:
        quiet_use = utilisation(ours, result["genbench_step_ms_median_quiet"])
        result |= {"mfu_quiet": quiet_use["mfu"], "hfu_quiet": quiet_use["hfu"]}
    result |= {
        "generator_batchnorm": ours.batchnorm,
        "batch_size": BATCH,
    }
    result |= ratio_context(ours, theirs, cpu_threads(), torch.__version__)
    name = f"ratio_{'batchnorm' if ours.batchnorm else 'preset'}"
    title = f"{name}: torch / genbench (inner {PRESET_INNER_STEPS}), {ROUNDS} rounds"
    report(benchmark, gan_results, name, result, title)
    if batchnorm is None and os.environ.get("GENBENCH_ASSERT_SPEED") == "1":
        assert result["ratio_median"] >= TARGET, f"median ratio {result['ratio_median']:.2f}"
