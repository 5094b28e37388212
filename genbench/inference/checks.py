"""Argument checks at the API boundary, before jitted code (which cannot raise on values).

Each check runs only on concrete arrays: inside a caller's ``jit`` the
arguments are tracers and the check is skipped, so the functions stay
jit-compatible. A failure is a plain ``ValueError`` whose one line names the
argument (``inference/`` imports nothing of genbench; the CLI reports a failed
run's error in one line).
"""

from __future__ import annotations

import jax
import numpy as np


def concrete(*arrays) -> bool:
    """Whether none of the arrays is a tracer (so values can be inspected)."""
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def check_probabilities(name: str, probs, axis: int = -1) -> None:
    """Non-negative entries that sum to one along ``axis`` (to 1e-3), at least one state."""
    if not concrete(probs):
        return
    values = np.asarray(probs)
    if values.ndim == 0 or values.shape[axis] < 1:
        raise ValueError(f"{name} needs at least one state (K >= 1), got shape {values.shape}")
    if np.any(values < 0) or not np.allclose(values.sum(axis), 1.0, atol=1e-3):
        raise ValueError(f"{name} must hold probabilities that sum to one along axis {axis}")


def check_symbols(name: str, observations, num_symbols: int) -> None:
    """Integer symbols in [0, num_symbols)."""
    if not concrete(observations):
        return
    values = np.asarray(observations)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be integer symbols, got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= num_symbols):
        raise ValueError(
            f"{name} holds symbols outside [0, {num_symbols}): "
            f"min {values.min()}, max {values.max()}"
        )


def check_lengths(name: str, lengths, batch_shape: tuple, num_steps: int) -> None:
    """Lengths of a ragged batch: shape ``batch_shape``, values in [1, num_steps]."""
    if lengths is None or not concrete(lengths):
        return
    values = np.asarray(lengths)
    if values.shape != tuple(batch_shape):
        raise ValueError(f"{name} has shape {values.shape}, expected {tuple(batch_shape)}")
    if values.size and (values.min() < 1 or values.max() > num_steps):
        raise ValueError(
            f"{name} must lie in [1, {num_steps}] (the padded length), "
            f"got min {values.min()}, max {values.max()}"
        )


def check_binary(name: str, x) -> None:
    """Values in {0, 1}."""
    if concrete(x) and not np.isin(np.asarray(x), (0, 1)).all():
        raise ValueError(f"{name} must be binary (0 or 1) for Bernoulli features")


def check_labels(name: str, y, num_classes: int) -> None:
    """Integer labels in [0, num_classes)."""
    if num_classes < 1:
        raise ValueError(f"num_classes={num_classes} must be >= 1")
    check_symbols(name, y, num_classes)
