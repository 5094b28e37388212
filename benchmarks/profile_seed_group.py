"""Where a seed group's step spends its time: XLA's per-operation profile of one seed's
compiled call against a group of S seeds (vmapped), per seed and per step.

``test_parallel_seeds.py`` measures seeds per second; where a group is slower than S
sequential runs this says which operations got dearer. It traces two warmed calls of
each case's program with ``jax.profiler``, reads the XLA:CPU thunk events of the trace
(``jax.profiler.ProfileData``), sums their durations over the compute threads by
operation kind (the HLO instruction name without its ``.N`` suffix: ``dot_general``,
``multiply_add_fusion``, ...) and divides by steps and seeds. Operation time summed
over threads can exceed the wall time (two threads work at once) and misses the gaps
between operations; both are printed.

    python -m benchmarks.profile_seed_group                       # every case, S = 1 and 5
    python -m benchmarks.profile_seed_group --cases gan_ring8_pacgan2 --sizes 1,10
    python -m benchmarks.profile_seed_group --write    # and writes the results file:
    # results/benchmarks/parallel_seeds_profile_<backend>.json
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import re
import tempfile
import time

import jax
from jax.profiler import ProfileData

from benchmarks.conftest import _environment
from benchmarks.test_parallel_seeds import CASES, RESULTS, Warm, suite_spec
from genbench.atomic import atomic_write

_SUFFIX = re.compile(r"\.\d+$")
COMPUTE_THREADS = "tf_XLAEigen"  # XLA:CPU's intra-op pool: where the thunks run


def op_times(trace_dir: str) -> collections.Counter:
    """Nanoseconds per operation kind in the XLA:CPU compute threads of a trace.

    Args:
      trace_dir: the directory ``jax.profiler.trace`` wrote.

    Returns:
      ``Counter`` of operation kind -> summed duration in ns (executor spans excluded).
    """
    (path,) = glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True)
    times: collections.Counter = collections.Counter()
    for plane in ProfileData.from_file(path).planes:
        for line in plane.lines:
            if not line.name.startswith(COMPUTE_THREADS):
                continue
            for event in line.events:
                if not event.name.startswith("ThunkExecutor"):
                    times[_SUFFIX.sub("", event.name)] += event.duration_ns
    return times


def profile(case: str, seeds: int, calls: int = 2) -> dict:
    """The per-seed, per-step profile of ``calls`` warmed calls of ``case``'s program."""
    spec = suite_spec(case)
    inner = spec.config.train.inner_steps
    warm = Warm(spec, list(range(seeds)))
    warm.run(inner)
    start = time.perf_counter()
    warm.run(calls * inner)
    wall_ms = (time.perf_counter() - start) * 1e3 / (calls * inner * seeds)
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            warm.run(calls * inner)
        times = op_times(trace_dir)
    per_seed_step = {k: v / 1e6 / (calls * inner * seeds) for k, v in times.most_common()}
    return {
        "wall_ms_per_seed_step": wall_ms,
        "op_ms_per_seed_step": sum(per_seed_step.values()),
        "ops": per_seed_step,
    }


def compare(rows: dict[int, dict], top: int = 10) -> list[str]:
    """Lines of the ``top`` operation kinds of the smallest size, with each size's ms."""
    sizes = sorted(rows)

    def line(name: str, values: list[float]) -> str:
        ratio = values[-1] / values[0] if values[0] else float("nan")
        return name.ljust(28) + "".join(f"{v:10.3f}" for v in values) + f"   {ratio:5.2f}"

    lines = ["op kind".ljust(28) + "".join(f"S={s}".rjust(10) for s in sizes) + "   ratio"]
    for name in list(rows[sizes[0]]["ops"])[:top]:
        lines.append(line(name, [rows[s]["ops"].get(name, 0.0) for s in sizes]))
    for key in ("op_ms_per_seed_step", "wall_ms_per_seed_step"):
        lines.append(line(key, [rows[s][key] for s in sizes]))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(sorted(CASES)))
    parser.add_argument("--sizes", default="1,5")
    parser.add_argument("--write", action="store_true", help="write the results file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for case in args.cases.split(","):
        rows = {s: profile(case, s) for s in sizes}
        results[case] = {str(s): row for s, row in rows.items()}
        print(f"\n{case}: ms per seed and step")
        print("\n".join(compare(rows)))
    if args.write:
        path = RESULTS / f"parallel_seeds_profile_{jax.default_backend()}.json"
        payload = {"environment": _environment(), "profiles": results}
        atomic_write(path, json.dumps(payload, indent=1) + "\n")
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
