"""Seeds in parallel: the runs of one config that differ only in their seed, trained as
one compiled program.

``SeedGroupStep`` is the shared ``TrainStep`` mapped with ``jax.vmap`` over a leading
seed axis of everything a run owns: parameters, optimiser states, non-parameter state,
base PRNG keys and (for data sets held on the devices) the epoch permutations. The data
itself, the step index and the program are shared, and the batch axis is still split over
the mesh's ``data`` axis, so a group runs seeds x data. Each seed's run is the run it would
have been alone: the same initialisation (its own model), the same batches and the same
keys; only the arithmetic of batched products may round differently.

A seed whose loss or gradient turns non-finite is marked dead by the fit loop; its
updates are masked from the next call on (its state stays as it was), and the others go on.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from genbench.train.mesh import replicated
from genbench.train.step import TrainState, TrainStep


class SeedGroupStep(TrainStep):
    """The compiled multi-step call of S seeds of one model (see the module docstring).

    Args:
      model: one of the group's models (the structure every seed shares).
      optimizers, feeder, transform, mesh, inner_steps, options: as for ``TrainStep``;
        the feeder was made with the group's ``seeds`` (``make_feeder``).
      seeds: the group's seeds, in the order of the seed axis.
    """

    def __init__(self, model, optimizers, *, seeds: Sequence[int], **kwargs):
        if not seeds:
            raise ValueError("a seed group needs at least one seed")
        super().__init__(model, optimizers, seed=seeds[0], **kwargs)
        self.seeds = tuple(int(s) for s in seeds)
        self.base_keys = jax.vmap(jax.random.key)(jnp.asarray(self.seeds, jnp.uint32))
        self.alive = np.ones(len(self.seeds), bool)

    @property
    def parallel_seeds(self) -> int:
        """The number of seeds trained by one call."""
        return len(self.seeds)

    def init_state(self, models) -> TrainState:
        """The group's train state: each model's fresh state stacked on a leading seed axis.

        Args:
          models: one freshly initialised model per seed, in the order of ``seeds``.
        """
        if len(models) != self.parallel_seeds:
            raise ValueError(f"{len(models)} models for {self.parallel_seeds} seeds")
        states = [TrainStep.init_state(self, model) for model in models]
        stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
        return jax.device_put(stacked, replicated(self.mesh))

    def seed_state(self, state: TrainState, index: int) -> TrainState:
        """Seed ``index``'s train state, taken out of the group's."""
        return jax.tree.map(lambda leaf: leaf[index], state)

    def write_back(self, model, state: TrainState, index: int = 0) -> None:
        """Puts seed ``index``'s trained parameters and other state back into ``model``."""
        super().write_back(model, self.seed_state(state, index))

    def _seed_axes(self):
        """``vmap`` axes of (state, data, call inputs, first step, base key)."""
        return (0, None, self.feeder.input_seed_axes, None, 0)

    def _program(self, state: TrainState, data, inputs, first_step, base_keys, alive):
        self.traces += 1
        new_state, out = jax.vmap(self._multi_step, in_axes=self._seed_axes())(
            state, data, inputs, first_step, base_keys
        )

        def keep_dead(new, old):
            return jnp.where(alive.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)

        return jax.tree.map(keep_dead, new_state, state), out

    def _args(self, first_step: int):
        data, inputs, step, _ = super()._args(first_step)
        return data, inputs, step, self.base_keys, self.alive

    def _single_step(self, state: TrainState, data, inputs, step, base_keys, alive):
        del alive
        one = super()._single_step
        return jax.vmap(one, in_axes=self._seed_axes())(state, data, inputs, step, base_keys)
