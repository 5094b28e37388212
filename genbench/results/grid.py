"""Readable tables: numbers rounded to their error, and a grid of cells that fits a width.

A ``Grid`` is a titled table of ready-made text cells with notes under it. The same
grid renders as Markdown (padded, so it reads as plain text too) or with rich when
printed to a terminal, so ``genbench table``, ``genbench compare`` and a suite's
``table.md`` share one layout. ``fit`` drops a grid's least important columns until
it fits the width, and says in a note which ones it left out.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

from genbench.results.rounding import rounded
from genbench.results.table import MISSING, Stat, md_escape

# A variant label longer than this is shown as v1, v2, ... with a legend under the table.
VARIANT_CHARS = 24


def stat_cell(stat: Stat | None, row_n: int) -> str:
    """A table cell: ``mean ± sd`` rounded to the sd, ``(n=4)`` when its n is not the row's.

    Args:
      stat: the aggregated column, or None when missing.
      row_n: how many ok records the row has (0 for published numbers: no n shown).

    Returns:
      The cell text; ``–`` for a missing value.
    """
    if stat is None:
        return MISSING
    text = rounded(stat.mean, stat.std if stat.n > 1 else None)
    return text if stat.n == row_n or row_n == 0 else f"{text} (n={stat.n})"


@dataclass
class Grid:
    """One table of text cells.

    Attributes:
      title: a line naming what the table shows (the dataset, what ± is).
      head: column headers.
      body: rows of cells, each as long as ``head``.
      n_text: how many leading columns are text (left-aligned); the rest are numbers.
      notes: lines printed under the table (legends, footnotes), wrapped to the width.
    """

    title: str
    head: list[str]
    body: list[list[str]]
    n_text: int
    notes: list[str] = field(default_factory=list)

    def widths(self) -> list[int]:
        """The width of each column: its longest cell or header."""
        return [max(len(c) for c in column) for column in zip(self.head, *self.body, strict=True)]

    def width(self) -> int:
        """The width of the rendered table: cells, one space each side and the rules."""
        return sum(self.widths()) + 3 * len(self.head) + 1


def fit(build: Callable[[list[str]], Grid], columns: list[str], keep: int, width: int) -> Grid:
    """The grid of the most columns (in priority order) that fits ``width``.

    Args:
      build: makes the grid of the given metric columns.
      columns: metric columns, most important first.
      keep: how many leading columns stay even when the grid is too wide.
      width: the character width to fit.

    Returns:
      The grid; a note names the columns left out.
    """
    shown = list(columns)
    grid = build(shown)
    while grid.width() > width and len(shown) > keep:
        shown.pop()
        grid = build(shown)
    left_out = [c for c in columns if c not in shown]
    if left_out:
        grid.notes.append(f"not shown for width: {', '.join(left_out)} (--metrics or --all)")
    return grid


def abbreviate(labels: list[str]) -> tuple[dict[str, str], list[str]]:
    """Short names for long labels, with the legend that explains them.

    Args:
      labels: variant labels in table order (repeats allowed).

    Returns:
      ``(label -> shown name, legend lines)``: labels up to ``VARIANT_CHARS`` stay as
      they are; longer ones become ``v1``, ``v2``, ... in order of first appearance.
    """
    short, legend = {}, []
    for label in labels:
        if label in short:
            continue
        if len(label) <= VARIANT_CHARS:
            short[label] = label
        else:
            short[label] = f"v{len(legend) + 1}"
            legend.append(f"{short[label]} = {label}")
    return short, legend


def _md_line(cells: list[str], widths: list[int], n_text: int) -> str:
    padded = [
        c.ljust(w) if i < n_text else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    ]
    return "| " + " | ".join(padded) + " |"


def to_md(grid: Grid, width: int) -> str:
    """The grid as a padded Markdown table under a ``### title`` line, notes wrapped."""
    escaped = Grid(
        grid.title,
        [md_escape(h) for h in grid.head],
        [[md_escape(c) for c in row] for row in grid.body],
        grid.n_text,
    )
    widths = escaped.widths()
    rule = [("-" * w + ":") if i >= grid.n_text else "-" * (w + 1) for i, w in enumerate(widths)]
    lines = [f"### {grid.title}", "", _md_line(escaped.head, widths, grid.n_text)]
    lines.append("|" + "|".join("-" + r for r in rule) + "|")
    lines += [_md_line(row, widths, grid.n_text) for row in escaped.body]
    if grid.notes:
        lines.append("")
        for note in grid.notes:
            lines += textwrap.wrap(note, width, subsequent_indent="  ", break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def to_rich(grid: Grid, width: int) -> str:
    """The grid drawn by rich (box characters, wrapped cells) within ``width`` columns."""
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str: rich would read "nll [iwae_k200]" as markup and drop the estimator.
    table = Table(title=Text(grid.title), title_justify="left")
    for i, head in enumerate(grid.head):
        table.add_column(Text(head), justify="left" if i < grid.n_text else "right")
    for row in grid.body:
        table.add_row(*map(Text, row))
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, highlight=False)
    console.print(table)
    for note in grid.notes:
        console.print(note, markup=False, highlight=False)
    return buffer.getvalue()


def render(grids: list[Grid], fmt: str, width: int) -> str:
    """The grids one after another, as ``md`` or ``rich``, separated by a blank line."""
    draw = to_rich if fmt == "rich" else to_md
    return "\n".join(draw(grid, width) for grid in grids)
