"""The reproduction table: per cell ours (mean ± s.e. over n, and each trial's value), the
paper's (± as s.e.), the difference and the verdict, as Markdown, CSV or LaTeX, then
``K of N cells match``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from genbench.reproduce.files import Reproduction
from genbench.reproduce.matching import select_value
from genbench.reproduce.verdict import Verdict, critical_z, judge, paper_se
from genbench.results.table import latex_escape, latex_tabular, md_escape, number
from genbench.stats import mean_and_se

CSV_COLUMNS = ["reproduction", "row", "metric", "ours", "ours_se", "n", "paper", "paper_se"]
CSV_COLUMNS += ["verdict"]
MISSING = "–"
NOT_REPRODUCIBLE = "not reproducible here"


@dataclass(frozen=True)
class CellResult:
    """One cell compared: ours over ``n`` trials (None when no run of the row has it)."""

    row: str
    metric: str
    ours: float | None
    ours_se: float
    paper: float
    paper_se: float
    verdict: Verdict | None  # None: nothing to compare (see ``status``)
    status: str  # the verdict's name, or "missing" / "not reproducible here: ..."
    not_reproducible: str | None = None  # the cell's own mark (it is judged all the same)
    trials: tuple[tuple[int, float], ...] = ()  # (seed, value) of each trial: outliers show

    @property
    def n(self) -> int:
        """The number of trials behind ``ours``."""
        return len(self.trials)

    @property
    def marked(self) -> bool:
        """Whether the file marks this cell not reproducible here and it does not match."""
        if self.status.startswith(NOT_REPRODUCIBLE):
            return True
        return self.not_reproducible is not None and self.status != "match"

    @property
    def difference(self) -> float | None:
        return None if self.ours is None else self.ours - self.paper


def compare_cells(
    repro: Reproduction, found: dict[str, tuple[list[dict], int]]
) -> list[CellResult]:
    """Every cell of ``repro`` against the selected values of its row's records.

    Args:
      repro: the reproduction.
      found: row name -> (ok records, failed seeds), from ``matching.rows_records``;
        rows marked ``not_reproducible`` are absent.

    Returns:
      One ``CellResult`` per published cell, in the file's order.
    """
    results = []
    for row in repro.rows:
        records = found.get(row.name, ([], 0))[0]
        for cell in row.cells:
            se_p = paper_se(cell.pm, cell.pm_kind, cell.n)
            selected = [(r["seed"], select_value(r, cell.metric, repro.selection)) for r in records]
            trials = tuple(sorted((seed, v) for seed, v in selected if v is not None))
            values = [v for _, v in trials]
            if row.name not in found or not values:
                status = _why_missing(row, found)
                results.append(
                    CellResult(row.name, cell.metric, None, 0.0, cell.value, se_p, None, status)
                )
                continue
            mean, se = mean_and_se(values)
            verdict = judge(mean, se, len(values), cell.value, se_p, repro.n_cells, cell.tolerance)
            results.append(
                CellResult(
                    row.name,
                    cell.metric,
                    mean,
                    se,
                    cell.value,
                    se_p,
                    verdict,
                    verdict.verdict,
                    cell.not_reproducible,
                    trials,
                )
            )
    return results


def _why_missing(row, found) -> str:
    if row.not_reproducible is not None:
        return f"{NOT_REPRODUCIBLE}: {row.not_reproducible}"
    return "missing" if row.name in found else "not in --quick"


def summary_line(results: Sequence[CellResult]) -> str:
    """``K of N cells match``, and how many of the N the file marks not reproducible here
    (whole rows, and marked cells that do not match)."""
    k = sum(r.status == "match" for r in results)
    marked = sum(r.marked for r in results)
    return f"{k} of {len(results)} cells match" + (
        f" ({marked} not reproducible here)" if marked else ""
    )


def _note(result: CellResult) -> str:
    verdict = result.verdict
    if verdict is None:
        return "" if result.status == "missing" else result.status
    where = "outside" if verdict.verdict == "differs" else "within"
    notes = [f"{where} ±{number(verdict.half_width)}"]
    if verdict.by_tolerance:
        notes = [f"within the tolerance ±{number(verdict.half_width)}"]
    if verdict.verdict == "inconclusive":
        notes.append(
            f"{verdict.trials_needed} trials would settle it"
            if verdict.trials_needed is not None
            else "no number of trials settles it (the paper gives no ±)"
        )
    if result.marked:
        notes.append(f"{NOT_REPRODUCIBLE}: {result.not_reproducible}")
    return "; ".join(notes)


def _ours(result: CellResult, pm: str) -> str:
    if result.ours is None:
        return MISSING
    return (
        number(result.ours)
        if result.n < 2
        else f"{number(result.ours)}{pm}{number(result.ours_se)}"
    )


def _body(results: Sequence[CellResult], pm: str) -> list[list[str]]:
    return [
        [
            r.row,
            r.metric,
            _ours(r, pm),
            str(r.n),
            ", ".join(f"s{seed} {number(v)}" for seed, v in r.trials) if r.n > 1 else MISSING,
            f"{number(r.paper)}{pm}{number(r.paper_se)}" if r.paper_se else number(r.paper),
            MISSING if r.difference is None else f"{r.difference:+.3g}",
            r.status if r.verdict is not None else ("missing" if r.status == "missing" else "–"),
            _note(r) if i == 0 or results[i - 1].row != r.row else _repeated_note(r),
        ]
        for i, r in enumerate(results)
    ]


def _repeated_note(result: CellResult) -> str:
    """A row's reason for not running, given in full on its first cell only."""
    if result.status.startswith(NOT_REPRODUCIBLE):
        return f"{NOT_REPRODUCIBLE} (see the row's first cell)"
    return _note(result)


HEAD = ["row", "metric", "ours (± s.e.)", "n", "trials", "paper (± s.e.)"]
HEAD += ["difference", "verdict", "note"]


def heading(repro: Reproduction, quick: bool) -> list[str]:
    """The lines above the table: what is reproduced, the rule's z, and a --quick warning."""
    c = repro.citation
    authors = c.authors[0] + (" et al." if len(c.authors) > 1 else "")
    lines = [
        f'{repro.name}: {authors} {c.year}, "{c.title}", {c.table} ({c.paper})',
        f"verdict: within z = {critical_z(repro.n_cells):.2f} (95 %, Bonferroni over "
        f"{repro.n_cells} cells) of the combined s.e. (ours scaled by Student's t); match "
        "when our scaled s.e. <= 2x the paper's",
    ]
    if repro.selection.kind == "best_on_validation":
        lines.append(
            f"values selected on validation: the evaluation with the "
            f"{'lowest' if repro.selection.mode == 'min' else 'highest'} "
            f"{repro.selection.metric} in each run's history"
        )
    if quick:
        lines.append(f"--quick: NOT the paper's protocol ({repro.quick.note})")
    return lines


def format_report(
    repro: Reproduction, results: Sequence[CellResult], fmt: str, quick: bool
) -> tuple[str, str]:
    """(stdout text, stderr text) of the reproduction table in ``fmt``.

    Markdown and LaTeX carry the heading and end with ``K of N cells match``; CSV is
    exactly ``CSV_COLUMNS`` on stdout, its heading and summary line go to stderr.
    """
    head = heading(repro, quick)
    summary = summary_line(results)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in results:
            ours = "" if r.ours is None else repr(r.ours)
            ours_se = "" if r.ours is None else repr(r.ours_se)
            writer.writerow(
                [
                    repro.name,
                    r.row,
                    r.metric,
                    ours,
                    ours_se,
                    r.n,
                    repr(r.paper),
                    repr(r.paper_se),
                    r.status if r.verdict is not None else "missing",
                ]
            )
        return buffer.getvalue(), "\n".join([*head, summary]) + "\n"
    if fmt == "latex":
        body = [[latex_escape(c) for c in row] for row in _body(results, r" ± ")]
        for row in body:
            for i in (2, 5):
                row[i] = row[i].replace(" ± ", r" $\pm$ ")
        comments = "".join(f"% {line}\n" for line in head)
        return comments + latex_tabular(HEAD, body, 2) + f"% {summary}\n", ""
    lines = [f"{line}  " for line in head] + [""]
    lines += ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in _body(results, " ± ")]
    return "\n".join([*lines, "", summary]) + "\n", ""
