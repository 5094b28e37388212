"""One training step of the genbench transformer, genbench vs PyTorch eager, on CPU.

The issue's config: 4 layers, 4 heads, width 256, block 128, batch 32, V = 65, and
otherwise the ``shakespeare-char-cpu`` preset (``transformer_setup.py``,
``peers/torch_transformer.py``). Data: random windows of 129 tokens from synthetic
order-2 Markov text, gathered inside the step on both sides.

- ``test_genbench_transformer_step[inner1|inner10]``: one compiled call of the
  harness's shared step; ``extra_info['step_ms']`` is the median per step, beside
  tokens/s, ``mfu`` and ``hfu``.
- ``test_torch_transformer_step``: one PyTorch eager step.
- ``test_transformer_speed_ratio``: ``ROUNDS`` interleaved rounds (genbench, torch,
  genbench, ...). It reports the median of the per-round ratios torch / genbench (=
  genbench's throughput / torch's), the median over the quiet rounds
  (``benchmarks/timing.py``), tokens/s on both sides and genbench's ``mfu`` (analytic
  FLOPs) and ``hfu`` (XLA's cost analysis) at its median step time.

A step is 84 GFLOP (about half a second on 2 quiet cores). The ratio runs genbench
at ``inner_steps`` 10, one compiled call per round: a call of one step measured
565 ms per step against 471 ms for ten (quiet), more than dispatch alone explains,
and the preset trains at 50.

That the peer computes genbench's loss and AdamW steps (clipping, the decay mask, the
schedule) is a test, run by CI: ``tests/test_peers_torch.py``.

Threads: XLA uses every core in the affinity mask; torch is set to the same number.
GENBENCH_WRITE_RESULTS=1 writes ``results/benchmarks/transformer_step_cpu.json``;
GENBENCH_BENCH_ROUNDS sets the number of interleaved rounds (default 7).
Run: ``python -m pytest benchmarks/test_transformer_step.py -s``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.conftest import _environment, collect_results
from benchmarks.test_vae_step import _median_s, _torch
from benchmarks.timing import (
    benchmark_ratio,
    pedantic,
    ratio_context,
    report,
    step_call_info,
    utilisation,
)
from benchmarks.transformer_setup import (
    BATCH,
    BLOCK,
    INNER_STEPS,
    VOCAB,
    TransformerStep,
    markov_dataset,
    transformer_spec,
)
from benchmarks.vae_setup import cpu_threads
from genbench.metrics.hardware import peak_flops

ROUNDS = int(os.environ.get("GENBENCH_BENCH_ROUNDS", "7"))
STEPS_PER_ROUND, RATIO_INNER_STEPS = 10, 10
RESULTS_FILE = (
    Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "transformer_step_cpu.json"
)


@pytest.fixture(scope="module")
def markov():
    """The synthetic char-level dataset (1,000 rows of 1,025 symbols, V = 65)."""
    return markov_dataset()


@pytest.fixture(scope="module")
def transformer_results():
    """A dict the tests fill; written to ``RESULTS_FILE`` when GENBENCH_WRITE_RESULTS=1."""
    peak, source = peak_flops()
    setup = {
        "peak_flops_per_s": peak,
        "peak_source": source,
        "config": str(transformer_spec().config),
        "data": "markov65: 1,000 x 1,025 symbols of a seeded order-2 Markov chain, V = 65",
    }
    yield from collect_results(RESULTS_FILE, _environment() | setup)


def transformer_utilisation(step: TransformerStep, step_ms: float) -> dict:
    """``timing.utilisation`` plus genbench's tokens/s at ``step_ms`` per step.

    The analytic FLOPs are 6 N + 12 L H Q T per token (``model.flops_per_example``).
    """
    return {"tokens_per_s": step.tokens_per_step / (step_ms / 1e3)} | utilisation(step, step_ms)


@pytest.mark.parametrize("inner_steps", [1, INNER_STEPS], ids=["inner1", f"inner{INNER_STEPS}"])
def test_genbench_transformer_step(benchmark, transformer_results, markov, inner_steps):
    """One compiled call of the shared step; ``step_ms`` = its median / ``inner_steps``."""
    step = TransformerStep(markov, inner_steps)
    rounds = 5 if inner_steps == 1 else 2
    calls = 3 if inner_steps == 1 else 1
    info = step_call_info(benchmark, step, rounds, warmup_rounds=1, harness_calls=calls)
    if info is None:
        return
    info |= transformer_utilisation(step, info["step_ms"])
    name = f"genbench_inner{inner_steps}"
    report(benchmark, transformer_results, name, info, name)


def test_torch_transformer_step(benchmark, transformer_results, markov):
    """One PyTorch eager step with as many threads as JAX uses."""
    _torch(cpu_threads())
    from benchmarks.peers.torch_transformer import TorchTransformerTrainer

    trainer = TorchTransformerTrainer(markov.train, transformer_spec().config, VOCAB)
    foreign = pedantic(benchmark, trainer.run, args=(1,), rounds=5, warmup_rounds=1)
    median = _median_s(benchmark)
    if median is None:
        return
    tokens = BATCH * BLOCK
    info = {"threads": cpu_threads(), "calls": 5, "step_ms": median * 1e3}
    info |= {"tokens_per_s": tokens / median, "foreign_cpu_share": foreign}
    benchmark.extra_info.update(info)
    transformer_results["torch_eager"] = info
    print(f"\ntorch_eager: {info['step_ms']:.1f} ms/step, {info['tokens_per_s']:.0f} tokens/s")


def test_transformer_speed_ratio(benchmark, transformer_results, markov):
    """Median ratio torch / genbench over interleaved rounds, same thread count."""
    torch = _torch(cpu_threads())
    from benchmarks.peers.torch_transformer import TorchTransformerTrainer

    ours = TransformerStep(markov, RATIO_INNER_STEPS)
    theirs = TorchTransformerTrainer(markov.train, ours.config, VOCAB)
    theirs.model.load_genbench(ours.model)
    theirs.step = ours.next_step  # the same point of the learning-rate schedule
    ours.run(RATIO_INNER_STEPS)
    theirs.run(1)
    result = benchmark_ratio(
        benchmark, ours, theirs, ROUNDS, STEPS_PER_ROUND, (RATIO_INNER_STEPS, 1)
    )
    tokens = ours.tokens_per_step
    result["torch_tokens_per_s"] = tokens / result["torch_step_ms_median"] * 1e3
    result |= transformer_utilisation(ours, result["genbench_step_ms_median"])
    result["genbench_tokens_per_s"] = result.pop("tokens_per_s")
    if result["genbench_step_ms_median_quiet"] is not None:
        quiet_use = transformer_utilisation(ours, result["genbench_step_ms_median_quiet"])
        result["genbench_tokens_per_s_quiet"] = quiet_use["tokens_per_s"]
        result |= {"mfu_quiet": quiet_use["mfu"], "hfu_quiet": quiet_use["hfu"]}
        result["torch_tokens_per_s_quiet"] = tokens / result["torch_step_ms_median_quiet"] * 1e3
    result |= {
        "batch_size": BATCH,
        "tokens_per_step": tokens,
    }
    result |= ratio_context(ours, theirs, cpu_threads(), torch.__version__)
    title = f"ratio: torch / genbench (inner {RATIO_INNER_STEPS}), {ROUNDS} rounds"
    report(benchmark, transformer_results, "ratio", result, title)
