"""Tables: records aggregated over seeds (mean ± std, n) as Markdown, CSV and LaTeX.

Records group by (model, dataset, backend, resolved config); the seed is not
part of the config, so seeds aggregate. A likelihood metric obtained by a
bound carries its estimator in the column name (``nll [iwae_k1000]``), so a
table never mixes exact values and bounds unmarked.
"""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from genbench.errors import UsageError
from genbench.results.records import canonical_json
from genbench.results.rounding import rounded

# Likelihood metric families, in table order.
LEADING = ("nll", "nll_iwae", "bits_per_dim", "elbo", "iwae_bound", "kl_posterior_prior")
LEADING += ("kl_to_source", "entropy_source", "recon_bce", "recon_mse")
SHOWN_THROUGHPUT = ("step_ms", "train_examples_per_s", "compile_s", "mfu")
QUIET_ESTIMATORS = ("exact", "closed_form", "monte_carlo")
HEAD = ["model", "dataset", "variant", "backend", "n"]
MISSING = "–"


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (ddof=1; 0 for one value) and count of one column."""

    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class Row:
    """One group of records: identity, counts and aggregated columns.

    ``n`` counts ok records, ``n_failed`` failed ones; ``throughput`` names the
    columns that came from the records' ``throughput``; ``chosen`` is the
    metric selection given to ``aggregate`` (empty: all); ``revisions`` are the
    distinct git revisions of the ok records (``unknown`` where none was recorded);
    ``dirty`` counts ok records run from a source tree with uncommitted changes.
    """

    model: str
    dataset: str
    variant: str
    backend: str
    config_key: str
    n: int
    n_failed: int
    values: dict[str, Stat] = field(default_factory=dict)
    throughput: frozenset[str] = frozenset()
    chosen: tuple[str, ...] = ()
    revisions: tuple[str, ...] = ()
    dirty: int = 0


def column_name(metric: str, estimator: str | None) -> str:
    """The column of ``metric``: annotated with its estimator unless exact or implied.

    Args:
      metric: metric name, e.g. ``nll``.
      estimator: its estimator tag from the record, e.g. ``iwae_k100``, or None.

    Returns:
      ``metric`` or ``"metric [estimator]"``.
    """
    if estimator is None:
        return metric
    implied = metric == estimator or metric.endswith("_" + estimator.removeprefix("iwae_"))
    if estimator in QUIET_ESTIMATORS or metric.endswith("_se") or implied:
        return metric
    return f"{metric} [{estimator}]"


def _stat(values: list) -> Stat | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Stat(statistics.fmean(values), std, len(values))


def _flatten(config: dict, prefix: str = "") -> dict[str, str]:
    flat = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat |= _flatten(value, f"{path}.")
        else:
            flat[path] = value if isinstance(value, str) else canonical_json(value)
    return flat


def variant_labels(groups: dict[tuple, list[dict]]) -> dict[tuple, str]:
    """Labels groups: the preset name (or ``default``), plus ``path=value`` for each config
    leaf that differs between groups sharing (model, dataset, backend, preset).

    Args:
      groups: ``(model, dataset, backend, config_key) -> records`` of each group.

    Returns:
      ``group key -> label``, deterministic for given records.
    """
    buckets = defaultdict(list)
    for key, records in groups.items():
        model, dataset, backend, _ = key
        buckets[(model, dataset, backend, records[0].get("preset"))].append(key)
    labels = {}
    for (_, _, _, preset), keys in buckets.items():
        flats = {k: _flatten(groups[k][0]["config"]) for k in keys}
        paths = sorted({p for f in flats.values() for p in f})
        differing = [p for p in paths if len({f.get(p) for f in flats.values()}) > 1]
        for key in keys:
            parts = [preset or "default"]
            parts += [f"{p}={flats[key].get(p, '-')}" for p in differing]
            labels[key] = " ".join(parts)
    return labels


def _group_row(key: tuple, label: str, members: list[dict], metrics: list[str] | None) -> Row:
    """Aggregates one group's ok records into a Row."""
    ok = [r for r in members if r["status"] == "ok"]
    columns, throughput = defaultdict(list), set()
    for record in ok:
        estimators = record.get("estimators", {})
        for name, value in record.get("metrics", {}).items():
            column = column_name(name, estimators.get(name))
            if metrics is None or name in metrics or column in metrics:
                columns[column].append(value)
        for name, value in record.get("throughput", {}).items():
            if metrics is None or name in metrics:
                columns[name].append(value)
                throughput.add(name)
    values = {name: s for name, vs in sorted(columns.items()) if (s := _stat(vs)) is not None}
    return Row(
        model=key[0],
        dataset=key[1],
        variant=label,
        backend=key[2],
        config_key=key[3],
        n=len(ok),
        n_failed=len(members) - len(ok),
        values=values,
        throughput=frozenset(throughput),
        chosen=tuple(metrics or ()),
        revisions=tuple(sorted({r["env"].get("git_revision") or "unknown" for r in ok})),
        dirty=sum(1 for r in ok if r["env"].get("git_dirty")),
    )


def aggregate(records: list[dict], metrics: list[str] | None = None) -> list[Row]:
    """Groups records by (model, dataset, backend, config) and aggregates over seeds.

    Args:
      records: run records (ok and failed).
      metrics: metric/throughput names to keep, in table order; None keeps all.

    Returns:
      Rows sorted by (model, dataset, variant, backend); failed runs are counted
      in ``n_failed`` and contribute no values.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        config = canonical_json(record["config"])
        groups[(record["model"], record["dataset"], record["env"]["backend"], config)].append(
            record
        )
    labels = variant_labels(groups)
    rows = [_group_row(key, labels[key], members, metrics) for key, members in groups.items()]
    return sorted(rows, key=lambda r: (r.model, r.dataset, r.variant, r.backend))


def published_rows(entries: list[dict]) -> list[Row]:
    """Rows of published reference numbers (``backend`` = ``published``), to set beside
    a suite's own rows; a ``[mean, std]`` value shows as mean ± std."""
    rows = []
    for entry in entries:
        values = {}
        for name, value in entry["metrics"].items():
            mean, std = (value, 0.0) if not isinstance(value, list) else (*value, 0.0)[:2]
            values[name] = Stat(float(mean), float(std), 2 if isinstance(value, list) else 1)
        rows.append(
            Row(
                model=entry["model"],
                dataset=entry["dataset"],
                variant=f"{entry['label']} ({entry['source']})",
                backend="published",
                config_key="",
                n=0,
                n_failed=0,
                values=values,
            )
        )
    return rows


def _base(name: str) -> str:
    return name.split(" [")[0]


def _order(name: str) -> tuple:
    base = _base(name)
    family = re.sub(r"_k\d+$", "", base)  # nll_iwae_k1000 -> nll_iwae
    match = re.search(r"_k(\d+)$", base)
    k = int(match.group(1)) if match else 0
    if family in LEADING:
        return (0, LEADING.index(family), k, name)
    return (1, 0, k, name)


def default_columns(rows: list[Row], fmt: str) -> list[str]:
    """The columns a table shows when none are given.

    Args:
      rows: aggregated rows.
      fmt: md, csv or latex; ``_se`` columns and the less common throughput
        figures appear only in CSV.

    Returns:
      The ``metrics`` selection of ``aggregate`` in its order if one was given;
      otherwise likelihood metrics first, other metrics alphabetically, then throughput.
    """
    names = {name for row in rows for name in row.values}
    chosen = next((row.chosen for row in rows if row.chosen), ())
    if chosen:
        return sorted(names, key=lambda n: (chosen.index(n if n in chosen else _base(n)), n))
    all_throughput = {n for row in rows for n in row.throughput if n in names}
    metrics = [n for n in names if n not in all_throughput]
    if fmt == "csv":
        return sorted(metrics, key=_order) + sorted(all_throughput)
    metrics = [n for n in metrics if not _base(n).endswith("_se")]
    # nll_iwae_k{K} repeats the nll column when nll is that same estimate.
    metrics = [
        n for n in metrics if not (re.fullmatch(r"nll_iwae_k\d+", n) and f"nll [{n[4:]}]" in names)
    ]
    return sorted(metrics, key=_order) + [n for n in SHOWN_THROUGHPUT if n in all_throughput]


def number(x: float) -> str:
    """A number with 4 significant digits."""
    return f"{x:.4g}"


def _cell(stat: Stat | None, latex: bool) -> str:
    if stat is None:
        return MISSING
    text = rounded(stat.mean, stat.std if stat.n > 1 else None)
    return "$" + text.replace("±", r"\pm") + "$" if latex and "±" in text else text


def _identity(row: Row) -> list[str]:
    n = f"{row.n}" + (f" ({row.n_failed} failed)" if row.n_failed else "")
    return [row.model, row.dataset, row.variant, row.backend, n]


def md_escape(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


_LATEX = {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """``text`` safe in LaTeX text mode (``_`` -> ``\\_`` and the other specials)."""
    return re.sub(r"[\\~^_%&#${}]", lambda m: _LATEX.get(m[0], "\\" + m[0]), text)


def to_markdown(rows: list[Row], columns: list[str] | None = None) -> str:
    """Markdown tables, one per dataset (``genbench.results.view``), 120 characters wide.

    Args:
      rows: from ``aggregate``.
      columns: the columns to show; None for each dataset's headline columns.
    """
    from genbench.results.grid import render
    from genbench.results.view import DEFAULT_WIDTH, table_grids

    return render(table_grids(rows, DEFAULT_WIDTH, columns), "md", DEFAULT_WIDTH)


def to_csv(rows: list[Row], columns: list[str] | None = None) -> str:
    """CSV: ``n``, ``n_failed`` and ``<col>_mean``, ``<col>_std``, ``<col>_n`` per column.

    Numbers keep full precision (this is the machine-readable format); missing is empty.
    """
    columns = columns if columns is not None else default_columns(rows, "csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        HEAD + ["n_failed"] + [f"{c}_{part}" for c in columns for part in ("mean", "std", "n")]
    )
    for row in rows:
        cells = [row.model, row.dataset, row.variant, row.backend, row.n, row.n_failed]
        for c in columns:
            stat = row.values.get(c)
            cells += [repr(stat.mean), repr(stat.std), stat.n] if stat else ["", "", ""]
        writer.writerow(cells)
    return buffer.getvalue()


def latex_tabular(head: list[str], body: list[list[str]], n_text: int) -> str:
    """A booktabs ``tabular``: ``n_text`` left-aligned columns, the rest right-aligned.

    Args:
      head: header cells, escaped here.
      body: rows of ready-made cells (already escaped or math).
      n_text: how many leading columns are text.
    """
    spec = "l" * n_text + "r" * (len(head) - n_text)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
    lines.append(" & ".join(latex_escape(h) for h in head) + " \\\\")
    lines.append("\\midrule")
    lines += [" & ".join(cells) + " \\\\" for cells in body]
    return "\n".join([*lines, "\\bottomrule", "\\end{tabular}"]) + "\n"


def to_latex(rows: list[Row], columns: list[str] | None = None) -> str:
    """A booktabs ``tabular`` with ``$mean \\pm std$`` cells, ``–`` where missing."""
    columns = columns if columns is not None else default_columns(rows, "latex")
    body = [
        [latex_escape(c) for c in _identity(row)]
        + [_cell(row.values.get(c), True) for c in columns]
        for row in rows
    ]
    return latex_tabular(HEAD + columns, body, len(HEAD) - 1)


FORMATS = {"md": to_markdown, "csv": to_csv, "latex": to_latex}


def check_format(fmt: str) -> None:
    """Raises UsageError unless ``fmt`` is md, csv or latex."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown table format {fmt!r}; allowed: csv, latex, md")


def format_table(rows: list[Row], fmt: str, columns: list[str] | None = None) -> str:
    """The table in format ``fmt``.

    Args:
      rows: from ``aggregate``.
      fmt: md, csv or latex.
      columns: column names to show; None for ``default_columns``.

    Raises:
      UsageError: an unknown format.
    """
    check_format(fmt)
    return FORMATS[fmt](rows, columns)
