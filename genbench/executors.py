"""A suite spread over a cluster: one submitit job per run (``genbench suite --executor``).

submitit (the optional extra ``genbench[cluster]``) runs each pending run of a
suite as a job of its own: a process on this machine (``local``) or a task of a
SLURM job array (``slurm``). Each job trains and evaluates one run and writes
its record into the suite's output directory (on a cluster, a shared
filesystem); this process waits for them all and writes the table. Resume and
shards work as they do in one process: they choose which runs become jobs.
Job logs and submitit's pickles go to ``OUT/.submitit``.

This module imports neither jax nor submitit at import time: the process that
submits needs no accelerator, and a job starts jax only after setting its
platform and device count.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from genbench.errors import UsageError
from genbench.spec import RunSpec

EXECUTORS = ("local", "slurm")
LOG_DIR = ".submitit"  # hidden, so record readers never look inside
INSTALL_HINT = "pip install 'genbench[cluster]'"
POLL_S = {"local": 0.5, "slurm": 15.0}  # seconds between looks at the jobs' states


@dataclass(frozen=True)
class JobOptions:
    """How the jobs of a suite are run.

    Attributes:
      executor: ``local`` (processes on this machine) or ``slurm`` (a job array).
      timeout_min: each job's time limit in minutes.
      parallel: jobs running at once (local: started here; slurm: the array's limit).
      slurm_partition: SLURM partition (``None``: the cluster's default).
      slurm_gpus: GPUs of each SLURM job.
      backend: the ``--backend`` of every job.
      cpu_devices: the ``--cpu-devices`` of every job.
    """

    executor: str
    timeout_min: int = 240
    parallel: int = 1
    slurm_partition: str | None = None
    slurm_gpus: int = 0
    backend: str | None = None
    cpu_devices: int | None = None


def check_options(options: JobOptions) -> None:
    """Checks the options and that submitit is installed; one-line ``UsageError`` otherwise."""
    if options.executor not in EXECUTORS:
        raise UsageError(f"--executor={options.executor}; allowed: {', '.join(EXECUTORS)}")
    if options.timeout_min < 1:
        raise UsageError(f"--job-timeout-min={options.timeout_min} must be >= 1")
    if options.parallel < 1:
        raise UsageError(f"--parallel={options.parallel} must be >= 1")
    if options.slurm_gpus < 0:
        raise UsageError(f"--slurm-gpus={options.slurm_gpus} must be >= 0")
    if importlib.util.find_spec("submitit") is None:
        raise UsageError(f"--executor {options.executor} needs submitit: {INSTALL_HINT}")


def run_job(spec: RunSpec, out_dir: str, backend: str | None, cpu_devices: int | None) -> dict:
    """The body of one job: set up jax, run ``spec``, write its record into ``out_dir``.

    Args:
      spec: the run.
      out_dir: the suite's output directory.
      backend: JAX platform (``None``: JAX's default).
      cpu_devices: host devices on CPU (``None``: the environment's or genbench's default).

    Returns:
      ``{"record": record}``, or ``{"usage_error": message}`` for bad input
      that only the run itself finds (a batch larger than the data, no such backend).
    """
    from genbench import runtime

    runtime.configure(backend, cpu_devices)  # before anything starts jax's backend
    try:
        runtime.check_backend(backend)
        from genbench import runner

        return {"record": runner.run_and_record([spec], out_dir)[0].to_dict()}
    except ValueError as error:  # UsageError, or check_backend's one line
        return {"usage_error": str(error)}


def import_submitit():
    """submitit, imported without its logging set-up unless the user asks for it.

    At import, submitit calls ``logging.config.dictConfig``, which shuts down
    every handler configured before (absl's, for one); its INFO lines would also
    interleave with genbench's. ``SUBMITIT_LOG_LEVEL`` set by the user stands,
    and the jobs (which inherit the environment) keep submitit's own logging.
    """
    if "submitit" in sys.modules or "SUBMITIT_LOG_LEVEL" in os.environ:
        import submitit

        return submitit
    os.environ["SUBMITIT_LOG_LEVEL"] = "NOCONFIG"
    try:
        import submitit
    finally:
        del os.environ["SUBMITIT_LOG_LEVEL"]
    return submitit


def make_executor(options: JobOptions, folder: Path):
    """The submitit executor of ``options``, logging under ``folder``.

    Raises:
      UsageError: ``slurm`` where SLURM's commands are missing.
    """
    submitit = import_submitit()

    if options.executor == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=options.timeout_min)
        return executor
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    except RuntimeError as error:  # submitit found no srun
        raise UsageError(f"--executor slurm: {error}") from None
    parameters = {
        "name": "genbench",
        "timeout_min": options.timeout_min,
        "slurm_array_parallelism": options.parallel,
    }
    if options.slurm_partition:
        parameters["slurm_partition"] = options.slurm_partition
    if options.slurm_gpus:
        parameters["gpus_per_node"] = options.slurm_gpus
    executor.update_parameters(**parameters)
    return executor


def finished_jobs(executor, options: JobOptions, specs: Sequence[RunSpec], out_dir: Path):
    """Submits one job per spec and yields ``(spec, job)`` as each job ends.

    On SLURM every spec is submitted at once as one job array (SLURM keeps at
    most ``parallel`` running); locally at most ``parallel`` jobs run at a time,
    so a long suite does not start all its processes together. Local jobs that
    are still running when this generator stops early (an error, Ctrl-C) are
    cancelled; SLURM jobs go on, and ``--resume`` later skips what they finished.
    """
    window = options.parallel if options.executor == "local" else max(len(specs), 1)
    job_args = (str(out_dir), options.backend, options.cpu_devices)
    pending, running = list(specs), []
    try:
        while pending or running:
            free = window - len(running)
            if free > 0 and pending:
                batch, pending = pending[:free], pending[free:]
                fixed = [[arg] * len(batch) for arg in job_args]
                running += zip(batch, executor.map_array(run_job, batch, *fixed), strict=True)
            ended = [(spec, job) for spec, job in running if job.done()]
            for item in ended:
                running.remove(item)
                yield item
            if not ended:
                time.sleep(POLL_S[options.executor])
    finally:
        if options.executor == "local":
            for _, job in running:
                job.cancel(check=False)


def job_outcome(job) -> dict:
    """What a finished job returned, or ``{"problem": ...}`` when it died before returning.

    A job that ran out of time or memory, or was killed, leaves no result; the
    problem names its log.
    """
    try:
        return job.result()
    except Exception as error:  # submitit's FailedJobError / UncompletedJobError, or a signal
        first = next((line for line in str(error).splitlines() if line.strip()), "")
        return {"problem": f"job {job.job_id} did not finish ({first}); log {job.paths.stderr}"}


def run_suite_jobs(
    specs: Sequence[RunSpec],
    out_dir: str | Path,
    options: JobOptions,
    resume: bool = False,
    on_done: Callable[[RunSpec, dict | None, str | None], None] | None = None,
    published: Sequence[dict] = (),
):
    """Runs every pending spec as a submitit job, waits for all, then writes the table.

    Args:
      specs: the suite's runs (``load_suite``, after ``--shard``).
      out_dir: directory of records; ``table.md`` is written there and logs under ``.submitit``.
      options: the executor and its parameters (``check_options`` first).
      resume: skip runs that already have an ok record in ``out_dir``.
      on_done: ``(spec, record or None, problem or None)`` as each job ends.
      published: the suite's published reference numbers, added to its table.

    Returns:
      A ``runner.SuiteResult``: runs done, skipped and failed (a job that died
      counts as failed), and the table.

    Raises:
      UsageError: a job found bad input (the first such message), once all jobs ended.
    """
    from genbench import runner

    out_dir = Path(out_dir)
    todo = runner.pending_runs(specs, out_dir, resume)
    failed, usage_errors = 0, []
    if todo:
        executor = make_executor(options, out_dir / LOG_DIR)
        for spec, job in finished_jobs(executor, options, todo, out_dir):
            outcome = job_outcome(job)
            if "usage_error" in outcome:
                usage_errors.append(outcome["usage_error"])
                continue
            record, problem = outcome.get("record"), outcome.get("problem")
            failed += record is None or record["status"] != "ok"
            if on_done:
                on_done(spec, record, problem)
    if usage_errors:
        raise UsageError(usage_errors[0])
    table = runner.write_suite_table(out_dir, published)
    return runner.SuiteResult(len(todo), len(specs) - len(todo), failed, table)
