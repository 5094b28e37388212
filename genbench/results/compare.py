"""Two result sets side by side with ratio columns (CPU vs GPU, before vs after)."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass

from genbench.results.records import canonical_json
from genbench.results.table import (
    MISSING,
    Row,
    Stat,
    aggregate,
    check_format,
    default_columns,
    latex_escape,
    latex_tabular,
    number,
    variant_labels,
)


@dataclass(frozen=True)
class CompareRow:
    """One group present in A, B or both: its aggregated rows on each side."""

    model: str
    dataset: str
    variant: str
    a: Row | None
    b: Row | None

    def mean(self, side: str, column: str) -> float | None:
        """The mean of ``column`` on ``side`` (``"a"`` or ``"b"``), or None when missing."""
        row = self.a if side == "a" else self.b
        stat = None if row is None else row.values.get(column)
        return None if stat is None else stat.mean

    def ratio(self, column: str) -> float | None:
        """``mean_b / mean_a`` of ``column``; None when either is missing or A is 0."""
        a, b = self.mean("a", column), self.mean("b", column)
        return None if a is None or a == 0 or b is None else b / a

    def disagreeing(self) -> tuple[int, list[str]]:
        """``(metrics compared, names of those that differ)`` over the metric columns both
        sides have (throughput, standard errors and sample counts excluded): a metric
        agrees when ``metrics_agree`` says so."""
        if self.a is None or self.b is None:
            return 0, []
        names = [
            c
            for c in sorted(self.a.values.keys() & self.b.values.keys())
            if c not in self.a.throughput and c not in self.b.throughput and not _bookkeeping(c)
        ]
        return len(names), [
            c for c in names if not metrics_agree(self.a.values[c], self.b.values[c])
        ]


# Two sides' metric agrees within this fraction of its size (floating-point and kernel
# differences between backends), or within AGREE_SE combined standard errors of the two
# means where seeds vary.
AGREE_RELATIVE = 0.02
AGREE_SE = 3.0


def _bookkeeping(column: str) -> bool:
    base = column.split(" [")[0]
    return base.endswith(("_se", "_n")) or base == "molecule_samples"


def metrics_agree(a: Stat, b: Stat) -> bool:
    """Whether two aggregated values of one metric agree: ``|a - b|`` within
    ``AGREE_RELATIVE`` of the larger magnitude, or within ``AGREE_SE`` standard errors of
    the difference of the means (std / sqrt(n) on each side)."""
    gap = abs(a.mean - b.mean)
    if gap <= AGREE_RELATIVE * max(abs(a.mean), abs(b.mean)):
        return True
    se = math.hypot(a.std / math.sqrt(max(a.n, 1)), b.std / math.sqrt(max(b.n, 1)))
    return gap <= AGREE_SE * se


def agreement_cell(row: CompareRow) -> str:
    """``all 12``, ``10/12; differ: nll, kl_to_source`` or ``–`` (nothing to compare)."""
    total, differ = row.disagreeing()
    if total == 0:
        return MISSING
    if not differ:
        return f"all {total}"
    return f"{total - len(differ)}/{total}; differ: {', '.join(differ)}"


def _pairs(rows_a: list[Row], rows_b: list[Row]) -> list[tuple[Row | None, Row | None]]:
    """Pairs the rows of one (model, dataset, config) key; by backend when a side has several."""
    if len(rows_a) <= 1 and len(rows_b) <= 1:
        return [(rows_a[0] if rows_a else None, rows_b[0] if rows_b else None)]
    by_a, by_b = {r.backend: r for r in rows_a}, {r.backend: r for r in rows_b}
    return [(by_a.get(k), by_b.get(k)) for k in sorted(by_a.keys() | by_b.keys())]


def compare(
    records_a: list[dict], records_b: list[dict], metrics: list[str] | None = None
) -> list[CompareRow]:
    """Aggregates both sets and lines groups up by (model, dataset, config), not backend.

    So a CPU run set and a GPU run set of the same configs line up. When one side
    holds the same config on several backends, rows pair by backend.

    Args:
      records_a: the records of side A.
      records_b: the records of side B.
      metrics: as in ``aggregate``; None keeps all.

    Returns:
      One row per group, sorted; a group present on one side only has None on the other.
    """
    sides = []
    for records in (records_a, records_b):
        keyed = defaultdict(list)
        for row in aggregate(records, metrics):
            keyed[(row.model, row.dataset, row.config_key)].append(row)
        sides.append(keyed)
    side_a, side_b = sides
    labels = _labels(records_a + records_b)
    out = []
    for key in sorted(side_a.keys() | side_b.keys()):
        for a, b in _pairs(side_a.get(key, []), side_b.get(key, [])):
            out.append(CompareRow(key[0], key[1], labels[key], a, b))
    return out


def _labels(records: list[dict]) -> dict[tuple, str]:
    """Variant labels over both sides, so groups that differ in config differ in label."""
    groups = defaultdict(list)
    for record in records:
        groups[(record["model"], record["dataset"], "", canonical_json(record["config"]))].append(
            record
        )
    return {(m, d, c): label for (m, d, _, c), label in variant_labels(groups).items()}


def _cells(row: CompareRow, columns: list[str], fmt: str) -> list[str]:
    values = []
    for c in columns:
        values += [row.mean("a", c), row.mean("b", c), row.ratio(c)]
    agree = agreement_cell(row)
    if fmt == "csv":
        return [row.model, row.dataset, row.variant, "" if agree == MISSING else agree] + [
            "" if v is None else repr(v) for v in values
        ]
    texts = [MISSING if v is None else number(v) for v in values]
    return [latex_escape(t) for t in (row.model, row.dataset, row.variant, agree)] + texts


TOLERANCE_NOTE = (
    f"metrics agree: every metric both sides have is within {AGREE_RELATIVE:.0%} "
    f"or {AGREE_SE:g} standard errors of the difference"
)


def format_compare(
    rows: list[CompareRow],
    fmt: str,
    label_a: str = "A",
    label_b: str = "B",
    columns: list[str] | None = None,
) -> str:
    """The comparison as md (``view.compare_grids``: one table per dataset, ``A → B (×B/A)``
    cells), or csv or latex: ``col A``, ``col B``, ``col B/A`` per column.

    Args:
      rows: from ``compare``.
      fmt: md, csv or latex.
      label_a: what A is (e.g. its directory), stated in a legend (not in CSV).
      label_b: what B is.
      columns: columns to compare; None for the Markdown default columns.

    Raises:
      UsageError: an unknown format.
    """
    check_format(fmt)
    if fmt == "md":  # the readable view, one table per dataset, as genbench compare prints
        from genbench.results.grid import render
        from genbench.results.view import DEFAULT_WIDTH, compare_grids

        grids = compare_grids(rows, DEFAULT_WIDTH, label_a, label_b, columns)
        return render(grids, "md", DEFAULT_WIDTH)
    if columns is None:
        present = [r for row in rows for r in (row.a, row.b) if r is not None]
        columns = default_columns(present, "md")
    head = ["model", "dataset", "variant", "metrics agree"]
    for c in columns:
        head += [f"{c} A", f"{c} B", f"{c} B/A"]
    body = [_cells(row, columns, fmt) for row in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([head, *body])
        return buffer.getvalue()
    legend = f"% A = {label_a}, B = {label_b}; {TOLERANCE_NOTE}".replace("\n", " ")
    return legend + "\n" + latex_tabular(head, body, 4)
