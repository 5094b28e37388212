"""The fit kinds, in one table: ``gradient`` (the shared step), ``exact`` (closed form) and
``em`` (expectation-maximisation with restarts).

Each kind is a function ``FitJob -> FitOutcome``; ``fit_model(kind, job)`` checks that the
model has the capability the kind needs (``genbench.contract.FIT_NEEDS``) and calls it. The
runner calls ``fit_model`` once and reads the same ``FitOutcome`` whatever the kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from genbench import contract
from genbench.config import TrainConfig
from genbench.errors import PluginError, UsageError
from genbench.train.fit import FitResult, fit
from genbench.train.restarts import vmapped_restarts

EXACT_FIT_KEY = 0xF17  # folded into the seed for the dequantising noise of an exact fit
RESTART_SEED_STRIDE = 7919  # restart r > 0 of seed s initialises from s * 7919 + r


@dataclass
class FitJob:
    """Everything a fit kind may need.

    Attributes:
      model: the freshly initialised model (trained in place).
      dataset: the ``Dataset``.
      view: the model's ``DataView`` of the dataset.
      train: the ``train`` config section.
      seed: run seed.
      mesh: device mesh (gradient fits).
      rebuild: ``seed -> model``, a fresh model of the same spec (EM restarts).
      progress: called with the number of steps done.
      checkpointer: a ``genbench.train.checkpoint.Checkpointer`` or ``None`` (gradient fits).
      periodic: a ``genbench.train.fit.PeriodicEval`` or ``None`` (gradient fits).
    """

    model: Any
    dataset: Any
    view: Any
    train: TrainConfig
    seed: int
    mesh: Mesh | None = None
    rebuild: Callable[[int], Any] | None = None
    progress: Callable[[int], None] | None = None
    checkpointer: Any = None
    periodic: Any = None


@dataclass
class FitOutcome:
    """What every fit kind returns.

    Attributes:
      fit_s: wall-clock seconds of the fit without compilation (of the training calls,
        for gradient fits).
      compile_s: seconds spent tracing and compiling the fit's programs.
      history: ``{step, loss, time, ...}`` entries.
      failure: ``None``, or ``{step, group, reason}`` when the fit stopped on a
        non-finite loss, gradient or likelihood.
      resumed_from: the step a checkpoint restored (gradient fits), else ``None``.
      gradient: the gradient fit's ``FitResult`` (compiled step and final state, for
        throughput), else ``None``.
    """

    fit_s: float
    compile_s: float
    history: list[dict] = field(default_factory=list)
    failure: dict | None = None
    resumed_from: int | None = None
    gradient: FitResult | None = None

    @classmethod
    def of_gradient(cls, result: FitResult) -> FitOutcome:
        """The outcome of a gradient fit (one run's, or one seed's of a seed group)."""
        return cls(
            result.train_s,
            result.compile_s,
            result.history,
            result.failure,
            result.resumed_from,
            result,
        )


def gradient_fit(job: FitJob) -> FitOutcome:
    """Trains with the shared step (``genbench.train.fit.fit``); removes its checkpoints."""
    result = fit(
        job.model,
        job.dataset,
        job.view.transform,
        job.train,
        job.seed,
        job.mesh,
        job.progress,
        job.checkpointer,
        job.periodic,
    )
    if job.checkpointer is not None:
        job.checkpointer.close(remove=True)
    return FitOutcome.of_gradient(result)


def _timed(function, *args) -> float:
    """Seconds of ``function(*args)``, its device work included."""
    start = time.perf_counter()
    jax.block_until_ready(function(*args))
    return time.perf_counter() - start


def exact_fit(job: FitJob) -> FitOutcome:
    """Fits in closed form on the model's view of the training data.

    ``model.fit_exact(x, labels)`` receives the features as the model sees them
    (dequantised, with a key from the seed, where the view dequantises) and the
    labels (``None`` for unlabelled data). A first fit of a copy of the model
    compiles its programs; ``compile_s`` is its time less the timed fit's.
    """
    key = jax.random.fold_in(jax.random.key(job.seed), EXACT_FIT_KEY)
    x = job.view.transform(jnp.asarray(job.dataset.train, jnp.float32), key)
    labels = job.dataset.train_labels if contract.is_labelled(job.dataset) else None

    def fit_into(model):
        model.fit_exact(x, labels)
        return nnx.state(model)

    first_s = _timed(fit_into, nnx.clone(job.model))
    fit_s = _timed(fit_into, job.model)
    return FitOutcome(fit_s, max(first_s - fit_s, 0.0))


def em_fit(job: FitJob) -> FitOutcome:
    """``train.steps`` ``em_step`` iterations for each of ``train.restarts`` initialisations,
    all restarts in one compiled program (``genbench.train.restarts``); the best final
    training log-likelihood wins and is written into ``job.model``.

    Restart 0 is ``job.model``; restart r > 0 is ``job.rebuild(seed * 7919 + r)``. A
    dequantising view is applied once, with a key from the seed, so that EM climbs one
    fixed objective. The history (of the best restart) holds the negative log-likelihood
    per time step before each iteration; as the restarts advance in lockstep, an
    iteration's ``time`` is its share of the program's run. ``compile_s`` is the
    program's compilation, which ``fit_s`` leaves out. A non-finite likelihood fails the
    fit at the first restart and iteration (in the sequential order) that reached it.
    """
    train, model = job.train, job.model
    data = jnp.asarray(job.dataset.train)
    if job.view.dequantized:
        data = job.view.transform(data.astype(jnp.float32), jax.random.key(job.seed))
    start = time.perf_counter()
    models = [model] + [
        job.rebuild(job.seed * RESTART_SEED_STRIDE + restart)
        for restart in range(1, train.restarts)
    ]
    build_s = time.perf_counter() - start
    run = vmapped_restarts(models, data, train.steps)
    fit_s = build_s + run.run_s
    failure = _em_failure(run)
    restart = run.best() if failure is None else failure.pop("restart")
    last = train.steps if failure is None else min(failure["step"] + 1, train.steps)
    per = len(data) * model.num_steps
    history = [
        {
            "step": iteration,
            "loss": -float(run.log_likelihoods[restart, iteration]) / per,
            "time": round(fit_s * (iteration + 1) / train.steps, 4),
            "restart": restart,
        }
        for iteration in range(last)
    ]
    if failure is None:
        nnx.update(model, run.state_of(restart))
    if job.progress is not None:
        job.progress(train.steps)
    return FitOutcome(fit_s, run.compile_s, history, failure)


def _em_failure(run) -> dict | None:
    """``{step, group, reason, restart}`` of the first non-finite likelihood, restart by
    restart and iteration by iteration (step ``train.steps`` for a final one), or None."""
    for restart, (log_likelihoods, final) in enumerate(
        zip(run.log_likelihoods, run.final, strict=True)
    ):
        bad = np.flatnonzero(~np.isfinite(log_likelihoods))
        if bad.size or not np.isfinite(final):
            step = int(bad[0]) if bad.size else len(log_likelihoods)
            reason = "non-finite likelihood"
            return {"step": step, "group": "params", "reason": reason, "restart": restart}
    return None


FIT_KINDS: dict[str, Callable[[FitJob], FitOutcome]] = {
    "gradient": gradient_fit,
    "exact": exact_fit,
    "em": em_fit,
}


def check_fit_kind(model: Any, kind: str, label: str) -> None:
    """Raises unless ``model`` can fit by ``kind``; the one-line message starts with ``label``
    (e.g. ``model 'vae'``) and names the method the kind needs.

    Raises:
      UsageError: the model has another fit kind (the message lists the allowed ones).
      PluginError: the model has no fit method at all (its code breaks the contract).
    """
    allowed = contract.fit_kinds(model)
    if kind in allowed:
        return
    needs = contract.FIT_NEEDS[kind]
    problem = f"{label} cannot fit with train.fit={kind} (it has no {needs} method)"
    if not allowed:
        *first, last = (f"{m}()" for m in contract.FIT_NEEDS.values())
        methods = f"{', '.join(first)} or {last}"
        raise PluginError(f"{problem}; it has no fit method at all: a model needs {methods}")
    raise UsageError(f"{problem}; allowed: {', '.join(allowed)}")


def fit_model(kind: str, job: FitJob) -> FitOutcome:
    """Runs the fit kind ``kind`` (a key of ``FIT_KINDS``) on ``job``."""
    return FIT_KINDS[kind](job)
