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

LEADING = (
    "nll",
    "nll_iwae",
    "bits_per_dim",
    "elbo",
    "iwae_bound",
    "kl_posterior_prior",
    "kl_to_source",
    "entropy_source",
    "recon_bce",
    "recon_mse",
)
SHOWN_THROUGHPUT = ("step_ms", "train_examples_per_s", "compile_s", "mfu")
QUIET_ESTIMATORS = ("exact", "closed_form", "monte_carlo")


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (0 for one value) and count of one column."""

    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class Row:
    """One group of records: identity, counts and aggregated columns."""

    model: str
    dataset: str
    variant: str
    backend: str
    config_key: str
    n: int
    n_failed: int
    values: dict[str, Stat] = field(default_factory=dict)


def column_name(metric: str, estimator: str | None) -> str:
    """``metric`` annotated with its estimator unless exact or implied by the name."""
    if estimator is None:
        return metric
    implied = metric == estimator or metric.endswith("_" + estimator.removeprefix("iwae_"))
    if estimator in QUIET_ESTIMATORS or metric.endswith("_se") or implied:
        return metric
    return f"{metric} [{estimator}]"


def _columns_of(record: dict) -> dict[str, float]:
    out = {}
    for name, value in record.get("metrics", {}).items():
        out[column_name(name, record.get("estimators", {}).get(name))] = value
    out |= {name: value for name, value in record.get("throughput", {}).items()}
    return out


def _stat(values: list[float]) -> Stat | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Stat(statistics.fmean(values), std, len(values))


def _flatten(config: dict, prefix: str = "") -> dict[str, str]:
    flat = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, f"{path}.")
        else:
            flat[path] = canonical_json(value)
    return flat


def _variants(groups: dict[tuple, list[dict]]) -> dict[tuple, str]:
    """Preset name, plus the config leaves that tell apart groups with the same preset."""
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


def aggregate(records: list[dict]) -> list[Row]:
    """Groups records and aggregates every metric and throughput figure over seeds.

    Returns:
      Rows sorted by (model, dataset, variant, backend); failed runs are counted
      in ``n_failed`` and contribute no values.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        key = (
            record["model"],
            record["dataset"],
            record["env"]["backend"],
            canonical_json(record["config"]),
        )
        groups[key].append(record)
    labels = _variants(groups)
    rows = []
    for key, members in groups.items():
        ok = [r for r in members if r["status"] == "ok"]
        columns = defaultdict(list)
        for record in ok:
            for name, value in _columns_of(record).items():
                columns[name].append(value)
        values = {name: s for name, vs in columns.items() if (s := _stat(vs)) is not None}
        rows.append(
            Row(
                key[0], key[1], labels[key], key[2], key[3], len(ok), len(members) - len(ok), values
            )
        )
    return sorted(rows, key=lambda r: (r.model, r.dataset, r.variant, r.backend))


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
    """Likelihood metrics first, then other metrics, then throughput; ``_se`` only in CSV."""
    names = {name for row in rows for name in row.values}
    throughput = [n for n in SHOWN_THROUGHPUT if n in names]
    all_throughput = {n for row in rows for n in row.values if n in _THROUGHPUT_NAMES}
    metrics = [n for n in names if n not in all_throughput]
    if fmt != "csv":
        metrics = [n for n in metrics if not _base(n).endswith("_se")]
        # nll_iwae_k{K} repeats the nll column when nll is that same estimate.
        metrics = [
            n
            for n in metrics
            if not (re.fullmatch(r"nll_iwae_k\d+", n) and f"nll [iwae_{n[9:]}]" in names)
        ]
    else:
        throughput = sorted(all_throughput)
    return sorted(metrics, key=_order) + throughput


_THROUGHPUT_NAMES = {
    "compile_s",
    "step_ms",
    "train_examples_per_s",
    "train_tokens_per_s",
    "eval_examples_per_s",
    "flops_per_step",
    "analytic_flops_per_step",
    "peak_flops_per_s",
    "mfu",
    "hfu",
    "peak_memory_bytes",
    "train_s",
}


def _number(x: float) -> str:
    return f"{x:.4g}"


def _cell(stat: Stat | None, latex: bool) -> str:
    if stat is None:
        return "–"
    if stat.n == 1:
        return _number(stat.mean)
    return (
        f"${_number(stat.mean)} \\pm {_number(stat.std)}$"
        if latex
        else f"{_number(stat.mean)} ± {_number(stat.std)}"
    )


def _identity(row: Row) -> list[str]:
    n = f"{row.n}" + (f" ({row.n_failed} failed)" if row.n_failed else "")
    return [row.model, row.dataset, row.variant, row.backend, n]


HEAD = ["model", "dataset", "variant", "backend", "n"]


def to_markdown(rows: list[Row], columns: list[str] | None = None) -> str:
    """A Markdown table: one row per group, ``mean ± std`` cells."""
    columns = columns if columns is not None else default_columns(rows, "md")
    lines = ["| " + " | ".join(HEAD + columns) + " |", "|" + "---|" * (len(HEAD) + len(columns))]
    for row in rows:
        cells = _identity(row) + [_cell(row.values.get(c), False) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row], columns: list[str] | None = None) -> str:
    """CSV with ``<col>_mean``, ``<col>_std`` and ``<col>_n`` per column; empty when missing."""
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


def _latex_escape(text: str) -> str:
    return re.sub(r"([_%&#$])", r"\\\1", text)


def to_latex(rows: list[Row], columns: list[str] | None = None) -> str:
    """A booktabs ``tabular`` with ``$mean \\pm std$`` cells."""
    columns = columns if columns is not None else default_columns(rows, "latex")
    head = [_latex_escape(h) for h in HEAD + columns]
    lines = [
        f"\\begin{{tabular}}{{{'l' * 4 + 'r' * (len(head) - 4)}}}",
        "\\toprule",
        " & ".join(head) + " \\\\",
        "\\midrule",
    ]
    for row in rows:
        cells = [_latex_escape(c) for c in _identity(row)]
        cells += [_cell(row.values.get(c), True) for c in columns]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


FORMATS = {"md": to_markdown, "csv": to_csv, "latex": to_latex}


def format_table(rows: list[Row], fmt: str, columns: list[str] | None = None) -> str:
    """The table in format ``fmt`` (md, csv or latex)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown table format {fmt!r}; allowed: csv, latex, md")
    return FORMATS[fmt](rows, columns)
