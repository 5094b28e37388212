"""The fit loop: owns the donated train state, calls the shared step, keeps the history."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from genbench import contract
from genbench.config import TrainConfig
from genbench.contract import param_groups
from genbench.errors import UsageError
from genbench.train.feed import make_feeder
from genbench.train.optim import make_optimizer
from genbench.train.packs import PackFeeder, training_points
from genbench.train.seed_group import SeedGroupStep
from genbench.train.seed_memory import check_fits, local_devices
from genbench.train.step import TrainStep

HISTORY_POINTS = 50  # history entries per run when train.log_every is 0


@dataclass
class FitResult:
    """What a fit produced besides the trained model.

    Attributes:
      step_fn: the compiled shared step (for throughput measurements).
      state: the final train state (also written back into the model).
      compile_s: seconds to trace and compile the step.
      train_s: wall-clock seconds of the training calls.
      history: ``{step, loss, time, loss_<group>...}`` entries.
      failure: ``None``, or ``{step, group, reason}`` for a non-finite loss or gradient.
      resumed_from: the step a checkpoint restored (0 for a fresh run).
      seed_index: the run's place on the seed axis of a seed group's ``step_fn`` and
        ``state`` (``SeedGroupStep``), or None for a run trained alone.
    """

    step_fn: TrainStep
    state: Any
    compile_s: float
    train_s: float
    history: list[dict] = field(default_factory=list)
    failure: dict | None = None
    resumed_from: int = 0
    seed_index: int | None = None


@dataclass(frozen=True)
class PeriodicEval:
    """An evaluation of the model every ``every`` steps during a fit (``eval.every``).

    Attributes:
      every: steps between evaluations, a multiple of ``inner_steps``.
      measure: ``(step, model) -> dict`` of fields added to that step's history entry;
        the model holds the parameters of that step. Its time is left out of the
        fit's ``train_s`` and of the history's ``time``.
    """

    every: int
    measure: Callable[[int, Any], dict]


def log_interval(train: TrainConfig) -> int:
    """Steps between history entries, rounded to a multiple of ``inner_steps``."""
    every = train.log_every or max(train.steps // HISTORY_POINTS, 1)
    return max(train.inner_steps, every // train.inner_steps * train.inner_steps)


def _history_entry(out: dict, step: int, elapsed: float) -> dict:
    losses = {g: float(v[-1]) for g, v in out["loss"].items()}
    entry = {"step": step, "loss": float(sum(losses.values())), "time": round(elapsed, 4)}
    if len(losses) > 1:
        entry |= {f"loss_{g}": v for g, v in losses.items()}
    return entry


def _failure(out: dict, order: list[str]) -> dict | None:
    """The failed step and group: a non-finite gradient first (it is the cause of the
    non-finite losses it leads to), then a non-finite loss, then non-finite parameters;
    groups in the update schedule's order."""
    step = int(out["first_nonfinite"])
    if step < 0:
        return None
    index = step - int(out["step0"])
    grads = [g for g in order if g in out["grad_finite"] and not out["grad_finite"][g][index]]
    losses = [g for g in order if not np.isfinite(np.asarray(out["loss"][g])[index])]
    params = [g for g in order if not out["params_finite"][g]]
    bad = grads + losses + params
    group = bad[0] if bad else None
    return {"step": step, "group": group, "reason": "non-finite loss or gradient"}


def _make_step(models, dataset, transform, train: TrainConfig, seeds, mesh, group: bool):
    """The shared step of one run (``TrainStep``) or of a seed group (``SeedGroupStep``)."""
    model = models[0]
    group_seeds = seeds if group else None
    if train.fixed_packs:
        if contract.uses_labels(model) or contract.train_window(model):
            raise UsageError(
                "train.fixed_packs applies to models that train on whole, unlabelled examples"
            )
        points = training_points(dataset, seeds)
        pack = contract.pack_size(model)
        feeder = PackFeeder(
            points, pack, train.batch_size, train.inner_steps, seeds[0], mesh, group_seeds
        )
    else:
        feeder = make_feeder(
            dataset,
            train.batch_size,
            train.inner_steps,
            seeds[0],
            mesh,
            contract.uses_labels(model),
            contract.train_window(model),
            group_seeds,
        )
    optimizers = {g: make_optimizer(train, g) for g in param_groups(model)}
    options = dict(
        feeder=feeder,
        transform=transform,
        mesh=mesh,
        inner_steps=train.inner_steps,
        cpu_dots=train.cpu_dots,
        compute_dtype=train.compute_dtype,
    )
    if group:
        return SeedGroupStep(model, optimizers, seeds=seeds, **options)
    return TrainStep(model, optimizers, seed=seeds[0], **options)


def fit(
    model,
    dataset,
    transform,
    train: TrainConfig,
    seed: int,
    mesh: Mesh,
    progress: Callable[[int], None] | None = None,
    checkpointer=None,
    periodic: PeriodicEval | None = None,
) -> FitResult:
    """Trains ``model`` on ``dataset`` with the shared step and writes the result back.

    Args:
      model: an NNX module with a ``loss`` method (and optional parameter groups).
      dataset: a ``genbench.data.base.Dataset`` (a source with ``fresh`` samples in-step).
      transform: the data view's ``(x, rng) -> model input``.
      train: the ``train`` config section (``steps`` divisible by ``inner_steps``).
      seed: run seed.
      mesh: device mesh with a ``data`` axis.
      progress: called with the number of steps done after each logged call.
      checkpointer: a ``genbench.train.checkpoint.Checkpointer``: the fit starts
        from its latest checkpoint, if any, and saves every ``checkpoint_every`` steps.
      periodic: evaluations every ``periodic.every`` steps into the history entries.

    Returns:
      A ``FitResult``; a non-finite loss stops training at the call where it happened.
    """
    step_fn = _make_step([model], dataset, transform, train, [seed], mesh, group=False)
    state = step_fn.init_state(model)
    return _train([model], step_fn, state, train, progress, checkpointer, [periodic])[0]


def fit_seeds(
    models,
    dataset,
    transform,
    train: TrainConfig,
    seeds,
    mesh: Mesh,
    progress: Callable[[int], None] | None = None,
    checkpointer=None,
    periodic: Sequence[PeriodicEval | None] | None = None,
) -> list[FitResult]:
    """Trains one model per seed as one compiled program (a ``SeedGroupStep``).

    Args:
      models: the freshly initialised models, one per seed (each from its own seed).
      dataset, transform, train, mesh, progress, checkpointer: as for ``fit``; the
        checkpoints hold the whole group.
      seeds: the runs' seeds, one per model.
      periodic: each seed's periodic evaluation (``fit``'s), or None.

    Returns:
      One ``FitResult`` per seed, in order; they share the group's compiled step, state,
      ``compile_s`` and ``train_s``. A seed whose loss turns non-finite gets its failure
      and stops at that step; the others train on.
    """
    step_fn = _make_step(models, dataset, transform, train, list(seeds), mesh, group=True)
    state = step_fn.init_state(models)
    periodic = list(periodic) if periodic is not None else [None] * len(models)
    return _train(models, step_fn, state, train, progress, checkpointer, periodic)


def _per_seed(out: dict, group: bool) -> list[dict]:
    """A call's host outputs split per seed (one run's outputs are a group of one)."""
    if not group:
        return [out]
    size = len(out["first_nonfinite"])
    return [jax.tree.map(lambda a, i=i: a[i], out) for i in range(size)]


def _write_back(step_fn, model, state, index: int, group: bool) -> None:
    if group:
        step_fn.write_back(model, state, index)
    else:
        step_fn.write_back(model, state)


def _train(models, step_fn, state, train: TrainConfig, progress, checkpointer, periodic):
    """The fit loop of one run or one seed group; returns one ``FitResult`` per model
    (``periodic``: one ``PeriodicEval`` or None per model)."""
    group = isinstance(step_fn, SeedGroupStep)
    size = len(models)
    histories: list[list[dict]] = [[] for _ in range(size)]
    failures: list[dict | None] = [None] * size
    resumed_from = 0
    if checkpointer is not None:
        state, resumed_from, saved = checkpointer.restore(state)
        if group and saved:
            histories = [entry["history"] for entry in saved]
            failures = [entry["failure"] for entry in saved]
        elif saved:
            histories = [saved]
    if group:
        step_fn.alive[:] = [f is None for f in failures]
    compile_s = step_fn.compile(state)
    if group:  # a group too large for its devices is split by the caller (run_group)
        check_fits(step_fn, local_devices(step_fn.mesh))
    every = log_interval(train)
    order = list(dict.fromkeys(g for groups, _ in step_fn.schedule for g in groups))
    pending = []
    start = time.perf_counter()
    for first in range(resumed_from, train.steps, train.inner_steps):
        state, out = step_fn(state, first)
        pending.append((first, out))
        done = first + train.inner_steps
        saving = checkpointer is not None and done % checkpointer.every == 0
        evaluating = [p is not None and done % p.every == 0 for p in periodic]
        if done % every == 0 or done == train.steps or saving or any(evaluating):
            # One host sync per logged call; calls in between only queue work on the device.
            calls = [(f, _per_seed(jax.device_get(o), group)) for f, o in pending]
            elapsed = time.perf_counter() - start
            for index in range(size):
                if failures[index] is not None:
                    continue
                histories[index].append(_seed_log(calls, index, order, done, elapsed, failures))
            pending = []
            if group:
                step_fn.alive[:] = [f is None for f in failures]
            paused = time.perf_counter()
            for index, model in enumerate(models):
                if evaluating[index] and failures[index] is None:
                    _write_back(step_fn, model, state, index, group)
                    histories[index][-1] |= periodic[index].measure(done, model)
            start += time.perf_counter() - paused  # evaluation is not training time
            if progress is not None:
                progress(done)
            if all(f is not None for f in failures):
                break
        if saving and done < train.steps:
            saved = histories[0] if not group else _group_log(histories, failures)
            checkpointer.maybe_save(done, state, saved)
    jax.block_until_ready(state)
    train_s = time.perf_counter() - start
    results = []
    for index, model in enumerate(models):
        _write_back(step_fn, model, state, index, group)
        results.append(
            FitResult(
                step_fn,
                state,
                compile_s,
                train_s,
                histories[index],
                failures[index],
                resumed_from,
                index if group else None,
            )
        )
    return results


def _seed_log(calls, index: int, order, done: int, elapsed: float, failures) -> dict:
    """Seed ``index``'s history entry for the calls since the last one; sets its failure
    when one of those calls went non-finite (the entry is then at the failed step)."""
    for first, outs in calls:
        if int(outs[index]["first_nonfinite"]) >= 0:
            failures[index] = _failure(outs[index] | {"step0": first}, order)
            return _history_entry(outs[index], failures[index]["step"], elapsed)
    return _history_entry(calls[-1][1][index], done, elapsed)


def _group_log(histories, failures) -> list[dict]:
    """A seed group's histories and failures as one JSON checkpoint entry."""
    return [{"history": h, "failure": f} for h, f in zip(histories, failures, strict=True)]
