"""The verdict of one cell: does our mean agree with the published one? (DESIGN §9)

For a file of N published cells, at two-sided 95 % Bonferroni-corrected over them:

    z            = Phi^-1(1 - 0.025 / N)                     (3.08 for N = 24)
    se_paper     = pm               if the paper's ± is a standard error,
                   pm / sqrt(n_p)   if it is a standard deviation over n_p trials
    se_ours_eff  = se_ours * t_{0.975, n-1} / Phi^-1(0.975)  (1.42 se_ours for n = 5)
    within       : |ours - paper| <= z * sqrt(se_ours_eff^2 + se_paper^2)

``se_ours_eff`` puts Student's t on our own few trials: its factor is how much wider a
95 % t interval of n trials is than the normal one, so our term carries the
uncertainty of estimating our spread from n runs, while the paper's term stays
normal. This is the reading of the issue's rule that gives its stated count on the
committed gan2d records (7 match, 5 inconclusive, 12 differs of 24); taking t at the
Bonferroni level instead (se_ours * t_{1 - 0.025/N, n-1} / z) gives 8 / 8 / 8 there,
and makes two trials (t = 305) "within" anything. With n = 1 we have no spread:
``se_ours`` is 0 and only the cell's absolute tolerance can decide.

Verdicts, in order:
  ``match``        |ours - paper| <= the cell's tolerance (when it has one); or
                   within, and se_ours_eff <= 2 * se_paper (as precise as the paper);
  ``inconclusive`` within, but our scaled s.e. is wider (or n = 1 without a tolerance):
                   our runs vary too much to tell; ``trials_needed`` says how many
                   trials would bring se_ours_eff to 2 * se_paper at our observed spread;
  ``differs``      otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVEL = 0.95  # two-sided confidence of the whole table (Bonferroni over its cells)


def paper_se(pm: float | None, kind: str, n: int) -> float:
    """The paper's ± as a standard error of its mean.

    Args:
      pm: the published ±; None where the paper gives none (then 0).
      kind: ``"se"`` (already a standard error) or ``"sd"`` (a standard deviation).
      n: the paper's number of trials behind the cell.

    Returns:
      ``pm`` for ``se``, ``pm / sqrt(n)`` for ``sd``, 0 for no ±.
    """
    if pm is None:
        return 0.0
    if kind == "se":
        return float(pm)
    if kind == "sd":
        return float(pm) / math.sqrt(n)
    raise ValueError(f"pm_kind must be 'se' or 'sd', got {kind!r}")


def alpha(n_cells: int, level: float = LEVEL) -> float:
    """The per-cell two-sided significance after Bonferroni over ``n_cells``."""
    return (1.0 - level) / n_cells


def critical_z(n_cells: int, level: float = LEVEL) -> float:
    """z = Phi^-1(1 - alpha/2) for ``alpha(n_cells)``: 1.96 for one cell, 3.08 for 24."""
    from scipy.stats import norm

    return float(norm.ppf(1.0 - alpha(n_cells, level) / 2.0))


def effective_se(se_ours: float, n: int) -> float:
    """Our s.e. scaled by t_{0.975, n-1} / Phi^-1(0.975) (0 for n < 2: no spread to scale)."""
    if n < 2:
        return 0.0
    from scipy.stats import norm
    from scipy.stats import t as student_t

    return se_ours * float(student_t.ppf(0.975, n - 1) / norm.ppf(0.975))


@dataclass(frozen=True)
class Verdict:
    """A cell's verdict and the numbers behind it."""

    verdict: str  # "match", "inconclusive" or "differs"
    half_width: float  # z * sqrt(se_ours_eff^2 + se_paper^2): how far "within" reaches
    by_tolerance: bool  # decided by the file's absolute tolerance
    trials_needed: int | None  # for "inconclusive": trials that would settle it (None: never)


MAX_TRIALS = 100_000  # beyond this, "no number of trials settles it"


def trials_to_settle(se_ours: float, n: int, se_p: float) -> int | None:
    """The fewest trials at which our scaled s.e. (at the observed spread) is <= 2 se_paper.

    Returns:
      The smallest ``m > n`` with ``effective_se(sd / sqrt(m), m) <= 2 se_paper``, where
      ``sd = se_ours sqrt(n)``; 2 when ``n < 2`` (one trial has no spread); None when the
      paper gives no ± or more than ``MAX_TRIALS`` would be needed.
    """
    if n < 2:
        return 2
    if se_p <= 0:
        return None
    sd = se_ours * math.sqrt(n)
    m = max(n + 1, math.ceil((sd / (2.0 * se_p)) ** 2))  # t >= z: never fewer than this
    while m <= MAX_TRIALS:
        if effective_se(sd / math.sqrt(m), m) <= 2.0 * se_p:
            return m
        m += 1
    return None


def judge(
    ours: float,
    se_ours: float,
    n: int,
    paper: float,
    se_p: float,
    n_cells: int,
    tolerance: float | None = None,
) -> Verdict:
    """The verdict of one cell (the module docstring states the rule).

    Args:
      ours: our mean over ``n`` trials.
      se_ours: its standard error (ignored, taken as 0, when ``n < 2``).
      n: our trials.
      paper: the published value.
      se_p: the published standard error (``paper_se``).
      n_cells: N, the cells of the file (for Bonferroni).
      tolerance: the cell's absolute tolerance, if the file gives one.

    Returns:
      The ``Verdict``.
    """
    se_ours = se_ours if n >= 2 else 0.0
    se_eff = effective_se(se_ours, n)
    half = critical_z(n_cells) * math.hypot(se_eff, se_p)
    gap = abs(ours - paper)
    if tolerance is not None and gap <= tolerance:
        return Verdict("match", max(half, tolerance), True, None)
    if gap > half:  # outside both the interval and the tolerance: report the wider
        return Verdict("differs", max(half, tolerance or 0.0), False, None)
    if n >= 2 and se_eff <= 2.0 * se_p:
        return Verdict("match", half, False, None)
    return Verdict("inconclusive", half, False, trials_to_settle(se_ours, n, se_p))
