"""The ``genbench`` command line: parse, validate (before jax is imported), call, print.

Bad input of any kind prints one line ``genbench: error: ...`` and exits with 2. A plugin
that failed to load prints one line ``genbench: warning: ...`` and the command goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from genbench import registry
from genbench.cli_options import add_device_options, add_seed_group_options, add_suite_options
from genbench.cli_results import add_result_commands
from genbench.config import parse_assignments
from genbench.errors import UsageError
from genbench.results.record import RunRecord
from genbench.results.records import check_writable
from genbench.spec import (
    group_size,
    load_parallel_seeds,
    load_published,
    load_suite,
    parse_shard,
    resolve,
    run_batches,
    shard,
    shard_groups,
)

SUMMARY_METRICS = ("nll", "elbo", "kl_to_source", "accuracy", "recon_bce", "recon_mse")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2, via main()
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(prog="genbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list registered models, datasets or suites")
    p.add_argument(
        "what",
        nargs="?",
        choices=("models", "datasets", "metrics", "suites", "reproductions"),
        default=None,
    )
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("run", help="train and evaluate one model on one dataset")
    p.add_argument("model")
    p.add_argument("dataset")
    p.add_argument("--preset", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="shortcut for --set train.steps=N")
    p.add_argument("--out", default="runs", help="directory of the result record")
    p.add_argument(
        "--seeds", type=int, default=1, metavar="N", help="run seeds --seed .. --seed+N-1"
    )
    p.add_argument(
        "--save-model", action="store_true", help="save the trained parameters beside the record"
    )
    add_seed_group_options(p)
    add_device_options(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("suite", help="run a suite (registered name or TOML file)")
    p.add_argument("suite")
    add_suite_options(p, "runs/NAME")
    p.set_defaults(handler=cmd_suite)

    p = sub.add_parser("reproduce", help="run a published table and compare it cell by cell")
    p.add_argument("name", help="a shipped reproduction (genbench list reproductions) or a .toml")
    p.add_argument("--quick", action="store_true", help="the short variant (not the protocol)")
    p.add_argument("--report-only", action="store_true", help="run nothing: tabulate --out")
    p.add_argument("--format", choices=("md", "csv", "latex"), default="md")
    add_suite_options(p, "runs/reproduce/NAME")
    p.set_defaults(handler=cmd_reproduce)

    add_result_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``genbench`` and ``python -m genbench``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UsageError as error:
        print(f"genbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (genbench list | head): not an error
        sys.stderr.close()
        return 0


def warn_plugin_problems() -> None:
    """Prints one ``genbench: warning:`` line per plugin that failed to load.

    Called once the command's names have resolved: when a name does not
    resolve, its one-line error already carries these reasons.
    """
    for problem in registry.plugin_problems():
        print(f"genbench: warning: {problem}", file=sys.stderr)


def cmd_list(args) -> int:
    warn_plugin_problems()
    tables = {
        "models": registry.models,
        "datasets": registry.datasets,
        "metrics": registry.metrics,  # the groups that eval.groups names
        "suites": registry.suites,
    }
    for what, entries in tables.items():
        if args.what not in (None, what):
            continue
        print(f"{what}:")
        width = _name_width(entries())
        for name, entry in sorted(entries().items()):
            presets = entry.presets if isinstance(entry, registry.ModelEntry) else {}
            extra = f"  [presets: {', '.join(sorted(presets))}]" if presets else ""
            extra += f"  [plugin {entry.plugin}]" if entry.plugin else ""
            print(f"  {name:<{width}}  {entry.description}{extra}")
            if isinstance(entry, registry.ModelEntry) and entry.classes:
                print(f"  {'':<{width}}  can: {_capabilities(entry)}")
    if args.what in (None, "reproductions"):
        from genbench.reproduce import descriptions

        print("reproductions:")
        shipped = descriptions()
        width = _name_width(shipped)
        for name, description in shipped.items():
            print(f"  {name:<{width}}  {description}")
    return 0


def _name_width(names) -> int:
    """The name column's width: the longest name, at least 17, so that two spaces always
    separate a name from its description."""
    return max([17, *(len(name) for name in names)])


def _capabilities(entry) -> str:
    from genbench.contract import capability_summary

    return capability_summary(registry.model_classes(entry))


def _overrides(args) -> dict[str, str]:
    overrides = parse_assignments(args.set)
    if getattr(args, "steps", None) is not None:
        overrides["train.steps"] = str(args.steps)
    return overrides


def check_device_options(args) -> None:
    """Checks the device and multi-process options before anything is written or imported.

    Raises:
      UsageError: a device count below 1, or explicit multi-process options
        that are incomplete or inconsistent.
    """
    if args.cpu_devices is not None and args.cpu_devices < 1:
        raise UsageError(f"--cpu-devices={args.cpu_devices} must be >= 1")
    explicit = {
        "--coordinator": args.coordinator,
        "--num-processes": args.num_processes,
        "--process-id": args.process_id,
    }
    given = [name for name, value in explicit.items() if value is not None]
    if given and len(given) < len(explicit):
        missing = [name for name in explicit if name not in given]
        raise UsageError(f"{', '.join(given)} needs {' and '.join(missing)} too")
    if not given:
        return
    host, _, port = args.coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--coordinator={args.coordinator} must be HOST:PORT (port 1-65535)")
    if args.num_processes < 1:
        raise UsageError(f"--num-processes={args.num_processes} must be >= 1")
    if not 0 <= args.process_id < args.num_processes:
        raise UsageError(
            f"--process-id={args.process_id} must be in 0..{args.num_processes - 1} "
            f"(--num-processes={args.num_processes})"
        )


def _configure(args) -> None:
    from genbench import runtime

    runtime.configure(args.backend, args.cpu_devices)
    # jax.distributed must start before anything starts the backend (check_backend does).
    if args.distributed or args.coordinator is not None:
        try:
            runtime.initialize_distributed(args.coordinator, args.num_processes, args.process_id)
        except (RuntimeError, ValueError) as error:  # no cluster found, coordinator unreachable
            reason = next((line for line in str(error).splitlines() if line.strip()), "")
            how = f"--coordinator {args.coordinator}" if args.coordinator else "--distributed"
            raise UsageError(f"{how}: cannot join the multi-process run ({reason})") from None
    try:
        runtime.check_backend(args.backend)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _summary(record: RunRecord) -> str:
    """One line: the run, its status (or error) and its headline metrics."""
    metrics = record.metrics
    shown = [f"{k}={metrics[k]:.4g}" for k in SUMMARY_METRICS if k in metrics]
    step_ms = record.throughput.get("step_ms")
    if step_ms is not None:
        seeds = record.throughput.get("parallel_seeds")
        shown.append(f"step_ms={step_ms:.3g}" + (f" ({seeds:g} seeds)" if seeds else ""))
    error = record.error or {}
    failure = f"FAILED {error.get('type')}: {error.get('message')}"
    status = "ok" if record.status == "ok" else failure
    return f"{record.model} {record.dataset} seed {record.seed}: {status} {' '.join(shown)}"


def cmd_run(args) -> int:
    check_device_options(args)
    if args.seeds < 1:
        raise UsageError(f"--seeds={args.seeds} must be >= 1")
    size = group_size(args.parallel_seeds, args.seed_chunk)
    overrides = _overrides(args)
    specs = [
        resolve(args.model, args.dataset, args.preset, overrides, args.seed + i)
        for i in range(args.seeds)
    ]
    warn_plugin_problems()
    out = check_writable(args.out)
    _configure(args)
    from genbench import runner
    from genbench.progress import progress_bars, step_callback
    from genbench.results.records import write_record
    from genbench.seed_runs import run_group

    groups = run_batches(specs, size)
    records = []
    params_dir = out if args.save_model else None
    with progress_bars() as bars:
        for group in groups:
            first = group[0]
            label = f"{first.model} {first.dataset}" + (
                f" x{len(group)} seeds" if len(group) > 1 else ""
            )
            _, update = step_callback(bars, label, first.config.train.steps)
            checkpoints = out / runner.CHECKPOINT_DIR
            records += run_group(group, update, checkpoint_root=checkpoints, params_dir=params_dir)
    for record in records:
        print(_summary(record))
        if runner.is_writer():
            print(f"record: {write_record(record, out)}")
    return 0 if all(r.status == "ok" for r in records) else 1


def _job_options(args):
    """The checked ``executors.JobOptions`` of ``--executor``, or None without it."""
    if args.executor is None:
        return None
    from genbench import executors

    if args.distributed or args.coordinator is not None:
        raise UsageError(
            "--executor runs each run as a job of one process; drop --distributed/--coordinator"
        )
    options = executors.JobOptions(
        args.executor,
        args.job_timeout_min,
        args.parallel,
        args.slurm_partition,
        args.slurm_gpus,
        args.backend,
        args.cpu_devices,
    )
    executors.check_options(options)
    return options


def cmd_suite(args) -> int:
    check_device_options(args)
    job_options = _job_options(args)
    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds={args.seeds} must be >= 1")
    specs = load_suite(args.suite, args.seeds, _overrides(args))
    published = load_published(args.suite)
    parallel = args.parallel_seeds
    if parallel is None and args.seed_chunk is None:
        parallel = load_parallel_seeds(args.suite)
    size = group_size(parallel, args.seed_chunk)
    warn_plugin_problems()
    suite_name = specs[0].suite
    if args.shard is not None:
        specs = (shard if size is None else shard_groups)(specs, *parse_shard(args.shard))
    out = check_writable(args.out or Path("runs") / suite_name)
    failed, table = _run_specs(args, specs, suite_name, out, job_options, published, size)
    print(table)
    return 1 if failed else 0


def _run_specs(
    args, specs, label: str, out: Path, job_options, published=(), size: int | None = None
) -> tuple[int, str]:
    """Runs a suite's specs (in this process or as jobs); returns (failed runs, suite table).

    ``size`` is the seed groups' (``genbench.spec.group_size``; None: one run at a time).
    Prints a line as each run ends and, after the last, how many ran, were skipped and failed.
    """
    if job_options is not None:
        if size is not None:
            raise UsageError("--executor runs each run as its own job: drop --parallel-seeds")
        return _suite_jobs(specs, out, args.resume, job_options, published)
    _configure(args)
    from genbench import runner
    from genbench.progress import progress_bars, step_callback

    with progress_bars() as bars:
        suite_task = bars.add_task(f"suite {label}", total=len(specs))

        def on_start(spec):
            label = f"  {spec.model} {spec.dataset} s{spec.seed}"
            return step_callback(bars, label, spec.config.train.steps)

        def on_done(task, record):
            if task is not None:  # a seed group's first record ends its progress bar
                bars.remove_task(task)
            bars.advance(suite_task)
            bars.console.print(_summary(record), soft_wrap=True, markup=False, highlight=False)

        result = runner.run_suite(specs, out, args.resume, on_start, on_done, published, size)
    _print_counts(result, out)
    return result.failed, result.table


def _print_counts(result, out: Path) -> None:
    print(f"{result.ran} runs ({result.skipped} skipped), {result.failed} failed; records in {out}")


def _suite_jobs(specs, out: Path, resume: bool, options, published) -> tuple[int, str]:
    """``genbench suite --executor``: one job per run, a line as each ends; (failed, table)."""
    from genbench.executors import run_suite_jobs

    def on_done(spec, record, problem):
        if record is not None:
            print(_summary(RunRecord.from_dict(record)), flush=True)
        else:
            print(f"{spec.model} {spec.dataset} seed {spec.seed}: FAILED {problem}", flush=True)

    result = run_suite_jobs(specs, out, options, resume, on_done, published)
    _print_counts(result, out)
    return result.failed, result.table


def cmd_reproduce(args) -> int:
    from genbench.reproduce.command import default_out, prepare, tabulate
    from genbench.runtime import is_writer

    check_device_options(args)
    if args.set:
        raise UsageError(
            "--set: a reproduction's settings are its file's (its rows are matched to records "
            "by them); copy the file to a .toml of your own to change one"
        )
    job_options = _job_options(args)
    repro, specs = prepare(args.name, args.quick, args.seeds, args.format)
    size = group_size(args.parallel_seeds, args.seed_chunk)
    warn_plugin_problems()
    out = Path(args.out) if args.out else default_out(repro.name, args.quick)
    failed = 0
    if not args.report_only:
        if args.shard is not None:
            specs = (shard if size is None else shard_groups)(specs, *parse_shard(args.shard))
        out = check_writable(out)
        # The suite's progress and counts go to stderr: stdout holds only the table.
        with contextlib.redirect_stdout(sys.stderr):
            failed, _ = _run_specs(args, specs, repro.name, out, job_options, (), size)
    save = not args.report_only and is_writer()
    table, notes = tabulate(repro, out, args.quick, args.format, args.report_only, save)
    print(table, end="")
    print(notes, end="", file=sys.stderr)
    return 1 if failed else 0
