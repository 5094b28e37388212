"""``run(spec) -> record``: build, fit with the shared step, evaluate, measure, record."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
from flax import nnx

from genbench import contract, registry
from genbench.atomic import atomic_write
from genbench.config import to_dict
from genbench.data.base import held_out
from genbench.data.view import data_view
from genbench.errors import PluginError, UsageError
from genbench.metrics.batching import clear_compiled
from genbench.metrics.evaluate import evaluate
from genbench.metrics.hardware import peak_flops
from genbench.metrics.kept import kept_samples
from genbench.metrics.throughput import fit_throughput
from genbench.results.record import RunRecord
from genbench.results.records import record_filename, write_record
from genbench.runtime import environment, git_dirty, git_revision, is_writer, usable_cpus
from genbench.spec import RunSpec
from genbench.train.checkpoint import Checkpointer
from genbench.train.fit import PeriodicEval
from genbench.train.fits import FitJob, check_fit_kind, fit_model
from genbench.train.mesh import data_mesh
from genbench.train.params import save_params

# The checkout's state and the CPUs as this process started with them (what its records
# report).
git_revision(), git_dirty(), usable_cpus()


def build(spec: RunSpec):
    """The dataset and the freshly initialised model of ``spec`` (model init from the seed)."""
    dataset = registry.resolve_factory(registry.get_dataset(spec.dataset))(spec.config.data)
    return dataset, build_model(spec, dataset, spec.seed)


def build_model(spec: RunSpec, dataset, seed: int):
    """A freshly initialised model of ``spec`` for ``dataset``, from ``seed``."""
    factory = registry.resolve_factory(registry.get_model(spec.model))
    return factory(spec.config, dataset, nnx.Rngs(seed))


def _non_finite_error(failure: dict) -> dict:
    return {
        "type": "NonFiniteError",
        "message": f"{failure['reason']} at step {failure['step']} (group {failure['group']})",
        "step": failure["step"],
        "group": failure["group"],
    }


def resolved_config(config: dict, model) -> dict:
    """``config`` with the values the model resolved (``0`` / ``auto``) filled in.

    A model may expose ``resolved_config() -> {"section.field": value}`` (the
    contract's ``ResolvesConfig``), e.g. the transformer's block size that
    ``model.block_size=0`` chose from the data.
    """
    resolved = {section: dict(fields) for section, fields in config.items()}
    for dotted, value in contract.resolved_config(model).items():
        section, field = dotted.split(".", 1)
        resolved[section][field] = value
    return resolved


def periodic_evaluation(dataset, view, eval_cfg, seed: int) -> PeriodicEval | None:
    """The evaluations every ``eval.every`` steps of a fit (``None`` when it is 0).

    Each adds to its history entry ``metrics`` (every metric, measured as at the
    end of the run, with the same seed), ``eval_split`` (``validation`` where the
    dataset has one, else ``test``) and ``eval_s`` (its seconds, which the
    training time leaves out).
    """
    if not eval_cfg.every:
        return None
    measured, split = held_out(dataset)

    def measure(step: int, model) -> dict:
        del step
        start = time.perf_counter()
        metrics, _ = evaluate(model, measured, view, eval_cfg, seed)
        seconds = round(time.perf_counter() - start, 4)
        return {"metrics": metrics, "eval_split": split, "eval_s": seconds}

    return PeriodicEval(eval_cfg.every, measure)


def new_record(spec: RunSpec) -> RunRecord:
    """The identifying part of a record (status ok, empty results, a fresh run id)."""
    return RunRecord(
        run_key=spec.run_key,
        model=spec.model,
        dataset=spec.dataset,
        dataset_version=spec.dataset_version,
        preset=spec.preset,
        seed=spec.seed,
        suite=spec.suite,
        config=to_dict(spec.config),
        env=environment(),
    )


def run(
    spec: RunSpec,
    progress: Callable[[int], None] | None = None,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_root: str | Path | None = None,
    measure_throughput: bool = True,
    params_dir: str | Path | None = None,
) -> RunRecord:
    """Runs one spec and returns its result record (not yet written).

    With ``measure_throughput=False`` the record's ``throughput`` stays empty: the
    metrics do not depend on it (they are measured first, on the trained model), so a
    check of a record's numbers skips the timing calls.

    With ``train.checkpoint_every > 0`` and a ``checkpoint_root``, the fit saves
    its state under ``checkpoint_root/<run_key>`` and a re-started run continues
    from the latest checkpoint; the checkpoints are removed once the fit ends.

    With a ``params_dir``, the trained model's state is saved there with orbax, in
    ``<record file name>.params``, named in the record's ``params`` (``--save-model``).

    Bad input (a model that cannot model the data, a batch larger than the
    data, ...) raises ``UsageError`` before training, and so does code that
    breaks the contract (``PluginError``: a factory that does not import, a
    ``loss`` of the wrong structure). Any other exception, a factory's included,
    or a non-finite loss, gives a record with ``status: failed`` and the error.
    """
    cfg = spec.config
    record = new_record(spec)
    clear_compiled()  # metric compilations are kept within a run only
    try:
        dataset, model = build(spec)
    except UsageError:
        raise
    except Exception as error:  # a factory that raises: a failed run, and a suite goes on
        return failed_record(record, error)
    view = data_view(dataset, model.input_kind)
    check_fit_kind(model, cfg.train.fit, registry.describe(registry.get_model(spec.model), "model"))
    record.config = resolved_config(record.config, model)
    mesh = data_mesh(devices)
    record.env["device_count"] = mesh.size
    checkpointer = make_checkpointer(cfg.train, checkpoint_root, spec.run_key)
    job = FitJob(
        model,
        dataset,
        view,
        cfg.train,
        spec.seed,
        mesh,
        rebuild=lambda seed: build_model(spec, dataset, seed),
        progress=progress,
        checkpointer=checkpointer,
        periodic=periodic_evaluation(dataset, view, cfg.eval, spec.seed),
    )
    try:
        outcome = fit_model(cfg.train.fit, job)
    except UsageError:
        raise
    except Exception as error:  # a failing run is recorded, and a suite goes on
        return failed_record(record, error)
    return finish_record(
        record, model, dataset, view, spec, outcome, measure_throughput, params_dir=params_dir
    )


def make_checkpointer(train, checkpoint_root: str | Path | None, name: str):
    """A ``Checkpointer`` under ``checkpoint_root/name`` with ``train.checkpoint_every``,
    or None when checkpoints are off or have no root."""
    if not train.checkpoint_every or checkpoint_root is None:
        return None
    return Checkpointer(Path(checkpoint_root) / name, train.checkpoint_every, train.checkpoint_keep)


def finish_record(
    record: RunRecord,
    model,
    dataset,
    view,
    spec: RunSpec,
    outcome,
    measure_throughput: bool = True,
    throughput: dict | None = None,
    params_dir: str | Path | None = None,
    evaluation: tuple[dict, dict] | None = None,
) -> RunRecord:
    """``record`` completed from a finished fit: history, failure, metrics, kept samples
    (``genbench.metrics.kept``), throughput.

    Args:
      record: the run's record so far.
      model: the trained model.
      dataset, view: the run's data and the model's view of it.
      spec: the run.
      outcome: the fit's ``FitOutcome``.
      measure_throughput: whether to time the model (else ``throughput`` stays empty).
      throughput: figures already measured for this fit (a seed group's, shared by its
        seeds), used instead of timing again.
      params_dir: where to save the trained state (``run``'s ``params_dir``), or None.
      evaluation: ``(metrics, estimators)`` already measured (a seed group's models are
        measured together, ``evaluate_seeds``), used instead of evaluating again.

    Returns:
      ``record``; a failure of the evaluation or of the timing marks it failed.
    """
    cfg = spec.config
    try:
        record.history = outcome.history
        if outcome.resumed_from is not None:
            record.resumed_from_step = outcome.resumed_from
        if outcome.failure is not None:
            record.status = "failed"
            record.error = _non_finite_error(outcome.failure)
            return record
        measured = evaluation or evaluate(model, dataset, view, cfg.eval, spec.seed)
        record.metrics, record.estimators = measured
        record.samples = kept_samples(model, dataset, view, spec.seed)
        if params_dir is not None:
            name = record_filename(record.to_dict()).removesuffix(".json") + ".params"
            record.params = save_params(model, Path(params_dir) / name).name
        if measure_throughput:
            record.throughput = dict(
                throughput or fit_throughput(model, outcome, dataset, view, cfg.train, cfg.eval)
            )
        if record.throughput.get("peak_flops_per_s") is not None:
            record.env["peak_flops_source"] = peak_flops()[1]  # the table, or the calibration
    except UsageError:
        raise
    except Exception as error:  # a failing run is recorded, and a suite goes on
        return failed_record(record, error)
    return record


def failed_record(record: RunRecord, error: Exception) -> RunRecord:
    """``record`` marked failed with ``error`` (its type, first line and traceback).

    Args:
      record: the run's record so far (``new_record``).
      error: the exception that ended the run.

    Returns:
      ``record``, with ``status: failed`` and ``error`` filled in.
    """
    record.status = "failed"
    record.error = {
        "type": type(error).__name__,
        "message": str(error).splitlines()[0] if str(error) else "",
        "step": None,
        "group": None,
        "traceback": "".join(traceback.format_exception(error, limit=8)),
    }
    return record


def existing_records(out_dir: str | Path) -> list[dict]:
    """The records already in ``out_dir`` (none when it is missing or holds no JSON files)."""
    from genbench.results.records import read_records

    directory = Path(out_dir)
    if not any(p for p in directory.glob("*.json") if not p.name.startswith(".")):
        return []
    return read_records([directory])


def pending_runs(specs: Sequence[RunSpec], out_dir: str | Path, resume: bool) -> list[RunSpec]:
    """The specs still to run: with ``resume``, those without an ok record in ``out_dir``."""
    if not resume:
        return list(specs)
    done = {r["run_key"] for r in existing_records(out_dir) if r["status"] == "ok"}
    return [s for s in specs if s.run_key not in done]


CHECKPOINT_DIR = ".checkpoints"  # hidden, so record readers never look inside


@dataclass(frozen=True)
class SuiteResult:
    """What a suite did: runs done, skipped (resumed) and failed, and its Markdown table."""

    ran: int
    skipped: int
    failed: int
    table: str


def run_suite(
    specs: Sequence[RunSpec],
    out_dir: str | Path,
    resume: bool = False,
    on_start=None,
    on_done=None,
    published: Sequence[dict] = (),
    parallel_seeds: int | None = None,
) -> SuiteResult:
    """Runs every pending spec, writes each record as it finishes, then the table.

    A failed run is recorded and the suite goes on; so is a run whose plugin
    code breaks the contract (``PluginError``). With ``resume``, runs whose
    ``run_key`` already has an ok record in ``out_dir`` are skipped.

    Args:
      specs: the suite's runs (``load_suite``).
      out_dir: directory of records; ``table.md`` is written there too.
      resume: skip runs that already have an ok record.
      on_start: ``spec -> (token, progress)``; ``progress(steps_done)`` is passed to ``run``.
      on_done: ``(token, record) -> None`` after each run (a ``RunRecord``).
      published: the suite's published reference numbers, added to its table.
      parallel_seeds: None to run every spec on its own; else the runs that differ only
        in their seed train together, at most this many per program (0: whole groups, or
        the family's limit on this platform: ``genbench.train.seed_limits``;
        ``genbench.seed_runs``). ``on_start`` then sees each group's first spec, and
        ``on_done`` gets its token with the group's first record and None with the rest.
    """
    from genbench.spec import run_batches

    todo = pending_runs(specs, out_dir, resume)
    batches = run_batches(todo, parallel_seeds)
    failed = 0
    for batch in batches:
        token, progress = on_start(batch[0]) if on_start else (None, None)
        records = run_and_record(batch, out_dir, progress)
        for index, record in enumerate(records):
            failed += record.status != "ok"
            if on_done:
                on_done(token if index == 0 else None, record)
    table = write_suite_table(out_dir, published, write=is_writer())
    return SuiteResult(len(todo), len(specs) - len(todo), failed, table)


def run_and_record(
    specs: Sequence[RunSpec], out_dir: str | Path, progress: Callable[[int], None] | None = None
) -> list[RunRecord]:
    """Runs a seed group of a suite (one spec, or several that differ only in their seed)
    and writes each record into ``out_dir`` (process 0 only).

    A run whose plugin code breaks the contract (``PluginError``) is recorded
    as failed, so that a suite goes on; ``UsageError`` propagates.

    Args:
      specs: the runs (``genbench.seed_runs.seed_groups``); one spec runs alone.
      out_dir: directory of the suite's records (checkpoints under ``CHECKPOINT_DIR``).
      progress: ``steps_done -> None``, passed to ``run``.

    Returns:
      The runs' records, in the order of ``specs``.
    """
    from genbench.seed_runs import run_group

    checkpoint_root = Path(out_dir) / CHECKPOINT_DIR
    try:
        records = run_group(specs, progress, checkpoint_root=checkpoint_root)
    except PluginError as error:  # one run's broken plugin code: recorded, the suite goes on
        records = [failed_record(new_record(spec), error) for spec in specs]
    if is_writer():
        for record in records:
            write_record(record, out_dir)
    return records


def write_suite_table(
    out_dir: str | Path, published: Sequence[dict] = (), write: bool = True
) -> str:
    """Aggregates the records in ``out_dir`` (with ``published`` rows) into ``table.md``.

    Args:
      out_dir: directory of the suite's records.
      published: the suite's published reference numbers, added as rows.
      write: whether this process writes ``table.md`` (process 0 of a multi-process run).

    Returns:
      The Markdown table; empty (and nothing written) when ``out_dir`` holds no records.
    """
    from genbench.results import aggregate
    from genbench.results.grid import render
    from genbench.results.table import published_rows
    from genbench.results.view import DEFAULT_WIDTH, table_grids

    records = existing_records(out_dir)  # empty for an empty shard in an empty directory
    rows = aggregate(records) + published_rows(list(published))
    table = render(table_grids(rows, DEFAULT_WIDTH), "md", DEFAULT_WIDTH) if records else ""
    if write and table:
        atomic_write(Path(out_dir) / "table.md", table)
    return table
