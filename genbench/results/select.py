"""Which value of a metric a run reports: its final one, or the best of its periodic evaluations.

A paper reports either the metric at the end of training (``final``: the
record's ``metrics``, measured on the test split) or the best of the
evaluations made during training on a held-out split, nanoGPT's "best val
loss" (``best_on_validation``: the history entries that ``eval.every`` adds).
"Best" is the smallest or the largest value by the metric's direction
(``metric_direction``). Nothing here imports jax or numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genbench.errors import UsageError

How = Literal["final", "best_on_validation"]
HOWS = ("final", "best_on_validation")

# Metrics where a larger value is better; every other metric genbench reports (nll,
# bits_*, perplexity, next_token_xent, kl_*, frechet_distance, recon_*, ...) is a loss.
HIGHER_IS_BETTER = frozenset(
    {
        "elbo",
        "accuracy",
        "viterbi_accuracy",
        "modes_captured",
        "high_quality_frac",
        "precision",
        "recall",
        "validity",
        "uniqueness",
        "novelty",
        "log_prob_source_of_samples",
    }
)
HIGHER_IS_BETTER_PREFIXES = ("iwae_bound_k",)
# Metrics that describe the data or the run rather than how good a model is.
NO_DIRECTION = frozenset({"entropy_source", "entropy_rate_source"})


def metric_direction(name: str) -> Literal["min", "max"]:
    """``"max"`` for a metric where larger is better, ``"min"`` for a loss.

    Args:
      name: a metric name (its ``_se`` companion has no direction).

    Raises:
      UsageError: a standard error or a metric with no better direction.
    """
    if name.endswith("_se") or name in NO_DIRECTION:
        raise UsageError(f"metric {name!r} has no better direction to select by")
    if name in HIGHER_IS_BETTER or name.startswith(HIGHER_IS_BETTER_PREFIXES):
        return "max"
    return "min"


@dataclass(frozen=True)
class Selected:
    """A reported value and how it was chosen.

    Attributes:
      value: the metric's value (None where the run measured none).
      se: its standard error, where the run measured one.
      step: the training step it was measured at (None for ``final``).
      how: ``final`` or ``best_on_validation``.
      split: the split it was measured on (``test``, or the periodic evaluations'
        ``validation``, or ``test`` for a dataset without a validation split).
      label: the words a table prints beside it, e.g. ``best of 8 evaluations on the
        validation split (step 1500)``.
    """

    value: float | None
    se: float | None
    step: int | None
    how: How
    split: str
    label: str


def select_metric(record: dict, metric: str, how: How = "final") -> Selected:
    """The value of ``metric`` that ``record`` reports under the selection rule ``how``.

    Args:
      record: a run record (JSON form, as ``read_records`` returns).
      metric: the metric's name.
      how: ``final``: the record's final metric; ``best_on_validation``: the best of the
        periodic evaluations in its history (``eval.every``), by ``metric_direction``;
        ties go to the earliest step.

    Returns:
      The ``Selected`` value.

    Raises:
      UsageError: an unknown ``how``, or ``best_on_validation`` on a record with no
        periodic evaluation of ``metric``.
    """
    if how not in HOWS:
        raise UsageError(f"metric selection {how!r} is not one of {', '.join(HOWS)}")
    if how == "final":
        metrics = record.get("metrics", {})
        return Selected(
            metrics.get(metric), metrics.get(f"{metric}_se"), None, how, "test", "final"
        )
    evaluations = [
        entry
        for entry in record.get("history", [])
        if isinstance(entry.get("metrics"), dict) and entry["metrics"].get(metric) is not None
    ]
    if not evaluations:
        raise UsageError(
            f"run {record.get('run_key', '?')} has no periodic evaluation of {metric!r} in its "
            "history: best_on_validation needs eval.every > 0"
        )
    sign = 1.0 if metric_direction(metric) == "min" else -1.0
    best = min(evaluations, key=lambda entry: (sign * entry["metrics"][metric], entry["step"]))
    split = best.get("eval_split", "test")
    label = f"best of {len(evaluations)} evaluations on the {split} split (step {best['step']})"
    values = best["metrics"]
    return Selected(values[metric], values.get(f"{metric}_se"), best["step"], how, split, label)
