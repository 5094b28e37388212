"""The ``genbench`` commands that read records: table, compare, plot, report, sample."""

from __future__ import annotations

import argparse
from pathlib import Path

from genbench.errors import UsageError
from genbench.results.records import check_writable


def _add_view_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("rich", "md", "csv", "latex"),
        default=None,
        help="default: rich on a terminal, md when piped; csv and latex hold every column",
    )
    parser.add_argument("--metrics", default=None, metavar="A,B,C", help="the columns to show")
    parser.add_argument("--all", action="store_true", help="every column, however wide")


def add_result_commands(sub) -> None:
    """Adds the sub-commands that read records to ``sub`` (the parser's sub-parsers)."""
    p = sub.add_parser("table", help="aggregate records over seeds: one table per dataset")
    p.add_argument("dirs", nargs="+")
    _add_view_options(p)
    p.set_defaults(handler=cmd_table)

    p = sub.add_parser("compare", help="two result sets side by side, with ratios B/A")
    p.add_argument("a")
    p.add_argument("b")
    _add_view_options(p)
    p.set_defaults(handler=cmd_compare)

    p = sub.add_parser("plot", help="figures of records (PNG and SVG): samples, curves, ...")
    p.add_argument("dir")
    p.add_argument("--kind", choices=("samples", "density", "curves", "evaluations", "throughput"))
    p.add_argument("--out", default=None, help="directory of the figures (default: DIR/plots)")
    p.set_defaults(handler=cmd_plot)

    p = sub.add_parser("report", help="one self-contained HTML page of tables and figures")
    p.add_argument("dir")
    p.add_argument("--out", default=None, help="the HTML file (default: DIR/report.html)")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("sample", help="samples of a model saved with genbench run --save-model")
    p.add_argument("record", help="the run's record file")
    p.add_argument("--n", type=int, default=64, help="how many samples")
    p.add_argument("--out", default=None, help="output file (default: print; images: a PNG)")
    p.set_defaults(handler=cmd_sample)


def cmd_table(args) -> int:
    from genbench.results import read_records
    from genbench.results.view import print_table

    print(print_table(read_records(args.dirs), args.format, args.metrics, args.all), end="")
    return 0


def cmd_compare(args) -> int:
    from genbench.results import read_records
    from genbench.results.view import print_compare

    a, b = read_records([args.a]), read_records([args.b])
    print(print_compare(a, b, args.a, args.b, args.format, args.metrics, args.all), end="")
    return 0


def cmd_plot(args) -> int:
    from genbench.rebuild import source_log_density
    from genbench.results import plots, read_records

    kinds = [args.kind] if args.kind else None
    figures = plots.draw(read_records([args.dir]), kinds, source_log_density)
    for path in plots.write(figures, check_writable(args.out or Path(args.dir) / "plots")):
        print(path)
    return 0


def cmd_report(args) -> int:
    from genbench.rebuild import source_log_density
    from genbench.results import read_records
    from genbench.results.report import write_report

    out = Path(args.out) if args.out else Path(args.dir) / "report.html"
    title = f"genbench report: {args.dir}"
    print(write_report(read_records([args.dir]), title, out, source_log_density))
    return 0


def cmd_sample(args) -> int:
    from genbench.atomic import atomic_write
    from genbench.sampling import sample_file

    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        raise UsageError(f"--out {args.out!r} is a directory; give a file name")
    if out is not None:
        check_writable(out.parent)
    content, where = sample_file(Path(args.record), args.n, out)
    if where is None:
        print(content, end="")
    else:
        print(atomic_write(where, content))
    return 0
