"""What ``genbench reproduce`` does besides running: its checks, its runs, and its table.

The CLI runs the specs through the suite machinery (records, ``--resume``,
``--shard``, failures) and then calls ``tabulate`` on the output directory.
"""

from __future__ import annotations

from pathlib import Path

from genbench.atomic import atomic_write
from genbench.errors import UsageError
from genbench.reproduce.files import Reproduction, load
from genbench.reproduce.matching import build_specs, rows_records, runnable_rows
from genbench.reproduce.report import compare_cells, format_report
from genbench.results.records import read_records
from genbench.results.table import check_format
from genbench.spec import RunSpec

DEFAULT_ROOT = Path("runs") / "reproduce"


def default_out(name: str, quick: bool) -> Path:
    """``runs/reproduce/NAME`` (``NAME-quick`` for ``--quick``, so the two never mix)."""
    return DEFAULT_ROOT / (f"{name}-quick" if quick else name)


def prepare(
    name: str, quick: bool, seeds: int | None, fmt: str
) -> tuple[Reproduction, list[RunSpec]]:
    """The reproduction and its resolved runs, every check done before anything runs.

    Raises:
      UsageError: an unknown reproduction, a malformed file, ``--seeds`` below 1, an
        unknown format, or a row that does not resolve.
    """
    check_format(fmt)
    if seeds is not None and seeds < 1:
        raise UsageError(f"--seeds={seeds} must be >= 1")
    repro = load(name)
    return repro, build_specs(repro, quick, seeds)


def _records(out: Path) -> list[dict]:
    if not out.is_dir() or not any(p for p in out.glob("*.json") if not p.name.startswith(".")):
        return []
    return read_records([out])


REPORT_FILE = "reproduction.md"  # the Markdown table a run leaves beside its records


def tabulate(
    repro: Reproduction,
    out: str | Path,
    quick: bool,
    fmt: str,
    report_only: bool = False,
    save: bool = False,
) -> tuple[str, str]:
    """(stdout, stderr) of the reproduction's table over the records in ``out``.

    Args:
      repro: the reproduction.
      out: the directory of its records (searched at its top level and below).
      quick: compare the ``--quick`` variant's rows (its overrides and dataset).
      fmt: ``md``, ``csv`` or ``latex``.
      report_only: ``--report-only``: a directory without any row's records is bad input.
      save: also write the Markdown table to ``out/reproduction.md`` (after a run).

    Raises:
      UsageError: with ``report_only``, a missing directory or one in which no
        runnable row has a record.
    """
    out = Path(out)
    if report_only and not out.is_dir():
        raise UsageError(f"--report-only: no such directory {str(out)!r}")
    found = rows_records(repro, _records(out), quick)
    if report_only and runnable_rows(repro, quick) and not any(ok for ok, _ in found.values()):
        variant = " (--quick)" if quick else ""
        raise UsageError(
            f"--report-only: {str(out)!r} holds no records of reproduction {repro.name!r}"
            f"{variant} (matched by model, dataset, preset and overrides); run it first"
        )
    cells = compare_cells(repro, found)
    if save:
        atomic_write(out / REPORT_FILE, format_report(repro, cells, "md", quick)[0])
    return format_report(repro, cells, fmt, quick)
