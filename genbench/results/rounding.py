"""Numbers rounded to their error, for every table (no imports beyond the standard library)."""

from __future__ import annotations

import math


def rounded(mean: float, err: float | None) -> str:
    """``mean ± err`` with two significant digits of ``err`` and ``mean`` to that decimal.

    Args:
      mean: the value.
      err: its spread (standard deviation or error); None, 0 or not finite: no ±.

    Returns:
      E.g. ``2.14600 ± 0.00021`` or ``225250 ± 380``; ``mean`` alone with 4 significant
      digits when there is no error to round it to.
    """
    if err is None or not math.isfinite(err) or err <= 0 or not math.isfinite(mean):
        return f"{mean:.4g}"
    decimals = 1 - math.floor(math.log10(err))
    if round(err, decimals) >= 10 ** (2 - decimals):  # 0.0996 rounds to 0.100: one digit less
        decimals -= 1
    decimals = min(decimals, 12)
    if decimals > 0:
        return f"{mean:.{decimals}f} ± {err:.{decimals}f}"
    return f"{round(mean, decimals):.0f} ± {round(err, decimals):.0f}"
