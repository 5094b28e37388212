"""``genbench reproduce``: published tables as shipped files, run and compared cell by cell.

``files`` loads a reproduction file, ``matching`` turns it into run specs and finds
its rows' records, ``verdict`` is the comparison rule and ``report`` the table. The
runs themselves go through the suite machinery (``genbench.cli`` drives the runner).
"""

from genbench.reproduce.files import Reproduction, descriptions, load, parse
from genbench.reproduce.matching import build_specs, rows_records, select_value
from genbench.reproduce.report import CSV_COLUMNS, compare_cells, format_report, summary_line
from genbench.reproduce.verdict import critical_z, effective_se, judge, paper_se

__all__ = [
    "CSV_COLUMNS",
    "Reproduction",
    "build_specs",
    "compare_cells",
    "critical_z",
    "descriptions",
    "effective_se",
    "format_report",
    "judge",
    "load",
    "paper_se",
    "parse",
    "rows_records",
    "select_value",
    "summary_line",
]
