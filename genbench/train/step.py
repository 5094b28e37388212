"""The one training step that trains every gradient-trained model.

``make_train_step(model, optimizers, ...)`` splits the model once into a
graph definition, one parameter state per group and the remaining state
(e.g. BatchNorm statistics), and compiles with plain ``jax.jit`` a call that
runs ``inner_steps`` optimisation steps (``lax.scan`` over step indices). Each
step gathers its own batch inside the call, uses the PRNG key
``fold_in(key(seed), step)`` (derived for all the call's steps before the
scan), and runs the model's update schedule: phases in
order, each differentiating that group's loss with respect to that group's
parameters only (with the parameters the earlier phases produced) and
updating them with the group's own optax optimiser. The train state is
donated: the fit loop owns it and writes it back into the model with
``write_back`` before anything evaluates the model.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from genbench import contract
from genbench.contract import param_groups
from genbench.errors import UsageError
from genbench.models.fast.cpu_dots import cpu_dot_options
from genbench.train.checks import check_loss_structure
from genbench.train.mesh import batch_sharded, replicated

Phase = tuple[tuple[str, ...], int]
TrainState = dict[str, Any]


def update_schedule(model: nnx.Module, groups: Sequence[str]) -> list[Phase]:
    """The model's phases ``[(groups, repeats), ...]``, checked against its groups;
    default: all groups at once, once."""
    schedule = contract.update_schedule(model)
    if schedule is None:
        return [(tuple(groups), 1)]
    phases = []
    for group, repeats in schedule:
        phase_groups = (group,) if isinstance(group, str) else tuple(group)
        unknown = set(phase_groups) - set(groups)
        if unknown or repeats < 1:
            raise ValueError(f"bad update schedule entry {(group, repeats)} for groups {groups}")
        phases.append((phase_groups, int(repeats)))
    return phases


class TrainStep:
    """The compiled multi-step training call of one model (see the module docstring).

    Args:
      model: an NNX module with ``loss(batch, rng) -> (dict[group, loss], dict[str, metric])``.
      optimizers: one optax transformation per parameter group.
      feeder: ``ArrayFeeder`` or ``SourceFeeder`` (``genbench.train.feed``).
      transform: ``(x, rng) -> model input`` applied to each gathered batch.
      mesh: the device mesh; the batch is split over its ``data`` axis.
      inner_steps: optimisation steps per compiled call.
      seed: run seed; step ``s`` uses ``fold_in(key(seed), s)``.
      cpu_dots: XLA:CPU's matrix-product library on CPU devices, ``"ynnpack"``
        (XLA's default) or ``"eigen"``; ignored on other platforms
        (``genbench.models.fast.cpu_dots``).
      compute_dtype: ``"float32"``, or ``"bfloat16"`` for mixed precision: each loss
        sees a bfloat16 copy of the parameters, of the non-parameter state and of
        the batch's float arrays, and returns its losses in float32; parameters,
        gradients and optimiser states stay float32.
    """

    def __init__(
        self,
        model,
        optimizers: Mapping[str, optax.GradientTransformation],
        *,
        feeder,
        transform,
        mesh: Mesh,
        inner_steps: int,
        seed: int,
        cpu_dots: str = "ynnpack",
        compute_dtype: str = "float32",
    ):
        groups = param_groups(model)
        if set(groups) != set(optimizers):
            raise ValueError(f"optimizers for {sorted(optimizers)} but groups {sorted(groups)}")
        if feeder.batch_size % mesh.size:
            raise UsageError(
                f"train.batch_size={feeder.batch_size} must be a multiple of the "
                f"{mesh.size} devices"
            )
        self.groups = list(groups)
        self.filters = [groups[g] for g in self.groups]
        self.graphdef, *_ = nnx.split(model, *self.filters, ...)
        self.schedule = update_schedule(model, self.groups)
        self.check_gradients = len(self.groups) > 1
        self.optimizers = dict(optimizers)
        self.feeder, self.transform, self.mesh = feeder, transform, mesh
        self.inner_steps = inner_steps
        self.base_key = jax.random.key(seed)
        self.traces = 0  # Python traces of the multi-step call: 1 per run is the contract
        self._jitted = jax.jit(self._program, donate_argnums=(0,), out_shardings=replicated(mesh))
        self._compiled = None
        self.compiler_options = cpu_dot_options(cpu_dots, mesh.devices.flat[0].platform)
        self.compute_dtype = jnp.dtype(compute_dtype)

    parallel_seeds = 1  # runs trained by one call (a ``SeedGroupStep`` trains several)

    # -- state ------------------------------------------------------------------------------
    def init_state(self, model: nnx.Module) -> TrainState:
        """Splits ``model`` into a fresh train state (groups' params, rest, optimiser states).

        The states hold plain arrays (``nnx.as_pure``), not ``Variable`` objects:
        flattening and rebuilding Variables on every call of the compiled step
        cost about 5 us per parameter array in Python, which matters when a call
        runs one step of a small model.
        """
        _, *states = nnx.split(model, *self.filters, ...)
        states = [nnx.as_pure(state) for state in states]
        params = dict(zip(self.groups, states[:-1], strict=True))
        opt = {g: self.optimizers[g].init(params[g]) for g in self.groups}
        return jax.device_put(
            {"params": params, "rest": states[-1], "opt": opt}, replicated(self.mesh)
        )

    def write_back(self, model: nnx.Module, state: TrainState) -> None:
        """Puts the trained parameters and other state back into ``model``."""
        nnx.update(model, *[state["params"][g] for g in self.groups], state["rest"])

    # -- one step ---------------------------------------------------------------------------
    def _merge(self, params, rest):
        return nnx.merge(self.graphdef, *[params[g] for g in self.groups], rest)

    def _split_rest(self, model):
        return nnx.as_pure(nnx.split(model, *self.filters, ...)[-1])

    def _phase(self, params, rest, opt, phase_groups, batch, rng):
        """One phase: each group's loss differentiated w.r.t. its params at the same point."""
        new_params, new_opt, losses, grad_finite = dict(params), dict(opt), {}, {}
        metrics, new_rest = {}, rest
        for group in phase_groups:

            def group_loss(group_params, group=group):
                # merge makes fresh Variables at this trace level from the plain
                # arrays, so the loss may update non-parameter state.
                compute = self._in_compute_dtype
                model = self._merge(compute({**params, group: group_params}), compute(rest))
                outputs = model.loss(compute(batch), rng)
                check_loss_structure(model, outputs, self.groups)  # at trace time: no cost
                group_losses, group_metrics = outputs
                group_losses, group_metrics = _as_float32((group_losses, group_metrics))
                new_rest = _like(self._split_rest(model), rest)
                return group_losses[group], (group_losses, group_metrics, new_rest)

            (loss, (_, metrics, new_rest)), grads = jax.value_and_grad(group_loss, has_aux=True)(
                params[group]
            )
            updates, new_opt[group] = self.optimizers[group].update(
                grads, opt[group], params[group]
            )
            new_params[group] = optax.apply_updates(params[group], updates)
            losses[group] = loss
            if self.check_gradients:
                grad_finite[group] = _all_finite(grads)
        return new_params, new_rest, new_opt, losses, metrics, grad_finite

    def _in_compute_dtype(self, tree):
        """``tree`` with its floating arrays in the compute dtype (a no-op for float32)."""
        if self.compute_dtype == jnp.float32:
            return tree
        return jax.tree.map(
            lambda a: a.astype(self.compute_dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a,
            tree,
        )

    def _step_keys(self, steps: jax.Array, base_key: jax.Array) -> dict[str, jax.Array]:
        """Every key the steps ``steps`` use, derived for all of them at once.

        Step ``s`` uses ``fold_in(key(seed), s)`` split in three (data, view,
        model), and phase ``i``, repeat ``r`` folds ``1024 i + r`` into the model
        key. The derivation is vectorised over the call's steps, outside the
        scan: XLA:CPU runs each threefry hash as a small loop of many thunks, so
        per-step derivation inside the scan body costs more than the hashing.
        """
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(base_key, steps)
        k_data, k_view, k_model = jnp.moveaxis(
            jax.vmap(lambda k: jax.random.split(k, 3))(keys), 1, 0
        )
        folds = [
            index * 1024 + repeat
            for index, (_, n) in enumerate(self.schedule)
            for repeat in range(n)
        ]
        k_phase = jax.vmap(
            lambda k: jax.vmap(jax.random.fold_in, (None, 0))(k, jnp.asarray(folds))
        )(k_model)
        return {"data": k_data, "view": k_view, "phase": k_phase}

    def _one_step(self, state: TrainState, data, inputs, step: jax.Array, keys):
        batch = self.feeder.batch(data, inputs, step, keys["data"])
        if isinstance(batch, tuple):  # (features, labels): the view applies to the features
            batch = (self.transform(batch[0], keys["view"]), *batch[1:])
        else:
            batch = self.transform(batch, keys["view"])
        batch = jax.lax.with_sharding_constraint(batch, batch_sharded(self.mesh))
        params, rest, opt = state["params"], state["rest"], state["opt"]
        losses, metrics, grad_finite = {}, {}, {}
        phase_rngs = iter(keys["phase"])
        for phase_groups, repeats in self.schedule:
            for _ in range(repeats):
                params, rest, opt, phase_losses, metrics, phase_finite = self._phase(
                    params, rest, opt, phase_groups, batch, next(phase_rngs)
                )
                losses |= phase_losses
                for group, ok in phase_finite.items():
                    grad_finite[group] = jnp.logical_and(ok, grad_finite.get(group, True))
        finite = jnp.all(jnp.isfinite(jnp.stack(list(losses.values()))))
        if grad_finite:
            finite = jnp.logical_and(finite, jnp.all(jnp.stack(list(grad_finite.values()))))
        out = {"loss": losses, "metrics": metrics, "finite": finite, "grad_finite": grad_finite}
        return {"params": params, "rest": rest, "opt": opt}, out

    def _multi_step(self, state: TrainState, data, inputs, first_step: jax.Array, base_key):
        steps = first_step + jnp.arange(self.inner_steps, dtype=jnp.int32)
        state, out = jax.lax.scan(
            lambda s, xs: self._one_step(s, data, inputs, *xs),
            state,
            (steps, self._step_keys(steps, base_key)),
        )
        # With one parameter group, a non-finite gradient makes that step's parameters
        # non-finite, and so the next step's loss: checking the losses per step and the
        # parameters once per call finds it without a pass over every gradient in every
        # step (which cost 6% of the VAE benchmark's step on CPU). With several groups
        # each phase's gradients are checked, so that the failure names the right one.
        out["params_finite"] = {g: _all_finite(p) for g, p in state["params"].items()}
        bad = jnp.logical_not(out["finite"])
        params_ok = jnp.all(jnp.stack(list(out["params_finite"].values())))
        last = jnp.where(params_ok, -1, steps[-1])
        out["first_nonfinite"] = jnp.where(jnp.any(bad), steps[jnp.argmax(bad)], last)
        return state, out

    def _program(self, state: TrainState, data, inputs, first_step: jax.Array, base_key):
        """The compiled call: ``inner_steps`` steps of one run (a seed group overrides it)."""
        self.traces += 1
        return self._multi_step(state, data, inputs, first_step, base_key)

    # -- compiled calls ---------------------------------------------------------------------
    def _args(self, first_step: int):
        inputs = self.feeder.call_inputs(first_step)
        return self.feeder.data, inputs, np.int32(first_step), self.base_key

    def compile(self, state: TrainState) -> float:
        """Traces and compiles the call ahead of time; returns the seconds it took."""
        start = time.perf_counter()
        lowered = self._jitted.lower(state, *self._args(0))
        try:
            self._compiled = lowered.compile(self.compiler_options or None)
        except Exception as error:  # a jaxlib without the option: XLA's default library
            if not any(name in str(error) for name in self.compiler_options):
                raise
            warnings.warn(
                f"this jaxlib rejects the compile options {self.compiler_options} "
                f"({error}); the training step uses XLA's default dot library",
                stacklevel=2,
            )
            self._compiled = lowered.compile()
        return time.perf_counter() - start

    def __call__(self, state: TrainState, first_step: int) -> tuple[TrainState, dict]:
        """Runs steps ``first_step .. first_step + inner_steps - 1``; ``state`` is donated."""
        if self._compiled is None:
            self.compile(state)
        return self._compiled(state, *self._args(first_step))

    def _single_step(self, state: TrainState, data, inputs, step: jax.Array, base_key):
        """One optimisation step of the call's program (for its cost analysis)."""
        keys = jax.tree.map(lambda k: k[0], self._step_keys(step[None], base_key))
        return self._one_step(state, data, inputs, step, keys)

    def memory_analysis(self):
        """XLA's memory analysis of the compiled call (None before compiling)."""
        return None if self._compiled is None else self._compiled.memory_analysis()

    def single_step_flops(self, state: TrainState) -> float | None:
        """FLOPs of one optimisation step (the whole global batch) from XLA's cost analysis.

        The single-step program is lowered (not compiled) on its own, because
        XLA counts a scan body once whatever its trip count. The lowered program
        is not yet partitioned, so its count is already global: the same on 1
        and on N devices (DESIGN §5).
        """

        cost = jax.jit(self._single_step).lower(state, *self._args(0)).cost_analysis()
        cost = cost[0] if isinstance(cost, list | tuple) else cost
        flops = (cost or {}).get("flops")
        return None if flops is None or flops < 0 else float(flops)


def _as_float32(tree):
    """``tree`` with its floating arrays in float32 (losses and metrics of a bfloat16 step)."""
    return jax.tree.map(
        lambda a: a.astype(jnp.float32) if jnp.issubdtype(jnp.result_type(a), jnp.floating) else a,
        tree,
    )


def _like(tree, reference):
    """``tree`` cast leaf by leaf to ``reference``'s dtypes (state carried between steps)."""
    return jax.tree.map(lambda a, r: jnp.asarray(a).astype(jnp.result_type(r)), tree, reference)


def _all_finite(tree) -> jax.Array:
    """Whether every element of every leaf is finite (a norm would overflow first)."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def make_train_step(
    model, optimizers, *, feeder, transform, mesh, inner_steps=1, seed=0, **options
):
    """Builds the shared ``TrainStep`` of ``model`` (see ``TrainStep`` for the arguments;
    ``options``: ``cpu_dots``, ``compute_dtype``)."""
    return TrainStep(
        model,
        optimizers,
        feeder=feeder,
        transform=transform,
        mesh=mesh,
        inner_steps=inner_steps,
        seed=seed,
        **options,
    )
