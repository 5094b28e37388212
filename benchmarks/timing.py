"""Timing helpers of the benchmarks: interleaved rounds, and how busy the machine was.

On a shared machine other processes slow both sides of a comparison, and
PyTorch's OpenMP threads far more than XLA's (a thread that waits at a barrier
for a descheduled peer). So each timed segment also records the share of the
machine's cores that other processes used meanwhile, from ``/proc/stat`` and
``/proc/self/stat`` (Linux; None elsewhere), and a round counts as quiet when
both of its segments saw less than ``QUIET`` of it.
"""

from __future__ import annotations

import os
import statistics
import time

QUIET = 0.1  # a round is quiet when other processes used < 10% of the machine
BUDGET_S = 5.0  # at most this long per timed segment (a busy machine stops it early)


def busy_ticks() -> tuple[int, int] | None:
    """(busy clock ticks of the whole machine, of this process); None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    return busy, int(own[11]) + int(own[12])  # utime + stime, all threads


def foreign_share(before, after, wall: float) -> float | None:
    """Share of the machine's cores that other processes used between two ``busy_ticks``."""
    if before is None or after is None:
        return None
    ticks = (after[0] - before[0]) - (after[1] - before[1])
    return max(ticks, 0) / (wall * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1))


def timed_segment(run, steps: int, chunk: int, budget_s: float) -> tuple[float, int, float | None]:
    """Times up to ``steps`` steps of ``run`` in chunks of ``chunk``, stopping after ``budget_s``.

    Returns (ms per step, steps timed, share of the machine other processes
    used meanwhile). The budget bounds a segment on a busy machine, where
    PyTorch's steps can become 100x slower; on a quiet one all steps run.
    """
    before, start, done = busy_ticks(), time.perf_counter(), 0
    while done < steps and (done == 0 or time.perf_counter() - start < budget_s):
        run(chunk)  # both sides return the last loss as a float, which waits for the work
        done += chunk
    wall = time.perf_counter() - start
    return wall / done * 1e3, done, foreign_share(before, busy_ticks(), wall)


def pedantic(benchmark, function, **kwargs) -> float | None:
    """``benchmark.pedantic``; returns the share of the machine other processes used meanwhile."""
    before, start = busy_ticks(), time.perf_counter()
    benchmark.pedantic(function, **kwargs)
    return foreign_share(before, busy_ticks(), time.perf_counter() - start)


def step_call_info(benchmark, step, rounds: int, warmup_rounds: int, harness_calls: int):
    """Times ``step.call`` (one compiled call of genbench's shared step) with pytest-benchmark.

    Returns the figures the step benchmarks record: ``step_ms`` (median per
    optimisation step), ``harness_step_ms`` (what ``genbench.metrics.throughput``
    would put in a result record, from ``harness_calls`` calls), ``compile_s`` and the
    foreign load; None when pytest-benchmark is disabled.
    """
    from genbench.metrics.throughput import step_seconds

    foreign = pedantic(benchmark, step.call, rounds=rounds, warmup_rounds=warmup_rounds)
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return None
    return {
        "inner_steps": step.inner_steps,
        "calls": rounds,
        "step_ms": stats.stats.median / step.inner_steps * 1e3,
        "harness_step_ms": step_seconds(step.step_fn, step.state, harness_calls) * 1e3,
        "compile_s": step.compile_s,
        "foreign_cpu_share": foreign,
    }


def report(benchmark, results: dict, name: str, result: dict, title: str) -> None:
    """Puts ``result`` in pytest-benchmark's ``extra_info`` (lists left out), in the
    file's results under ``name``, and prints it under ``title``."""
    import json

    benchmark.extra_info.update({k: v for k, v in result.items() if not isinstance(v, list)})
    results[name] = result
    print(f"\n{title}:")
    for key, value in result.items():
        print(f"  {key}: {json.dumps(rounded(value))}")


def benchmark_ratio(benchmark, ours, theirs, rounds: int, steps: int, chunks: tuple[int, int]):
    """``interleaved_ratio`` run once under pytest-benchmark (whose time is the whole run)."""
    return benchmark.pedantic(
        interleaved_ratio, args=(ours, theirs, rounds, steps, chunks), rounds=1, iterations=1
    )


def utilisation(step, step_ms: float) -> dict:
    """``mfu`` and ``hfu`` of a benchmark's genbench step at ``step_ms`` per step.

    As ``genbench.metrics.throughput`` has them: analytic FLOPs are
    ``model.flops_per_example() x batch``, XLA's are ``step_fn.single_step_flops``,
    and the peak is ``genbench.metrics.hardware.peak_flops`` (on CPU, a measured
    matmul rate). ``step`` has ``model``, ``config``, ``step_fn`` and ``state``.
    """
    from genbench.metrics.hardware import peak_flops

    peak, source = peak_flops()
    analytic = step.model.flops_per_example() * step.config.train.batch_size
    xla = step.step_fn.single_step_flops(step.state)
    step_s = step_ms / 1e3
    return {
        "analytic_flops_per_step": analytic,
        "flops_per_step": xla,
        "peak_flops_per_s": peak,
        "peak_source": source,
        "mfu": analytic / step_s / peak if peak else None,
        "hfu": xla / step_s / peak if xla and peak else None,
    }


def ratio_context(ours, theirs, threads: int, torch_version: str) -> dict:
    """What a ratio result records of its run: call length, threads, torch, final losses."""
    return {
        "genbench_inner_steps": ours.inner_steps,
        "threads": threads,
        "torch": torch_version,
        "final_loss": {"genbench": ours.last_loss, "torch": theirs.last_loss},
    }


def interleaved_ratio(
    ours, theirs, rounds: int, steps: int, chunks: tuple[int, int], budget_s: float = BUDGET_S
) -> dict:
    """Times ``steps`` steps of each side per round, alternating; returns the summary.

    ``ours`` and ``theirs`` have ``run(steps) -> last loss`` and are run in
    chunks of ``chunks[0]`` and ``chunks[1]`` steps (genbench's chunk is its
    ``inner_steps``), at most ``budget_s`` seconds per segment. Reports the
    median of the per-round ratios theirs / ours, the ratio of the best rounds,
    and the medians over the quiet rounds only (see the module docstring).
    """
    ours_ms, theirs_ms, foreign, timed = [], [], [], []
    for _ in range(rounds):
        o, o_steps, o_foreign = timed_segment(ours.run, steps, chunks[0], budget_s)
        t, t_steps, t_foreign = timed_segment(theirs.run, steps, chunks[1], budget_s)
        ours_ms.append(o)
        theirs_ms.append(t)
        foreign.append([o_foreign, t_foreign])
        timed.append([o_steps, t_steps])
    ratios = [t / o for o, t in zip(ours_ms, theirs_ms, strict=True)]
    is_quiet = [None not in f and max(f) < QUIET for f in foreign]

    def quiet_median(values):
        quiet = [v for v, q in zip(values, is_quiet, strict=True) if q]
        return statistics.median(quiet) if quiet else None

    return {
        "rounds": rounds,
        "steps_per_round": steps,
        "genbench_step_ms_median": statistics.median(ours_ms),
        "torch_step_ms_median": statistics.median(theirs_ms),
        "ratio_median": statistics.median(ratios),
        "ratio_best_rounds": min(theirs_ms) / min(ours_ms),
        "quiet_rounds": sum(is_quiet),
        "ratio_median_quiet": quiet_median(ratios),
        "genbench_step_ms_median_quiet": quiet_median(ours_ms),
        "torch_step_ms_median_quiet": quiet_median(theirs_ms),
        "genbench_step_ms": ours_ms,
        "torch_step_ms": theirs_ms,
        "ratios": ratios,
        "foreign_cpu_share": foreign,
        "steps_timed": timed,
    }


def rounded(value):
    """``value`` with floats rounded to 4 significant digits, for printing."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value
