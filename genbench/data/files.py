"""The ``file`` dataset: a user's ``.npy`` or ``.csv`` array, split by a fixed seed."""

from __future__ import annotations

import numpy as np

from genbench.data.base import Dataset
from genbench.data.checks import check_data_file
from genbench.data.configs import FileConfig
from genbench.errors import UsageError


def load_array(path: str) -> np.ndarray:
    """The float32 array in a ``.npy`` file or a comma-separated ``.csv`` (no header).

    Raises:
      UsageError: unreadable content, non-numeric or non-finite values.
    """
    try:
        if path.lower().endswith(".npy"):
            array = np.load(path, allow_pickle=False)
        else:
            array = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"data file {path!r} is not a numeric array: {reason}") from None
    if not np.issubdtype(array.dtype, np.number) or array.ndim < 2:
        raise UsageError(
            f"data file {path!r} must hold a numeric array [examples, features...]"
            f" (got dtype {array.dtype}, shape {array.shape})"
        )
    if not np.all(np.isfinite(array)):
        raise UsageError(f"data file {path!r} holds NaN or infinite values")
    return array.astype(np.float32)


def file_dataset(config: FileConfig) -> Dataset:
    """The dataset in ``config.path`` with a seeded train/test split."""
    check_data_file(config.path, config.sha256, (".npy", ".csv"))
    array = load_array(config.path)
    if config.kind == "binary" and not np.isin(array, (0.0, 1.0)).all():
        raise UsageError(f"data.kind=binary but {config.path!r} holds values other than 0 and 1")
    levels = _symbol_levels(array, config) if config.kind == "sequence" else 0
    n_test = int(round(config.test_fraction * len(array)))
    if n_test < 1 or n_test >= len(array):
        raise UsageError(f"data file {config.path!r} has {len(array)} examples: too few to split")
    order = np.random.default_rng(config.split_seed).permutation(len(array))
    if levels:
        array = array.astype(np.int32)
    return Dataset("file", array[order[n_test:]], array[order[:n_test]], config.kind, levels=levels)


def _symbol_levels(array: np.ndarray, config: FileConfig) -> int:
    """The alphabet size of a file of symbol sequences; ``UsageError`` for bad symbols."""
    if array.ndim != 2 or not np.all(array == np.round(array)) or array.min() < 0:
        raise UsageError(
            f"data.kind=sequence but {config.path!r} is not rows of non-negative integer symbols"
        )
    top = int(array.max())
    if config.levels and top >= config.levels:
        raise UsageError(
            f"data file {config.path!r} holds symbol {top}, "
            f"outside [0, data.levels={config.levels})"
        )
    return config.levels or max(top + 1, 2)
