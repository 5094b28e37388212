"""The device script's two Python steps: what the machine is, and the run's summary.

``python benchmarks/device/report.py environment OUT`` prints the versions and
``jax.devices()`` and writes them to ``OUT/environment.json``; it exits 1 with one
line when the requested platform has no device. ``python benchmarks/device/report.py
summary OUT --phases FILE --started EPOCH`` writes ``OUT/summary.md`` from what the
script left in ``OUT`` (the phases' statuses, ``environment.json``, ``table.md``,
``bench.json``, ``compare.md``), whatever is missing. ``python benchmarks/device/report.py
bench OUT FILE...`` merges pytest-benchmark JSON files (one per benchmark file, so a
file stopped at its time limit loses only its own) into ``OUT/bench.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

BENCH_COLUMNS = ("step_ms", "harness_step_ms", "compile_s", "mfu", "hfu", "tokens_per_s")


def environment(out: Path) -> int:
    """Prints and writes the run's environment; 1 when jax finds no device of its platform.

    Args:
      out: the output folder; ``environment.json`` is written there.

    Returns:
      The exit status.
    """
    try:
        import jax

        devices = jax.devices()
    except Exception as error:  # jax raises RuntimeError or AssertionError (no plugin)
        reason = str(error).splitlines()[0] if str(error) else "jax found no such platform"
        platforms = os.environ.get("JAX_PLATFORMS") or "default"
        print(f"no {platforms} device: {type(error).__name__}: {reason}")
        return 1
    import genbench
    from genbench import runtime

    env = runtime.environment()
    env["devices"] = [str(d) for d in devices]
    env["genbench_path"] = str(Path(genbench.__file__).parent)
    env["memory_bytes_limit"] = (devices[0].memory_stats() or {}).get("bytes_limit")
    (out / "environment.json").write_text(json.dumps(env, indent=1) + "\n", "utf-8")
    for key, value in env.items():
        print(f"{key}: {value}")
    return 0


def read_phases(path: Path) -> list[tuple[str, str, float, str]]:
    """The script's phases: ``(name, status, seconds, note)`` per tab-separated line."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text("utf-8").splitlines():
        name, status, seconds, note = (line.split("\t") + ["", "", "", ""])[:4]
        rows.append((name, status, float(seconds or 0), note))
    return rows


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def bench_table(path: Path) -> str:
    """pytest-benchmark's JSON as a Markdown table: median ms per call and the extra figures."""
    try:
        benchmarks = json.loads(path.read_text("utf-8"))["benchmarks"]
    except (OSError, ValueError, KeyError):
        return "(no benchmark results)"
    if not benchmarks:
        return "(no benchmark ran)"
    lines = [
        "| benchmark | median ms / call | rounds | " + " | ".join(BENCH_COLUMNS) + " |",
        "|---" * (3 + len(BENCH_COLUMNS)) + "|",
    ]
    for bench in benchmarks:
        stats, extra = bench["stats"], bench.get("extra_info", {})
        cells = [bench["name"], _cell(stats["median"] * 1e3), _cell(stats["rounds"])]
        cells += [_cell(extra.get(column)) for column in BENCH_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _section(title: str, path: Path, missing: str) -> list[str]:
    text = path.read_text("utf-8").strip() if path.exists() else missing
    return [f"## {title}", "", text, ""]


def summary_markdown(out: Path, phases: list, started: float, command: str) -> str:
    """The summary page of a device run (see the module docstring)."""
    env_path = out / "environment.json"
    env = json.loads(env_path.read_text("utf-8")) if env_path.exists() else {}
    wall = time.time() - started
    failed = [name for name, status, _, _ in phases if status != "ok"]
    lines = [
        f"# genbench device run: {env.get('device_kind', 'no device')} "
        f"({env.get('backend', '?')} x {env.get('device_count', '?')})",
        "",
        f"- command: `{command}`",
        f"- finished: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
        f"- wall time: {wall:.0f} s",
        f"- result: {'all phases ok' if not failed else 'FAILED: ' + ', '.join(failed)}",
        "",
        "| phase | status | seconds | note |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {s} | {t:.0f} | {note} |" for n, s, t, note in phases]
    lines += ["", "## Environment", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()] or ["(not probed)"]
    lines += [""]
    lines += _section("Suite table (`genbench table`)", out / "table.md", "(no records)")
    lines += ["## Step benchmarks (`benchmarks/test_*_step.py -k test_genbench_`)", ""]
    lines += [bench_table(out / "bench.json"), ""]
    if (out / "compare.md").exists():
        title = "Against the committed CPU results (`genbench compare`)"
        lines += _section(title, out / "compare.md", "")
    return "\n".join(lines)


def merge_bench(out: Path, files: list[Path]) -> int:
    """Writes the benchmarks of all readable ``files`` to ``out/bench.json``; returns how many."""
    merged: dict = {"benchmarks": []}
    for path in files:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue  # a benchmark file stopped before pytest-benchmark wrote it
        merged["benchmarks"] += data.get("benchmarks", [])
        merged.setdefault("machine_info", data.get("machine_info"))
        merged.setdefault("datetime", data.get("datetime"))
        merged.setdefault("version", data.get("version"))
    (out / "bench.json").write_text(json.dumps(merged, indent=1) + "\n", "utf-8")
    return len(merged["benchmarks"])


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``environment``, ``bench`` or ``summary`` (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("environment").add_argument("out", type=Path)
    p = sub.add_parser("bench")
    p.add_argument("out", type=Path)
    p.add_argument("files", type=Path, nargs="*")
    p = sub.add_parser("summary")
    p.add_argument("out", type=Path)
    p.add_argument("--phases", type=Path, required=True)
    p.add_argument("--started", type=float, required=True)
    p.add_argument("--command", default="bash benchmarks/device/run.sh")
    args = parser.parse_args(argv)
    if args.what == "environment":
        return environment(args.out)
    if args.what == "bench":
        print(f"benchmarks: {merge_bench(args.out, args.files)} in {args.out / 'bench.json'}")
        return 0
    text = summary_markdown(args.out, read_phases(args.phases), args.started, args.command)
    (args.out / "summary.md").write_text(text + "\n", "utf-8")
    print(f"summary: {args.out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
