"""``genbench report``: one self-contained static HTML page of a directory of records.

The page holds the readable tables (``genbench.results.view``) and every figure the
records support (``genbench.results.plots``) as PNG data URIs; it has no script and
fetches nothing when opened, so it can be mailed, archived or committed as it is.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from genbench.results.grid import Grid
from genbench.results.plots import DensityOf, Drawn

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; }
table { border-collapse: collapse; margin: .5em 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .7em; white-space: nowrap; }
th { background: #f4f4f4; text-align: left; } td.num, th.num { text-align: right; }
p.note { color: #555; font-size: .9em; margin: .2em 0; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
"""

CAPTIONS = {
    "curves": "Training loss against step: the mean over seeds, band ± 1 s.d.",
    "throughput": "Training examples (or tokens) per second per run group and backend.",
    "density": "Samples of each group (its first seed) over contours of the source density.",
    "samples": "Image samples of each group (its first seed).",
}


def grid_html(grid: Grid) -> str:
    """One table (a ``Grid``) as an HTML section: heading, table, notes."""
    esc = html.escape

    def cells(tag: str, values: list[str]) -> str:
        return "".join(
            f"<{tag}{'' if i < grid.n_text else ' class=num'}>{esc(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    rows = "".join(f"<tr>{cells('td', row)}</tr>" for row in grid.body)
    notes = "".join(f'<p class="note">{esc(note)}</p>' for note in grid.notes)
    return (
        f"<h3>{esc(grid.title)}</h3>\n<table><thead><tr>{cells('th', grid.head)}</tr></thead>"
        f"<tbody>{rows}</tbody></table>\n{notes}\n"
    )


def figure_html(figure: Drawn) -> str:
    """A figure as an ``<img>`` with its PNG inline (a data URI) and a caption."""
    data = base64.b64encode(figure.files["png"]).decode("ascii")
    kind = figure.name.split("_")[0]
    caption = html.escape(CAPTIONS.get(kind, figure.name))
    alt = html.escape(figure.name)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{caption}</figcaption></figure>\n"
    )


def page(title: str, grids: list[Grid], figures: list[Drawn]) -> str:
    """The whole page.

    Args:
      title: the page's heading (the directory of records).
      grids: the tables, in order.
      figures: the figures, in order.

    Returns:
      The HTML text (UTF-8, no external resources).
    """
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Tables</h2>"]
    body += [grid_html(grid) for grid in grids]
    if figures:
        body.append("<h2>Figures</h2>")
        body += [figure_html(figure) for figure in figures]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{''.join(body)}</body></html>\n"
    )


def build_report(
    records: list[dict], title: str, densities: DensityOf | None = None, width: int = 180
) -> str:
    """The report of ``records``: one table per dataset and every figure they support.

    Args:
      records: run records.
      title: the page heading.
      densities: a record's source density, for the contours under 2-D samples.
      width: the character width the tables' columns are chosen for.
    """
    from genbench.results import plots
    from genbench.results.table import aggregate
    from genbench.results.view import table_grids

    grids = table_grids(aggregate(records), width)
    kinds = plots.supported(records) if any(r["status"] == "ok" for r in records) else []
    figures = plots.draw(records, kinds, densities) if kinds else []
    return page(title, grids, figures)


def write_report(
    records: list[dict], title: str, out: Path, densities: DensityOf | None = None
) -> Path:
    """Builds the report, then writes it atomically to ``out`` (nothing on failure).

    Raises:
      UsageError: ``out`` is a directory, or its directory cannot be written.
    """
    from genbench.atomic import atomic_write
    from genbench.errors import UsageError
    from genbench.results.records import check_writable

    if out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a directory; give the report's file name")
    text = build_report(records, title, densities)
    check_writable(out.parent)
    return atomic_write(out, text)
