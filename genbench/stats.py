"""The one standard-error helper, shared by the metrics and the data sources (numpy only)."""

from __future__ import annotations

import numpy as np


def mean_and_se(values) -> tuple[float, float]:
    """The mean of independent values and its standard error, in float64.

    Args:
      values: an array-like of independent draws (any shape; flattened).

    Returns:
      ``(mean, se)`` with ``se = std(values, ddof=1) / sqrt(n)``; ``se`` is 0 for a
      single value.
    """
    values = np.asarray(values, np.float64).reshape(-1)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean()), float(se)
