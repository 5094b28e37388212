"""Two result sets side by side with ratio columns (CPU vs GPU, before vs after)."""

from __future__ import annotations

from dataclasses import dataclass

from genbench.errors import UsageError
from genbench.results.table import Row, _latex_escape, _number, aggregate, default_columns


@dataclass(frozen=True)
class CompareRow:
    """One group present in A, B or both: means per column and the ratio B/A."""

    model: str
    dataset: str
    variant: str
    a: Row | None
    b: Row | None

    def mean(self, side: str, column: str) -> float | None:
        row = self.a if side == "a" else self.b
        stat = None if row is None else row.values.get(column)
        return None if stat is None else stat.mean

    def ratio(self, column: str) -> float | None:
        a, b = self.mean("a", column), self.mean("b", column)
        return None if a in (None, 0) or b is None else b / a


def compare(records_a: list[dict], records_b: list[dict]) -> list[CompareRow]:
    """Aggregates both sets and lines groups up by (model, dataset, config), not backend."""
    side_a = {(r.model, r.dataset, r.config_key): r for r in aggregate(records_a)}
    side_b = {(r.model, r.dataset, r.config_key): r for r in aggregate(records_b)}
    rows = []
    for key in sorted(side_a.keys() | side_b.keys()):
        a, b = side_a.get(key), side_b.get(key)
        rows.append(CompareRow(key[0], key[1], (a or b).variant, a, b))
    return rows


def _fmt(x: float | None) -> str:
    return "–" if x is None else _number(x)


def format_compare(
    rows: list[CompareRow],
    fmt: str,
    label_a: str = "A",
    label_b: str = "B",
    columns: list[str] | None = None,
) -> str:
    """The comparison as md, csv or latex: ``col A``, ``col B``, ``col B/A`` per column."""
    if fmt not in ("md", "csv", "latex"):
        raise UsageError(f"unknown table format {fmt!r}; allowed: csv, latex, md")
    if columns is None:
        present = [r for row in rows for r in (row.a, row.b) if r is not None]
        columns = default_columns(present, "md")
    head = ["model", "dataset", "variant"]
    for c in columns:
        head += [f"{c} A", f"{c} B", f"{c} B/A"]
    body = []
    for row in rows:
        cells = [row.model, row.dataset, row.variant]
        for c in columns:
            cells += [_fmt(row.mean("a", c)), _fmt(row.mean("b", c)), _fmt(row.ratio(c))]
        body.append(cells)
    legend = f"A = {label_a}, B = {label_b}"
    if fmt == "csv":
        lines = [",".join(head)] + [",".join("" if c == "–" else c for c in r) for r in body]
        return "\n".join(lines) + "\n"
    if fmt == "latex":
        lines = [
            f"% {legend}",
            f"\\begin{{tabular}}{{lll{'r' * (len(head) - 3)}}}",
            "\\toprule",
            " & ".join(_latex_escape(h) for h in head) + " \\\\",
            "\\midrule",
        ]
        lines += [" & ".join(_latex_escape(c) for c in r) + " \\\\" for r in body]
        return "\n".join([*lines, "\\bottomrule", "\\end{tabular}"]) + "\n"
    lines = [legend, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"
