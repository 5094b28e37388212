"""The fit loop: owns the donated train state, calls the shared step, keeps the history."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from genbench import contract
from genbench.config import TrainConfig
from genbench.contract import param_groups
from genbench.train.feed import make_feeder
from genbench.train.optim import make_optimizer
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
    """

    step_fn: TrainStep
    state: Any
    compile_s: float
    train_s: float
    history: list[dict] = field(default_factory=list)
    failure: dict | None = None
    resumed_from: int = 0


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
    with_labels = contract.uses_labels(model)
    window = contract.train_window(model)
    feeder = make_feeder(
        dataset, train.batch_size, train.inner_steps, seed, mesh, with_labels, window
    )
    optimizers = {g: make_optimizer(train, g) for g in param_groups(model)}
    step_fn = TrainStep(
        model,
        optimizers,
        feeder=feeder,
        transform=transform,
        mesh=mesh,
        inner_steps=train.inner_steps,
        seed=seed,
        cpu_dots=train.cpu_dots,
        compute_dtype=train.compute_dtype,
    )
    state = step_fn.init_state(model)
    history, resumed_from = [], 0
    if checkpointer is not None:
        state, resumed_from, history = checkpointer.restore(state)
    compile_s = step_fn.compile(state)
    every = log_interval(train)
    failure, pending = None, []
    start = time.perf_counter()
    for first in range(resumed_from, train.steps, train.inner_steps):
        state, out = step_fn(state, first)
        pending.append((first, out))
        done = first + train.inner_steps
        saving = checkpointer is not None and done % checkpointer.every == 0
        evaluating = periodic is not None and done % periodic.every == 0
        if done % every == 0 or done == train.steps or saving or evaluating:
            # One host sync per logged call; calls in between only queue work on the device.
            firsts = jax.device_get([o["first_nonfinite"] for _, o in pending])
            bad = next((i for i, f in enumerate(firsts) if f >= 0), None)
            if bad is not None:
                first, out = pending[bad]
                order = list(dict.fromkeys(g for groups, _ in step_fn.schedule for g in groups))
                failure = _failure(jax.device_get(out) | {"step0": first}, order)
                done = failure["step"]
            history.append(_history_entry(jax.device_get(out), done, time.perf_counter() - start))
            pending = []
            if evaluating and failure is None:
                paused = time.perf_counter()
                step_fn.write_back(model, state)
                history[-1] |= periodic.measure(done, model)
                start += time.perf_counter() - paused  # evaluation is not training time
            if progress is not None:
                progress(done)
            if failure is not None:
                break
        if saving and done < train.steps:
            checkpointer.maybe_save(done, state, history)
    jax.block_until_ready(state)
    train_s = time.perf_counter() - start
    step_fn.write_back(model, state)
    return FitResult(step_fn, state, compile_s, train_s, history, failure, resumed_from)
