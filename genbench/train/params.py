"""A trained model's parameters saved next to its record with orbax, and restored into a
freshly built model of the same config (``genbench run --save-model``, ``genbench sample``)."""

from __future__ import annotations

from pathlib import Path

import orbax.checkpoint as ocp
from flax import nnx

# Everything a model holds but its random-number streams: parameters, batch statistics and
# the fitted tables of closed-form models. A fresh model of the same seed rebuilds the rest.
SAVED = nnx.Not(nnx.RngState)


def save_params(model: nnx.Module, directory: str | Path) -> Path:
    """Saves the state of ``model`` (less its RNG streams) into ``directory`` with orbax.

    Args:
      model: the trained module.
      directory: a directory that must not exist yet (orbax writes it atomically).

    Returns:
      The directory, absolute.
    """
    directory = Path(directory).absolute()
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory, nnx.state(model, SAVED))
        checkpointer.wait_until_finished()
    return directory


def restore_params(model: nnx.Module, directory: str | Path) -> nnx.Module:
    """Loads the state saved by ``save_params`` into ``model`` (built from the same config).

    Args:
      model: a freshly built module of the saved model's config: the structure to restore into.
      directory: what ``save_params`` wrote.

    Returns:
      ``model``, updated in place.
    """
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(Path(directory).absolute(), nnx.state(model, SAVED))
    nnx.update(model, restored)
    return model
