"""EM with restarts: R initialisations of a model trained by its ``em_step`` side by side.

``vmapped_restarts`` is the fit's path: the R restarts' parameters are stacked on a
leading restart axis and all ``steps`` EM iterations of all restarts run as one
compiled program (``lax.scan`` over iterations inside ``jax.vmap`` over restarts),
so that a restart costs a wider array rather than ``steps`` more dispatches and host
syncs. ``sequential_restarts`` is what ``train.fit=em`` ran before: each restart's
iterations one compiled ``em_step`` call at a time, a Python loop over restarts. It
is kept as the reference that the vmapped path must equal (``tests/test_em_restarts.py``)
and as the baseline of ``benchmarks/test_hmm_restarts.py``.

Both take the R freshly initialised models and return a ``RestartRun``; the caller
(``genbench.train.fits.em_fit``) chooses the restart, writes it into the run's model
and turns the likelihoods into the record's history.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

# Final log-likelihoods this close (relative) to the best are ties: float32 sums of
# 1e4-1e6 terms differ by ~1e-7 relative between batched and sequential arithmetic.
TIE_TOLERANCE = 1e-6


@dataclass
class RestartRun:
    """What R restarts of ``steps`` EM iterations produced.

    Attributes:
      log_likelihoods: ``[R, steps]`` total training log-likelihood before each iteration.
      final: ``[R]`` total training log-likelihood after the last iteration.
      states: the R trained models' ``nnx.State``, stacked on a leading restart axis.
      compile_s: seconds spent tracing and compiling.
      run_s: seconds of the iterations and final likelihoods, compilation excluded.
    """

    log_likelihoods: np.ndarray
    final: np.ndarray
    states: nnx.State
    compile_s: float
    run_s: float

    def best(self) -> int:
        """Index of the restart with the highest final likelihood: the first restart within
        ``TIE_TOLERANCE`` (relative) of the highest. Restarts that reach one optimum (often
        with the states relabelled) differ only by rounding, and batched and sequential
        arithmetic round differently; the tolerance makes both choose the same restart.
        Call it when every ``final`` is finite."""
        highest = float(np.max(self.final))
        near = self.final >= highest - TIE_TOLERANCE * abs(highest)
        return int(np.argmax(near))

    def state_of(self, restart: int) -> nnx.State:
        """The trained state of ``restart`` (its slice of the restart axis)."""
        return _restart(self.states, restart)


def _stack(states: list[nnx.State]) -> nnx.State:
    """The states of equally shaped models stacked on a new leading axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def _restart(tree, index: int):
    """The slice ``index`` of a tree stacked on a leading restart axis."""
    return jax.tree.map(lambda leaf: leaf[index], tree)


def _add_restart_axis(tree):
    """``tree`` with a leading restart axis of size 1."""
    return jax.tree.map(lambda leaf: leaf[None], tree)


def _iterate(graphdef: nnx.GraphDef, steps: int, state: nnx.State, data: jax.Array):
    """``steps`` ``em_step`` iterations of one restart, then its final log-likelihood.

    Returns:
      ``(state after the iterations, [steps] log-likelihoods before each, final total)``.
    """

    def iteration(current, _):
        model = nnx.merge(graphdef, current)
        log_likelihood = model.em_step(data)
        return nnx.state(model), log_likelihood

    state, log_likelihoods = jax.lax.scan(iteration, state, None, length=steps)
    final = jnp.sum(nnx.merge(graphdef, state).log_prob(data))
    return state, log_likelihoods, final


def compile_restarts(models: list, data: jax.Array, steps: int):
    """The compiled program of ``vmapped_restarts`` and its stacked initial states.

    Args:
      models: R models of one spec (same graph and shapes), freshly initialised.
      data: the training data, as ``em_step`` takes it.
      steps: EM iterations per restart.

    Returns:
      ``(compiled, stacked_states, compile_s)``; ``compiled(stacked_states, data)`` runs
      every restart and returns ``(states, [R, steps] log-likelihoods, [R] final)``.
    """
    graphdef = nnx.graphdef(models[0])
    states = _stack([nnx.state(model) for model in models])
    iterate = functools.partial(_iterate, graphdef, steps)
    if len(models) == 1:
        # One restart unbatched: XLA:CPU ran the vmapped program with a restart axis of
        # size 1 several times slower than this one (its gathers and tiny dots batched).
        program = jax.jit(lambda s, x: _add_restart_axis(iterate(_restart(s, 0), x)))
    else:
        program = jax.jit(jax.vmap(iterate, in_axes=(0, None)))
    start = time.perf_counter()
    compiled = program.lower(states, data).compile()
    return compiled, states, time.perf_counter() - start


def vmapped_restarts(models: list, data: jax.Array, steps: int) -> RestartRun:
    """Every restart's ``steps`` EM iterations as one compiled program, vmapped over restarts.

    Each restart starts from its model's parameters, as ``sequential_restarts`` does,
    and computes what it would alone (up to the rounding of batched arithmetic). The
    models are not changed: the trained states are in the result.

    Args:
      models: R models of one spec (same graph and shapes) with an ``em_step``.
      data: the training data, as ``em_step`` takes it.
      steps: EM iterations per restart.

    Returns:
      The ``RestartRun``; ``compile_s`` is the lowering and compilation, ``run_s`` the call.
    """
    compiled, states, compile_s = compile_restarts(models, data, steps)
    start = time.perf_counter()
    states, log_likelihoods, final = jax.block_until_ready(compiled(states, data))
    run_s = time.perf_counter() - start
    return RestartRun(np.asarray(log_likelihoods), np.asarray(final), states, compile_s, run_s)


@nnx.jit
def _total_log_prob(model, data: jax.Array) -> jax.Array:
    """Total log-likelihood of ``data``, compiled once per model shape. (``em_fit`` used
    to compute it eagerly, which re-lowers the forward scan each time: ~1 s a restart.)"""
    return jnp.sum(model.log_prob(data))


def sequential_restarts(models: list, data: jax.Array, steps: int) -> RestartRun:
    """The reference: each restart's iterations one ``em_step`` call at a time, in order.

    Every call's likelihood is read on the host (as the fit's history did), and
    the models are trained in place. ``compile_s`` is 0: ``em_step``'s programs are
    compiled on their first call, inside ``run_s`` (warm them up to time the loop alone).

    Args:
      models: R models with an ``em_step``.
      data: the training data, as ``em_step`` takes it.
      steps: EM iterations per restart.

    Returns:
      The ``RestartRun`` (``states`` stacked from the trained models).
    """
    start = time.perf_counter()
    log_likelihoods = np.array(
        [[float(model.em_step(data)) for _ in range(steps)] for model in models], np.float32
    ).reshape(len(models), steps)
    final = np.array([float(_total_log_prob(model, data)) for model in models], np.float32)
    run_s = time.perf_counter() - start
    states = _stack([nnx.state(model) for model in models])
    return RestartRun(log_likelihoods, final, states, 0.0, run_s)
