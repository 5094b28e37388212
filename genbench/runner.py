"""``run(spec) -> record``: build, fit with the shared step, evaluate, measure, record."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genbench import registry
from genbench.atomic import atomic_write
from genbench.config import to_dict
from genbench.data.view import data_view
from genbench.errors import UsageError
from genbench.metrics.batching import test_examples
from genbench.metrics.evaluate import evaluate, primary_eval_fn
from genbench.metrics.throughput import exact_fit_throughput, throughput_metrics
from genbench.results.record import RunRecord
from genbench.results.records import write_record
from genbench.runtime import environment, is_writer
from genbench.spec import RunSpec
from genbench.train.checkpoint import Checkpointer
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh


def build(spec: RunSpec):
    """The dataset and the freshly initialised model of ``spec`` (model init from the seed)."""
    dataset = registry.resolve_factory(registry.get_dataset(spec.dataset).factory)(spec.config.data)
    return dataset, build_model(spec, dataset, spec.seed)


def build_model(spec: RunSpec, dataset, seed: int):
    """A freshly initialised model of ``spec`` for ``dataset``, from ``seed``."""
    factory = registry.resolve_factory(registry.get_model(spec.model).factory)
    return factory(spec.config, dataset, nnx.Rngs(seed))


def fit_em(spec: RunSpec, dataset, model, view, progress=None):
    """Baum-Welch style fitting: ``train.steps`` ``em_step`` calls per restart; the best
    final training log-likelihood of ``train.restarts`` initialisations wins.

    A dequantising view is applied once, with a key from the seed, so that EM
    climbs one fixed objective.

    Returns:
      ``(seconds, history, failure)``; the history (of the best restart) holds
      the negative log-likelihood per symbol before each iteration.
    """
    train = spec.config.train
    data = jnp.asarray(dataset.train)
    if view.dequantized:
        data = view.transform(data.astype(jnp.float32), jax.random.key(spec.seed))
    per = len(data) * model.num_steps  # the history is in nats per step
    start, best = time.perf_counter(), None
    for restart in range(train.restarts):
        candidate = (
            model if restart == 0 else build_model(spec, dataset, spec.seed * 7919 + restart)
        )
        history = []
        for iteration in range(train.steps):
            log_lik = float(candidate.em_step(data))
            history.append(
                {
                    "step": iteration,
                    "loss": -log_lik / per,
                    "time": round(time.perf_counter() - start, 4),
                    "restart": restart,
                }
            )
            if not np.isfinite(log_lik):
                failure = {"step": iteration, "group": "params", "reason": "non-finite likelihood"}
                return time.perf_counter() - start, history, failure
        final = float(jnp.sum(candidate.log_prob(data)))
        if not np.isfinite(final):
            failure = {"step": train.steps, "group": "params", "reason": "non-finite likelihood"}
            return time.perf_counter() - start, history, failure
        if best is None or final > best[0]:
            best = (final, candidate, history)
        if progress is not None:
            progress(train.steps * (restart + 1) // train.restarts)
    nnx.update(model, nnx.state(best[1]))
    return time.perf_counter() - start, best[2], None


def _check_fit(model, how: str, name: str) -> None:
    needs = {"gradient": "loss", "exact": "fit_exact", "em": "em_step"}[how]
    if not hasattr(model, needs):
        can = [
            k
            for k, v in {"gradient": "loss", "exact": "fit_exact", "em": "em_step"}.items()
            if hasattr(model, v)
        ]
        raise UsageError(
            f"model {name!r} cannot fit with train.fit={how}; allowed: {', '.join(can)}"
        )


def fit_exact(model, dataset, view, seed: int) -> float:
    """Fits ``model`` in closed form on its view of the training data; returns the seconds.

    ``model.fit_exact(x, labels)`` receives the features as the model sees them
    (dequantised where the view dequantises) and the labels (None if unlabelled).
    """
    start = time.perf_counter()
    key = jax.random.fold_in(jax.random.key(seed), 0xF17)
    x = view.transform(jnp.asarray(dataset.train, jnp.float32), key)
    model.fit_exact(x, getattr(dataset, "train_labels", None))
    jax.block_until_ready(nnx.state(model))
    return time.perf_counter() - start


def _non_finite_error(failure: dict) -> dict:
    return {
        "type": "NonFiniteError",
        "message": f"{failure['reason']} at step {failure['step']} (group {failure['group']})",
        "step": failure["step"],
        "group": failure["group"],
    }


def resolved_config(config: dict, model) -> dict:
    """``config`` with the values the model resolved (``0`` / ``auto``) filled in.

    A model may expose ``resolved_config() -> {"section.field": value}``, e.g. the
    transformer's block size that ``model.block_size=0`` chose from the data.
    """
    resolved = {section: dict(fields) for section, fields in config.items()}
    for dotted, value in getattr(model, "resolved_config", dict)().items():
        section, field = dotted.split(".", 1)
        resolved[section][field] = value
    return resolved


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
) -> RunRecord:
    """Runs one spec and returns its result record (not yet written).

    With ``train.checkpoint_every > 0`` and a ``checkpoint_root``, the fit saves
    its state under ``checkpoint_root/<run_key>`` and a re-started run continues
    from the latest checkpoint; the checkpoints are removed once the fit ends.

    Bad input (a model that cannot model the data, a batch larger than the
    data, ...) raises ``UsageError`` before training; any other exception, or a
    non-finite loss, gives a record with ``status: failed`` and the error.
    """
    cfg = spec.config
    dataset, model = build(spec)
    view = data_view(dataset, model.input_kind)
    _check_fit(model, cfg.train.fit, spec.model)
    record = new_record(spec)
    record.config = resolved_config(record.config, model)
    mesh = data_mesh(devices)
    record.env["device_count"] = mesh.size
    checkpointer = None
    if cfg.train.checkpoint_every and checkpoint_root is not None:
        checkpointer = Checkpointer(
            Path(checkpoint_root) / spec.run_key,
            cfg.train.checkpoint_every,
            cfg.train.checkpoint_keep,
        )
    try:
        if cfg.train.fit == "exact":
            fit_s = fit_exact(model, dataset, view, spec.seed)
        elif cfg.train.fit == "em":
            fit_s, record.history, failure = fit_em(spec, dataset, model, view, progress)
            if failure is not None:
                record.status = "failed"
                record.error = _non_finite_error(failure)
                return record
        else:
            result = fit(
                model, dataset, view.transform, cfg.train, spec.seed, mesh, progress, checkpointer
            )
            if checkpointer is not None:
                checkpointer.close(remove=True)
            record.history = result.history
            record.resumed_from_step = result.resumed_from
            if result.failure is not None:
                record.status = "failed"
                record.error = _non_finite_error(result.failure)
                return record
        metrics, estimators = evaluate(model, dataset, view, cfg.eval, spec.seed)
        record.metrics, record.estimators = metrics, estimators
        eval_fn, eval_data = primary_eval_fn(model, view), test_examples(dataset, cfg.eval)
        if cfg.train.fit in ("exact", "em"):
            record.throughput = exact_fit_throughput(
                model, fit_s, len(dataset.train), cfg.eval, eval_data, eval_fn
            )
        else:
            tokens = dataset.event_shape[0] if dataset.kind == "sequence" else None
            record.throughput = throughput_metrics(
                model, result, cfg.train, cfg.eval, eval_data, eval_fn, tokens
            )
    except UsageError:
        raise
    except Exception as error:  # a failing run is recorded, and a suite goes on
        record.status = "failed"
        record.error = {
            "type": type(error).__name__,
            "message": str(error).splitlines()[0] if str(error) else "",
            "step": None,
            "group": None,
            "traceback": traceback.format_exc(limit=8),
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
) -> SuiteResult:
    """Runs every pending spec, writes each record as it finishes, then the table.

    A failed run is recorded and the suite goes on. With ``resume``, runs whose
    ``run_key`` already has an ok record in ``out_dir`` are skipped.

    Args:
      specs: the suite's runs (``load_suite``).
      out_dir: directory of records; ``table.md`` is written there too.
      resume: skip runs that already have an ok record.
      on_start: ``spec -> (token, progress)``; ``progress(steps_done)`` is passed to ``run``.
      on_done: ``(token, record) -> None`` after each run (a ``RunRecord``).
      published: the suite's published reference numbers, added to its table.
    """
    from genbench.results import aggregate, format_table
    from genbench.results.table import published_rows

    todo = pending_runs(specs, out_dir, resume)
    failed = 0
    for spec in todo:
        token, progress = on_start(spec) if on_start else (None, None)
        record = run(spec, progress, checkpoint_root=Path(out_dir) / CHECKPOINT_DIR)
        if is_writer():
            write_record(record, out_dir)
        failed += record.status != "ok"
        if on_done:
            on_done(token, record)
    records = existing_records(out_dir)  # empty for an empty shard in an empty directory
    rows = aggregate(records) + published_rows(list(published))
    table = format_table(rows, "md") if records else ""
    if is_writer() and table:
        atomic_write(Path(out_dir) / "table.md", table)
    return SuiteResult(len(todo), len(specs) - len(todo), failed, table)
