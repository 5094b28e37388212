"""Checkpoints of the train state with orbax: atomic, the last k kept, exact resumption.

Data order (the permutation of epoch e comes from (seed, e)) and the PRNG
stream (``fold_in(key(seed), step)``) are functions of the step, so a run
restored from the checkpoint of step s and continued reaches the same final
state as a run that was never interrupted: bitwise on CPU.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orbax.checkpoint as ocp


class Checkpointer:
    """Saves the train state (and the history so far) every ``every`` steps.

    Args:
      directory: where this run's checkpoints live (one run per directory).
      every: steps between checkpoints (a multiple of ``inner_steps``).
      keep: how many of the latest checkpoints are kept.
    """

    def __init__(self, directory: str | Path, every: int, keep: int = 2):
        self.directory = Path(directory).absolute()
        self.every = every
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def restore(self, state) -> tuple[object, int, list[dict]]:
        """``(state, first_step, history)`` from the latest checkpoint, or the inputs at step 0.

        Args:
          state: a freshly initialised train state: the structure, dtypes and
            shardings to restore into.
        """
        step = self._manager.latest_step()
        if step is None:
            return state, 0, []
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(state), history=ocp.args.JsonRestore()
            ),
        )
        return restored.state, int(step), list(restored.history)

    def maybe_save(self, step: int, state, history: list[dict]) -> bool:
        """Saves at multiples of ``every``; returns whether it saved."""
        if step % self.every:
            return False
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state), history=ocp.args.JsonSave(history)
        )
        self._manager.save(step, args=args)
        # The next compiled call donates ``state``; finish the host copy first.
        self._manager.wait_until_finished()
        return True

    def close(self, remove: bool = False) -> None:
        """Waits for pending writes; with ``remove``, deletes this run's checkpoints."""
        self._manager.wait_until_finished()
        self._manager.close()
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)
