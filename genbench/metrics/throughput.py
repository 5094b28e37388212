"""Throughput figures exactly as DESIGN §5 defines them."""

from __future__ import annotations

import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genbench import contract
from genbench.metrics.batching import ModelFunction, test_examples
from genbench.metrics.evaluate import primary_eval_fn
from genbench.metrics.hardware import peak_flops

WARMUP_CALLS = 2


def time_calls(call, n: int) -> list[float]:
    """Wall-clock seconds of ``n`` calls of ``call()``, each closed by ``block_until_ready``."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - start)
    return times


def step_seconds(step_fn, state, calls: int) -> float:
    """Median seconds per optimisation step, timed on a copy of ``state``.

    The copy is donated call after call, so the run's own state is untouched;
    each timed call includes the harness's data feeding (host-side call inputs).
    """
    copy = jax.tree.map(jnp.copy, state)
    position = {"state": copy, "step": 0}

    def call():
        position["state"], out = step_fn(position["state"], position["step"])
        position["step"] += step_fn.inner_steps
        return out

    time_calls(call, WARMUP_CALLS)
    return statistics.median(time_calls(call, calls)) / step_fn.inner_steps


def eval_seconds_per_example(model, data: np.ndarray, fn, batch_size: int, calls: int) -> float:
    """Median seconds per example of one compiled call of the per-example ``fn``."""
    size = min(batch_size, len(data))
    function = ModelFunction(model, fn, size)
    batch = jnp.asarray(data[:size], jnp.float32)
    key = jax.random.key(0)
    time_calls(lambda: function.call_batch(batch, key), WARMUP_CALLS)
    return statistics.median(time_calls(lambda: function.call_batch(batch, key), calls)) / size


SAMPLE_SEQUENCES = 8  # sequences per timed sampling call
SAMPLE_CALLS = 3  # timed sampling calls at most (a call draws whole sequences)


def sample_tokens_per_s(model, timing_calls: int) -> float:
    """Tokens per second of the model's compiled ``sample(rng, n)`` (median of timed calls).

    ``SAMPLE_SEQUENCES`` sequences per call; tokens = sequences x their length.
    For a transformer this is its KV-cache sampler.
    """
    graphdef, state = nnx.split(model)
    sample = jax.jit(lambda s, key: nnx.merge(graphdef, s).sample(key, SAMPLE_SEQUENCES))
    key = jax.random.key(0)
    tokens = int(np.prod(jax.eval_shape(sample, state, key).shape))
    time_calls(lambda: sample(state, key), 1)
    seconds = statistics.median(
        time_calls(lambda: sample(state, key), min(timing_calls, SAMPLE_CALLS))
    )
    return tokens / seconds


def device_peak_bytes(devices) -> int | None:
    """The largest ``peak_bytes_in_use`` of ``devices``' ``memory_stats()``, or None.

    Accelerators (GPU, TPU) report their allocator's peak there; XLA:CPU reports
    no statistics (``None``), so a CPU mesh gives None. Over several devices of a
    data-parallel mesh the busiest one counts: it is the one that runs out first.
    """
    peaks = [
        int(stats["peak_bytes_in_use"])
        for stats in (device.memory_stats() or {} for device in devices)
        if "peak_bytes_in_use" in stats
    ]
    return max(peaks) if peaks else None


def peak_memory_bytes(step_fn) -> int:
    """Device peak from ``memory_stats()``; on CPU, the compiled step's footprint.

    On accelerators: the largest ``peak_bytes_in_use`` of this process's devices
    (``device_peak_bytes``). The CPU figure is arguments + outputs + temporaries -
    aliased (donated) bytes of the compiled training call, from XLA's memory analysis.
    """
    peak = device_peak_bytes(jax.local_devices())
    if peak is not None:
        return peak
    mem = step_fn.memory_analysis()
    if mem is None:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    total = mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
    return int(total - mem.alias_size_in_bytes)


def throughput_metrics(
    model,
    fit_result,
    train_cfg,
    eval_cfg,
    eval_data,
    eval_fn,
    tokens_per_example: int | None = None,
) -> dict[str, float | None]:
    """``compile_s``, ``step_ms``, examples/s, FLOPs, MFU, HFU and peak memory of a run.

    Args:
      model: the trained NNX module (``flops_per_example`` if it has one).
      fit_result: the ``FitResult`` (compiled step and final state).
      train_cfg, eval_cfg: config sections.
      eval_data: host examples for the evaluation timing.
      eval_fn: per-example evaluation ``(model, x, rng) -> [B]`` to time, or None.
      tokens_per_example: for sequence data, tokens per example (adds ``train_tokens_per_s``);
        a model's own ``tokens_per_example`` (a transformer's B positions per window) wins.
    """
    step_s = step_seconds(fit_result.step_fn, fit_result.state, eval_cfg.timing_calls)
    # A seed group's program trains every seed's batch in each step: its figures are the
    # group's (``parallel_seeds`` says how many runs share them).
    seeds = fit_result.step_fn.parallel_seeds
    batch = train_cfg.batch_size * seeds
    out: dict[str, float | None] = {
        "compile_s": fit_result.compile_s,
        "step_ms": step_s * 1e3,
        "train_examples_per_s": batch / step_s,
        "train_s": fit_result.train_s,
    }
    tokens_per_example = contract.tokens_per_example(model) or tokens_per_example
    if tokens_per_example:
        out["train_tokens_per_s"] = batch * tokens_per_example / step_s
        if contract.has(model, "sample"):
            out["sample_tokens_per_s"] = sample_tokens_per_s(model, eval_cfg.timing_calls)
    if eval_fn is not None:
        per_example = eval_seconds_per_example(
            model, eval_data, eval_fn, eval_cfg.batch_size, eval_cfg.timing_calls
        )
        out["eval_examples_per_s"] = 1.0 / per_example
    flops_step = fit_result.step_fn.single_step_flops(fit_result.state)
    peak, _ = peak_flops()
    out["flops_per_step"] = flops_step
    per_example = contract.flops_per_example(model)
    analytic = per_example * batch if per_example is not None else None
    out["analytic_flops_per_step"] = analytic
    if tokens_per_example:
        tokens_per_step = batch * tokens_per_example
        out["flops_per_token"] = flops_step / tokens_per_step if flops_step else None
        per_token = contract.analytic_flops_per_token(model)
        out["analytic_flops_per_token"] = (
            per_token if per_token else analytic / tokens_per_step if analytic else None
        )
    out["peak_flops_per_s"] = peak
    out["mfu"] = analytic / step_s / peak if analytic and peak else None
    out["hfu"] = flops_step / step_s / peak if flops_step and peak else None
    out["peak_memory_bytes"] = peak_memory_bytes(fit_result.step_fn)
    if seeds > 1:
        out["parallel_seeds"] = seeds
    return out


def exact_fit_throughput(
    model, fit_s: float, num_train: int, eval_cfg, eval_data, eval_fn
) -> dict[str, float | None]:
    """Throughput of a closed-form or EM fit: ``fit_s`` (compilation excluded), training
    examples/s, evaluation examples/s."""
    out: dict[str, float | None] = {
        "fit_s": fit_s,
        "train_examples_per_s": num_train / fit_s if fit_s > 0 else None,
    }
    if eval_fn is not None:
        per_example = eval_seconds_per_example(
            model, eval_data, eval_fn, eval_cfg.batch_size, eval_cfg.timing_calls
        )
        out["eval_examples_per_s"] = 1.0 / per_example
    return out


def fit_throughput(model, outcome, dataset, view, train_cfg, eval_cfg) -> dict[str, float | None]:
    """The throughput section of any fit kind's record.

    A fit that compiled the shared step (``outcome.gradient``) is timed by its
    step (``throughput_metrics``); a closed-form or EM fit by its wall time
    (``exact_fit_throughput``). Both time the model's primary evaluation
    (``primary_eval_fn``) on the test examples.

    Args:
      model: the trained model.
      outcome: the ``genbench.train.fits.FitOutcome``.
      dataset: the ``Dataset`` (training size; tokens per example of sequences).
      view: the model's ``DataView`` of the dataset.
      train_cfg, eval_cfg: config sections.
    """
    eval_data, eval_fn = test_examples(dataset, eval_cfg), primary_eval_fn(model, view)
    if outcome.gradient is None:
        out = exact_fit_throughput(
            model, outcome.fit_s, len(dataset.train), eval_cfg, eval_data, eval_fn
        )
        return {"compile_s": outcome.compile_s, **out}
    tokens = dataset.event_shape[0] if dataset.kind == "sequence" else None
    return throughput_metrics(
        model, outcome.gradient, train_cfg, eval_cfg, eval_data, eval_fn, tokens
    )
