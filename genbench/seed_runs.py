"""Runs that differ only in their seed, trained together (``--parallel-seeds``).

A *seed group* is the runs of one model, dataset, preset and config that differ only in
their seed; ``group_key`` names it (the run key of its seed-0 run). ``seed_groups`` cuts
a suite's runs into groups of at most ``size`` seeds, and ``run_group`` trains a group's
gradient fits as one compiled program (``genbench.train.fit.fit_seeds``) and evaluates
each seed on its own. Each seed still writes its own record, with the group's program's
throughput and ``throughput.parallel_seeds`` set to the group's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import jax

from genbench import registry
from genbench.data.view import data_view
from genbench.errors import UsageError
from genbench.metrics.evaluate import evaluate_seeds
from genbench.results.record import RunRecord
from genbench.runner import (
    build_model,
    failed_record,
    finish_record,
    make_checkpointer,
    new_record,
    periodic_evaluation,
    resolved_config,
    run,
)
from genbench.spec import RunSpec, group_key
from genbench.train.fit import fit_seeds
from genbench.train.fits import FitOutcome, check_fit_kind
from genbench.train.mesh import data_mesh
from genbench.train.seed_memory import GroupTooLarge


def run_group(
    specs: Sequence[RunSpec],
    progress: Callable[[int], None] | None = None,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_root: str | Path | None = None,
    measure_throughput: bool = True,
    params_dir: str | Path | None = None,
) -> list[RunRecord]:
    """Runs a seed group and returns one record per spec (not yet written).

    Gradient fits of two or more seeds train as one program; any other group runs its
    seeds one after the other (``genbench.runner.run``). Failures follow ``run``: bad
    input raises ``UsageError``, anything else fails the group's records (or only the
    seed that diverged).

    Args:
      specs: runs that differ only in their seed (``seed_groups``).
      progress, devices, checkpoint_root, measure_throughput, params_dir: as for
        ``runner.run``; the
        group's checkpoints live under ``checkpoint_root/<group key>-s<seeds>``.
    """
    first = specs[0]
    if len({group_key(s) for s in specs}) != 1:
        raise ValueError("a seed group's runs must differ only in their seed")
    if len(specs) == 1 or first.config.train.fit != "gradient":
        return [
            run(s, progress, devices, checkpoint_root, measure_throughput, params_dir)
            for s in specs
        ]
    cfg = first.config
    records = [new_record(spec) for spec in specs]
    try:
        dataset = registry.resolve_factory(registry.get_dataset(first.dataset))(cfg.data)
        models = [build_model(spec, dataset, spec.seed) for spec in specs]
    except UsageError:
        raise
    except Exception as error:  # a factory that raises: the group's runs fail, a suite goes on
        return [failed_record(record, error) for record in records]
    view = data_view(dataset, models[0].input_kind)
    check_fit_kind(
        models[0], "gradient", registry.describe(registry.get_model(first.model), "model")
    )
    mesh = data_mesh(devices)
    for record, model in zip(records, models, strict=True):
        record.config = resolved_config(record.config, model)
        record.env["device_count"] = mesh.size
    seeds = [spec.seed for spec in specs]
    name = f"{group_key(first)}-s{'-'.join(map(str, seeds))}"
    checkpointer = make_checkpointer(cfg.train, checkpoint_root, name)
    try:
        periodic = [periodic_evaluation(dataset, view, cfg.eval, seed) for seed in seeds]
        results = fit_seeds(
            models,
            dataset,
            view.transform,
            cfg.train,
            seeds,
            mesh,
            progress,
            checkpointer,
            periodic,
        )
        if checkpointer is not None:
            checkpointer.close(remove=True)
    except UsageError:
        raise
    except GroupTooLarge as error:  # trained in chunks of the seeds that fit
        if checkpointer is not None:
            checkpointer.close(remove=True)
        options = (progress, devices, checkpoint_root, measure_throughput, params_dir)
        chunks = [specs[i : i + error.fits] for i in range(0, len(specs), error.fits)]
        return [record for chunk in chunks for record in run_group(chunk, *options)]
    except Exception as error:  # a failing group is recorded, and a suite goes on
        return [failed_record(record, error) for record in records]
    outcomes = [FitOutcome.of_gradient(result) for result in results]
    trained = [i for i, outcome in enumerate(outcomes) if outcome.failure is None]
    try:
        measured = evaluate_seeds(
            [models[i] for i in trained], dataset, view, cfg.eval, [seeds[i] for i in trained]
        )
        evaluations = dict(zip(trained, measured, strict=True))
    except UsageError:
        raise
    except Exception:  # each seed is then evaluated alone, and fails (or not) on its own
        evaluations = {}
    throughput = None
    for i, (record, model, spec) in enumerate(zip(records, models, specs, strict=True)):
        # The group's program is timed once, with the first seed that trained to the end.
        finish_record(
            record,
            model,
            dataset,
            view,
            spec,
            outcomes[i],
            measure_throughput,
            throughput,
            params_dir,
            evaluations.get(i),
        )
        if record.status == "ok" and record.throughput:
            throughput = throughput or record.throughput
    return records
