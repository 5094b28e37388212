"""Convergence curves: each metric a run evaluated every ``eval.every`` steps, against step.

A record's ``history`` holds, at the steps ``eval.every`` chose, the evaluation's metrics
(``{"step": s, "metrics": {...}}``). One figure per dataset, one panel per metric, one line
per group of seeds: the mean over seeds at the steps every seed evaluated, with a band of
± one standard deviation (a single seed is drawn alone). Standard errors and sample
counts (``*_se``, ``*_n``) are the evaluation's own bookkeeping, not curves. Beside each
figure, ``evaluations_<dataset>.csv`` holds the points it draws, a row per run and step, so
that a committed curve can be read as numbers and re-drawn elsewhere.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict

MAX_PANELS = 12  # metrics per figure, in name order


def evaluations(record: dict) -> dict[int, dict[str, float]]:
    """``{step: {metric: value}}`` of the record's periodic evaluations (finite scalars)."""
    out = {}
    for entry in record.get("history", []):
        metrics = entry.get("metrics")
        if not isinstance(metrics, dict):
            continue
        values = {
            name: float(value)
            for name, value in metrics.items()
            if not name.endswith(("_se", "_n"))
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        }
        if values:
            out[int(entry["step"])] = values
    return out


def has_curves(record: dict) -> bool:
    """Whether the record evaluated its metrics at two steps or more."""
    return len(evaluations(record)) >= 2


def curve_over_seeds(runs: list[dict[int, float]]) -> tuple[list[int], list[float], list[float]]:
    """The steps every run has (``{step: value}`` each), with the mean and s.d. there."""
    steps = sorted(set.intersection(*(set(run) for run in runs)))
    columns = [[run[step] for run in runs] for step in steps]
    sds = [statistics.stdev(values) if len(values) > 1 else 0.0 for values in columns]
    return steps, [statistics.fmean(values) for values in columns], sds


def mean_and_sd_curve(
    runs: list[dict[int, dict[str, float]]], metric: str
) -> tuple[list[int], list[float], list[float]]:
    """The steps at which every run evaluated ``metric``, with the mean and s.d. there."""
    return curve_over_seeds([{s: m[metric] for s, m in run.items() if metric in m} for run in runs])


def points_csv(
    runs: list[tuple[str, int, dict[int, dict[str, float]]]], metrics: list[str]
) -> bytes:
    """``(label, seed, evaluations)`` of each run as CSV: ``run,seed,step`` and one column per
    metric (empty where that evaluation lacks it), a row per run and step."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["run", "seed", "step", *metrics])
    for label, seed, evaluated in runs:
        for step, values in sorted(evaluated.items()):
            writer.writerow(
                [label, seed, step, *(repr(values[m]) if m in values else "" for m in metrics)]
            )
    return text.getvalue().encode()


def figures(records: list[dict]) -> list:
    """The ``evaluations_<dataset>`` figures of ``records`` (ok, with variant labels)."""
    from genbench.results.plots import Drawn, _groups, _label, _legend, _new_figure, band, encode

    by_dataset = defaultdict(dict)
    for key, members in _groups(records).items():
        if all(has_curves(r) for r in members):
            by_dataset[key[1]][key] = members
    drawn = []
    for dataset, groups in sorted(by_dataset.items()):
        runs = {key: [evaluations(r) for r in members] for key, members in groups.items()}
        metrics = sorted(
            {name for group in runs.values() for run in group for m in run.values() for name in m}
        )[:MAX_PANELS]
        cols = min(3, len(metrics))
        rows = math.ceil(len(metrics) / cols)
        figure = _new_figure(4.2 * cols, 3.0 * rows)
        axes = figure.subplots(rows, cols, squeeze=False).ravel()
        for ax, metric in zip(axes, metrics, strict=False):
            for key, members in groups.items():
                steps, mean, sd = mean_and_sd_curve(runs[key], metric)
                if not steps:
                    continue
                label = f"{_label(members)} (n={len(members)})"
                band(ax, steps, mean, sd, label, marker=".", ms=3)
            ax.set_title(metric, fontsize=9)
            ax.set_xlabel("step")
            ax.legend(fontsize=6)
        for ax in axes[len(metrics) :]:
            ax.set_visible(False)
        points = [
            (_label(members), record["seed"], evaluated)
            for key, members in groups.items()
            for record, evaluated in sorted(
                zip(members, runs[key], strict=True), key=lambda pair: pair[0]["seed"]
            )
        ]
        figure.suptitle(f"{dataset}: periodic evaluations, mean over seeds, band ± 1 s.d.")
        _legend(figure, [r for members in groups.values() for r in members])
        files = {**encode(figure), "csv": points_csv(points, metrics)}
        drawn.append(Drawn(f"evaluations_{dataset}", files))
    return drawn
