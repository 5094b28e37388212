"""Figures of records: learning curves, periodic evaluations (``eval_curves``), throughput
bars, 2-D samples over the source's density, image sample grids. Each figure is written as
PNG and SVG.

Figures are built on ``matplotlib.figure.Figure`` (no pyplot, so no global state and no
display needed). Only the density contours need the dataset itself (rebuilt from the
record's config, which imports jax); every other figure reads the records alone.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genbench.atomic import atomic_write
from genbench.errors import UsageError
from genbench.results import eval_curves
from genbench.results.table import aggregate

KINDS = ("samples", "density", "curves", "evaluations", "throughput")
FORMATS = ("png", "svg")
PANEL_INCHES = 2.6  # one panel of a sample figure
MAX_PANELS = 6  # panels per row of a sample figure
CONTOUR_POINTS = 160  # the density grid is this many points a side


# A record -> ``(the log-density of its source, points [N, D] -> [N]; examples of the
# source [M, D])``, or None where the source has no density.
DensityOf = Callable[[dict], tuple[Callable, object] | None]


@dataclass(frozen=True)
class Drawn:
    """One figure's name and its files, ``{"png": bytes, "svg": bytes}`` (and ``"csv"``,
    the points drawn, where a figure keeps them)."""

    name: str
    files: dict[str, bytes]


def _group_key(record: dict) -> tuple:
    return (record["model"], record["dataset"], record["env"]["backend"], record["config_key"])


def ok_with_variants(records: list[dict]) -> list[dict]:
    """The ok records, each with its group's variant label as the tables show it
    (``variant``: long labels as ``v1``, ``v2``, ... per dataset) and in full (``variant_full``)."""
    from genbench.results.grid import abbreviate
    from genbench.results.records import canonical_json

    ok = [r for r in records if r["status"] == "ok"]
    keyed = [{**r, "config_key": canonical_json(r["config"])} for r in ok]
    rows = aggregate(ok)
    labels = {(row.model, row.dataset, row.backend, row.config_key): row.variant for row in rows}
    short = {}
    for dataset in {row.dataset for row in rows}:
        names, _ = abbreviate([row.variant for row in rows if row.dataset == dataset])
        short |= {(dataset, label): name for label, name in names.items()}
    out = []
    for record in keyed:
        full = labels[_group_key(record)]
        out.append({**record, "variant": short[(record["dataset"], full)], "variant_full": full})
    return out


def _legend(figure, records: list[dict]) -> None:
    """Under the figure: what each abbreviated variant (``v1``, ...) of ``records`` stands for."""
    lines = sorted(
        {
            f"{r['dataset']} {r['variant']} = {r['variant_full']}"
            for r in records
            if r["variant"] != r["variant_full"]
        }
    )
    # Wrapped to the figure's width: a 6-point character is about 1/20 inch wide.
    width = max(40, int(figure.get_figwidth() * 20))
    lines = [part for line in lines for part in textwrap.wrap(line, width, subsequent_indent="  ")]
    if lines:  # the figure grows by the legend's height, so the axes keep theirs
        figure.set_figheight(figure.get_figheight() + 0.12 * len(lines))
        figure.supxlabel("\n".join(lines), fontsize=6, x=0.01, ha="left")


def _groups(records: list[dict]) -> dict[tuple, list[dict]]:
    grouped = defaultdict(list)
    for record in records:
        grouped[_group_key(record)].append(record)
    return dict(sorted(grouped.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[1][0]["variant"])))


def _label(records: list[dict], with_dataset: bool = False) -> str:
    first = records[0]
    parts = [first["model"], first["dataset"] if with_dataset else "", first["variant"]]
    return " ".join(p for p in parts if p)


def supported(records: list[dict]) -> list[str]:
    """The kinds of figure the records can give, in ``KINDS`` order.

    Args:
      records: run records.

    Returns:
      ``samples`` where records keep image samples, ``density`` where they keep 2-D
      samples, ``curves`` where an ok record has a history of two steps or more,
      ``evaluations`` where one evaluated its metrics at two steps or more (``eval.every``),
      ``throughput`` where one has ``step_ms`` or examples per second.
    """
    ok = [r for r in records if r["status"] == "ok"]
    kept = [r["samples"]["shape"] for r in ok if r.get("samples")]
    found = {
        "samples": any(len(shape) == 2 for shape in kept),
        "density": any(shape == [2] for shape in kept),
        "curves": any(len(r["history"]) >= 2 for r in ok),
        "evaluations": any(eval_curves.has_curves(r) for r in ok),
        "throughput": any(_speed(r) is not None for r in ok),
    }
    return [kind for kind in KINDS if found[kind]]


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def encode(figure) -> dict[str, bytes]:
    """The figure as PNG and SVG bytes (no dates or random ids: the same figure, the same bytes)."""
    import matplotlib

    files = {}
    with matplotlib.rc_context({"svg.hashsalt": "genbench", "svg.fonttype": "none"}):
        for fmt in FORMATS:
            buffer = io.BytesIO()
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            figure.savefig(buffer, format=fmt, dpi=110, metadata=metadata)
            files[fmt] = buffer.getvalue()
    return files


# --- learning curves -----------------------------------------------------------------------


def _mean_curve(histories: list[list[dict]]) -> tuple[list[int], list[float], list[float]]:
    """Steps every seed logged, with the mean and s.d. of the loss there."""
    return eval_curves.curve_over_seeds(
        [{h["step"]: h["loss"] for h in hist if h["loss"] is not None} for hist in histories]
    )


def band(ax, steps, mean, sd, label: str, **style) -> None:
    """A mean curve with a band of ± one standard deviation in the line's colour."""
    (line,) = ax.plot(steps, mean, label=label, lw=1.2, **style)
    lower = [m - s for m, s in zip(mean, sd, strict=True)]
    upper = [m + s for m, s in zip(mean, sd, strict=True)]
    ax.fill_between(steps, lower, upper, color=line.get_color(), alpha=0.2, lw=0)


def curves(records: list[dict]) -> list[Drawn]:
    """Training loss against step, one panel per dataset, one line per group: the mean over
    seeds with a band of ± one standard deviation."""
    by_dataset = defaultdict(dict)
    for key, members in _groups(records).items():
        if all(len(r["history"]) >= 2 for r in members):
            by_dataset[key[1]][key] = members
    if not by_dataset:
        return []
    cols = min(3, len(by_dataset))
    rows = math.ceil(len(by_dataset) / cols)
    figure = _new_figure(4.2 * cols, 3.2 * rows)
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for ax, (dataset, groups) in zip(axes, sorted(by_dataset.items()), strict=False):
        for members in groups.values():
            steps, mean, sd = _mean_curve([r["history"] for r in members])
            if not steps:
                continue
            band(ax, steps, mean, sd, f"{_label(members)} (n={len(members)})")
        ax.set_title(dataset)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=6)
    for ax in axes[len(by_dataset) :]:
        ax.set_visible(False)
    figure.suptitle("Learning curves: mean over seeds, band ± 1 s.d.")
    _legend(figure, [r for groups in by_dataset.values() for m in groups.values() for r in m])
    return [Drawn("curves", encode(figure))]


# --- throughput ----------------------------------------------------------------------------


def _speed(record: dict) -> tuple[str, float] | None:
    throughput = record.get("throughput", {})
    for name in ("train_tokens_per_s", "train_examples_per_s"):
        if throughput.get(name):
            return name, throughput[name]
    return None


def throughput(records: list[dict]) -> list[Drawn]:
    """Training examples (or tokens) per second of each group, bars coloured by backend,
    the mean over seeds with its s.d. as error bar, on a log scale."""
    bars = []
    for members in _groups(records).values():
        speeds = [s for r in members if (s := _speed(r)) is not None]
        if not speeds:
            continue
        values = [v for _, v in speeds]
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))
        unit = "tokens/s" if speeds[0][0] == "train_tokens_per_s" else "examples/s"
        bars.append((f"{_label(members, True)} [{unit}]", members[0]["env"]["backend"], mean, sd))
    if not bars:
        return []
    backends = sorted({b for _, b, _, _ in bars})
    figure = _new_figure(8.5, 0.8 + 0.32 * len(bars))
    ax = figure.subplots()
    colours = {b: f"C{i}" for i, b in enumerate(backends)}
    for i, (_, backend, mean, sd) in enumerate(bars):
        ax.barh(i, mean, xerr=sd, color=colours[backend], label=backend)
    ax.set_yticks(range(len(bars)), [label for label, _, _, _ in bars], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("training examples (or tokens) per second, mean ± s.d. over seeds")
    _legend(figure, records)
    from matplotlib.patches import Patch

    handles = [Patch(color=colours[b], label=b) for b in backends]
    ax.legend(handles=handles, title="backend", fontsize=7)
    return [Drawn("throughput", encode(figure))]


# --- samples -------------------------------------------------------------------------------


def _sample_groups(records: list[dict], planar: bool) -> dict[str, list[tuple[str, dict]]]:
    """dataset -> [(group label, the first seed's kept samples)] of 2-D or image records."""
    found = defaultdict(list)
    for members in _groups(records).values():
        kept = [r for r in sorted(members, key=lambda r: r["seed"]) if r.get("samples")]
        if kept and (kept[0]["samples"]["shape"] == [2]) == planar:
            label = f"{_label(kept)}\n{kept[0]['env']['backend']}, seed {kept[0]['seed']}"
            found[kept[0]["dataset"]].append((label, kept[0]))
    return dict(sorted(found.items()))


def _density_grid(log_density: Callable, lows, highs):
    """``(x, y, log p)`` of a 2-D density on a grid over the box [lows, highs]."""
    import numpy as np

    xs = np.linspace(lows[0], highs[0], CONTOUR_POINTS)
    ys = np.linspace(lows[1], highs[1], CONTOUR_POINTS)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    return gx, gy, np.asarray(log_density(points), np.float64).reshape(gx.shape)


def density(records: list[dict], densities: DensityOf | None = None) -> list[Drawn]:
    """2-D samples of each group (the first seed's kept samples, red) over contours of the
    source's density (grey: log p 0.5, 2 and 4.5 below its peak, i.e. 1, 2 and 3 s.d. of a
    Gaussian mode): one row per dataset, one panel per group.

    Args:
      records: records with kept 2-D samples.
      densities: the source's log-density of a record (``genbench.rebuild``), or None for
        no contours (this package does not build datasets itself).
    """
    import numpy as np

    found = _sample_groups(records, planar=True)
    if not found:
        return []
    cols = min(MAX_PANELS, max(len(g) for g in found.values()))
    figure = _new_figure(PANEL_INCHES * cols, PANEL_INCHES * len(found) + 0.4)
    axes = figure.subplots(len(found), cols, squeeze=False)
    for row, (dataset, groups) in enumerate(found.items()):
        source = densities(groups[0][1]) if densities is not None else None
        points = [np.asarray(r["samples"]["values"]) for _, r in groups]
        # The box holds the samples and the source alike, so a collapsed model's panel
        # still shows the modes it missed.
        points += [np.asarray(source[1])] if source is not None else []
        points = np.concatenate(points)
        lows, highs = np.percentile(points, 0.5, axis=0), np.percentile(points, 99.5, axis=0)
        pad = 0.15 * (highs - lows).max()
        lows, highs = lows - pad, highs + pad
        grid = _density_grid(source[0], lows, highs) if source is not None else None
        for col in range(cols):
            ax = axes[row, col]
            if col >= len(groups):
                ax.set_visible(False)
                continue
            label, record = groups[col]
            if grid is not None:  # log p at 1, 2 and 3 s.d. of a Gaussian below the peak
                peak = float(np.max(grid[2]))
                levels = sorted(peak - 0.5 * k**2 for k in (1, 2, 3))
                ax.contour(*grid, levels=levels, colors="0.35", linewidths=0.6, zorder=3)
            xy = np.asarray(record["samples"]["values"])
            ax.scatter(xy[:, 0], xy[:, 1], s=3, color="C3", alpha=0.7, lw=0)
            ax.set_xlim(lows[0], highs[0])
            ax.set_ylim(lows[1], highs[1])
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{dataset}: {label}", fontsize=6)
    figure.suptitle("Samples over the source density", fontsize=8)
    _legend(figure, [r for groups in found.values() for _, r in groups])
    return [Drawn("density", encode(figure))]


def tile(values, shape: list[int]):
    """Kept image samples as one tiled image (a square-ish grid)."""
    import numpy as np

    images = np.asarray(values, np.float64).reshape(-1, *shape)
    side = math.ceil(math.sqrt(len(images)))
    tiled = np.full((side * (shape[0] + 1), side * (shape[1] + 1)), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, side)
        top, left = r * (shape[0] + 1), c * (shape[1] + 1)
        tiled[top : top + shape[0], left : left + shape[1]] = image
    return tiled


def samples(records: list[dict]) -> list[Drawn]:
    """Grids of kept image samples, one figure per dataset, one panel per group."""
    drawn = []
    for dataset, groups in _sample_groups(records, planar=False).items():
        cols = min(MAX_PANELS, len(groups))
        rows = math.ceil(len(groups) / cols)
        figure = _new_figure(PANEL_INCHES * cols, PANEL_INCHES * rows + 0.4)
        axes = figure.subplots(rows, cols, squeeze=False).ravel()
        for ax, (label, record) in zip(axes, groups, strict=False):
            ax.imshow(tile(record["samples"]["values"], record["samples"]["shape"]), cmap="gray_r")
            ax.set_axis_off()
            ax.set_title(label, fontsize=6)
        for ax in axes[len(groups) :]:
            ax.set_visible(False)
        figure.suptitle(f"{dataset}: samples", fontsize=8)
        _legend(figure, [r for _, r in groups])
        drawn.append(Drawn(f"samples_{dataset}", encode(figure)))
    return drawn


def draw(
    records: list[dict], kinds: list[str] | None = None, densities: DensityOf | None = None
) -> list[Drawn]:
    """The figures of ``kinds`` (None: every kind the records support).

    Args:
      records: run records.
      kinds: figure kinds (``KINDS``), or None for all the records support.
      densities: the source density of a record, for the contours of ``density``.

    Raises:
      UsageError: a kind the records cannot give (naming what they can), or none at all.
    """
    records = ok_with_variants(records)
    can = supported(records)
    if kinds is None:
        kinds = can
    missing = [k for k in kinds if k not in can]
    if missing or not kinds:
        what = ", ".join(missing) or "any figure"
        hint = "; records of 2-D and image runs keep samples since schema version 2"
        raise UsageError(
            f"these records cannot give {what} (they support: {', '.join(can) or 'none'}){hint}"
        )
    draws = {"samples": samples, "density": lambda r: density(r, densities)}
    draws |= {"curves": curves, "evaluations": eval_curves.figures, "throughput": throughput}
    return [figure for kind in kinds for figure in draws[kind](records)]


def write(figures: list[Drawn], out_dir: Path) -> list[Path]:
    """Writes each figure's files atomically into ``out_dir``; returns their paths."""
    return [
        atomic_write(out_dir / f"{figure.name}.{fmt}", data)
        for figure in figures
        for fmt, data in figure.files.items()
    ]
