"""The readable views of records: one table per dataset with its headline columns.

``genbench table``, ``genbench compare`` and a suite's ``table.md`` print these.
Each dataset gets the columns that matter for its kind of data: the likelihood
with its estimator, bits per dim or token, the KL to the source, the sample-quality
headline (modes for 2-D mixtures, Fréchet distance for images, validity for
molecules), the step time and examples or tokens per second. ``--metrics`` picks
columns, ``--all`` shows every column; CSV and LaTeX stay the full tables.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import defaultdict

from genbench.errors import UsageError
from genbench.results.compare import CompareRow, agreement_cell
from genbench.results.grid import Grid, abbreviate, fit, render, stat_cell
from genbench.results.table import MISSING, Row, default_columns, number

LIKELIHOOD = ("nll", "recon_bce", "recon_mse")
BITS = ("bits_per_dim", "bits_per_token")
TO_SOURCE = ("kl_to_source", "kl_rate_to_source")
# The sample-quality headline of each kind of data, most telling first.
QUALITY = ("modes_captured", "high_quality_frac", "reverse_kl_modes", "frechet_distance")
QUALITY += ("validity", "uniqueness", "novelty")
SPEED = ("step_ms", "train_examples_per_s", "train_tokens_per_s")
# Shorter headers for long throughput names (explained under the table).
SHORT = {"train_examples_per_s": "examples/s", "train_tokens_per_s": "tokens/s"}
COMPARE_HEAD = ["model", "variant", "backend", "n", "metrics agree"]
DEFAULT_WIDTH = 120
SPREAD_NOTE = "± is the standard deviation over seeds (s.d., 2 significant digits)"


def terminal_width() -> int:
    """``$COLUMNS`` when set, the terminal's width when printing to one, else 120."""
    if (columns := os.environ.get("COLUMNS", "")).isdigit():
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


def output_format(fmt: str | None) -> str:
    """``fmt`` as given, else ``rich`` on a terminal and ``md`` when piped."""
    return fmt if fmt is not None else ("rich" if sys.stdout.isatty() else "md")


def _base(column: str) -> str:
    return column.split(" [")[0]


def headline_columns(names: set[str]) -> tuple[list[str], list[str]]:
    """The headline columns among ``names``: in table order, and most important first.

    Args:
      names: the columns one dataset's rows have.

    Returns:
      ``(shown order, priority order)``. Shown: likelihood (each estimator its own
      column), bits per dim or token, KL to the source, up to three sample-quality
      figures, step time, and tokens (else examples) per second. A narrow table
      drops from the end of the priority order: the third and second quality
      figures, bits, throughput, ...
    """

    def having(bases: tuple[str, ...]) -> list[str]:
        return [n for b in bases for n in sorted(names) if _base(n) == b]

    likelihood = having(LIKELIHOOD[:1]) or having(LIKELIHOOD[1:])
    quality = having(QUALITY)[:3]
    speed = having(SPEED[:1]) + (having(SPEED[2:]) or having(SPEED[1:2]))
    bits, to_source = having(BITS), having(TO_SOURCE)
    shown = likelihood + bits + to_source + quality + speed
    priority = likelihood + to_source + quality[:1] + speed + bits + quality[1:2] + quality[2:]
    return shown, priority


def _n_cell(row: Row) -> str:
    if row.n == row.n_failed == 0:  # published numbers: no runs of ours
        return MISSING
    text = f"{row.n}" + (f" ({row.n_failed} failed)" if row.n_failed else "")
    return text + ("†" if len(row.revisions) > 1 else "") + ("*" if row.dirty else "")


def _provenance_notes(rows: list[Row]) -> list[str]:
    notes = []
    mixed = sorted({r for row in rows if len(row.revisions) > 1 for r in row.revisions})
    if mixed:
        shown = ", ".join(r[:10] for r in mixed)
        notes.append(f"† averages records of different source revisions ({shown})")
    if any(row.dirty for row in rows):
        notes.append("* includes records run from a source tree with uncommitted changes")
    return notes


def _by_dataset(rows: list) -> dict[str, list]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row.dataset].append(row)
    return dict(sorted(grouped.items()))


def _choose(rows: list, metrics: list[str] | None, show_all: bool) -> tuple[list[str], list[str]]:
    """``(columns in table order, the order to keep them in when narrow)`` for one
    dataset's rows; the second is empty when the columns must all be shown."""
    names = {n for row in rows for n in row.values}
    # rows aggregated with a metric selection show it in its order
    metrics = metrics or next((r.chosen for r in rows if r.chosen), None)
    if metrics:
        chosen = [n for m in metrics for n in sorted(names) if m in (n, _base(n))]
        return list(dict.fromkeys(chosen)), []
    if show_all:
        return default_columns(rows, "md"), []
    return headline_columns(names)


def _fitted(build, columns: list[str], priority: list[str], width: int) -> Grid:
    """``build`` of every column, or of the most important that fit ``width``."""
    if not priority:
        return build(columns)
    return fit(lambda kept: build([c for c in columns if c in kept]), priority, 1, width)


def table_grids(
    rows: list[Row], width: int, metrics: list[str] | None = None, show_all: bool = False
) -> list[Grid]:
    """One grid per dataset.

    Args:
      rows: from ``aggregate`` (and ``published_rows``).
      width: the character width the default view fits.
      metrics: columns to show (names or their base names); None for the headline.
      show_all: every column, whatever the width.

    Returns:
      The grids, by dataset name.
    """
    grids = []
    for dataset, members in _by_dataset(rows).items():
        columns, priority = _choose(members, metrics, show_all)
        backends = {row.backend for row in members}
        short, legend = abbreviate([row.variant for row in members])
        head = ["model", "variant"] + (["backend"] if len(backends) > 1 else []) + ["n"]
        title = f"{dataset} ({', '.join(sorted(backends))}): {SPREAD_NOTE}"

        def build(shown, members=members, short=short, legend=legend, head=head, title=title):
            body = [
                [row.model, short[row.variant]]
                + ([row.backend] if "backend" in head else [])
                + [_n_cell(row)]
                + [stat_cell(row.values.get(c), row.n) for c in shown]
                for row in members
            ]
            notes = [*legend, *_provenance_notes(members)]
            return Grid(title, head + [SHORT.get(c, c) for c in shown], body, len(head), notes)

        grids.append(_fitted(build, columns, priority, width))
    return grids


def _compare_cell(row: CompareRow, column: str) -> str:
    a, b, ratio = row.mean("a", column), row.mean("b", column), row.ratio(column)
    if a is None and b is None:
        return MISSING
    sides = " → ".join(MISSING if v is None else number(v) for v in (a, b))
    return sides + ("" if ratio is None else f" (×{ratio:.3g})")


def compare_grids(
    rows: list[CompareRow],
    width: int,
    label_a: str,
    label_b: str,
    metrics: list[str] | None = None,
    show_all: bool = False,
) -> list[Grid]:
    """One grid per dataset: per row the agreement and ``A → B (×B/A)`` per column.

    Args:
      rows: from ``compare``.
      width: the character width the default view fits.
      label_a: what A is (named in the title).
      label_b: what B is.
      metrics: columns to show; None for the headline.
      show_all: every column, whatever the width.
    """
    grids = []
    for dataset, members in _by_dataset(rows).items():
        sides = [r for row in members for r in (row.a, row.b) if r is not None]
        columns, priority = _choose(sides, metrics, show_all)
        short, legend = abbreviate([row.variant for row in members])
        title = f"{dataset}: cells A → B (×B/A), means over seeds"
        sides_note = f"A = {label_a}, B = {label_b}"

        def build(
            shown, members=members, short=short, legend=legend, title=title, sides_note=sides_note
        ):
            body = [
                [
                    row.model,
                    short[row.variant],
                    "/".join(r.backend if r else MISSING for r in (row.a, row.b)),
                    "/".join(str(r.n) if r else MISSING for r in (row.a, row.b)),
                    agreement_cell(row),
                ]
                + [_compare_cell(row, c) for c in shown]
                for row in members
            ]
            notes = [sides_note, *legend]
            head = COMPARE_HEAD + [SHORT.get(c, c) for c in shown]
            return Grid(title, head, body, len(COMPARE_HEAD), notes)

        grids.append(_fitted(build, columns, priority, width))
    if grids:
        from genbench.results.compare import TOLERANCE_NOTE

        grids[-1].notes.append(TOLERANCE_NOTE)
    return grids


def parse_metrics(text: str | None) -> list[str] | None:
    """``--metrics a,b,c`` as a list; None when not given.

    Raises:
      UsageError: an empty list or an empty name.
    """
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise UsageError(f"--metrics {text!r}: give comma-separated metric names, e.g. nll,step_ms")
    return names


def check_metrics(grids: list[Grid], metrics: list[str] | None) -> None:
    """Raises UsageError when ``--metrics`` matched no column in any table."""
    if metrics and all(len(g.head) == g.n_text for g in grids):
        raise UsageError(f"--metrics {','.join(metrics)}: no such column in these records")


def print_table(records: list[dict], fmt: str | None, metrics: str | None, show_all: bool) -> str:
    """What ``genbench table`` prints.

    Args:
      records: the records read.
      fmt: rich, md, csv or latex; None for rich on a terminal, md when piped.
      metrics: ``--metrics`` as given (comma-separated), or None.
      show_all: ``--all``.

    Returns:
      The text; CSV and LaTeX are the full tables of every column (or ``--metrics``).

    Raises:
      UsageError: ``--metrics`` names no column of the records.
    """
    from genbench.results.table import aggregate, format_table

    chosen, fmt = parse_metrics(metrics), output_format(fmt)
    rows = aggregate(records, chosen)
    if fmt in ("csv", "latex"):
        return format_table(rows, fmt)
    grids = table_grids(rows, terminal_width(), chosen, show_all)
    check_metrics(grids, chosen)
    return render(grids, fmt, terminal_width())


def print_compare(
    records_a: list[dict],
    records_b: list[dict],
    label_a: str,
    label_b: str,
    fmt: str | None,
    metrics: str | None,
    show_all: bool,
) -> str:
    """What ``genbench compare`` prints (arguments as in ``print_table``, per side)."""
    from genbench.results.compare import compare, format_compare

    chosen, fmt = parse_metrics(metrics), output_format(fmt)
    rows = compare(records_a, records_b, chosen)
    if fmt in ("csv", "latex"):
        return format_compare(rows, fmt, label_a, label_b)
    grids = compare_grids(rows, terminal_width(), label_a, label_b, chosen, show_all)
    check_metrics(grids, chosen)
    return render(grids, fmt, terminal_width())
