"""Reproduction files: a published table as a shipped TOML file, loaded into frozen dataclasses.

A reproduction file (``genbench/reproductions/NAME.toml``, or any ``.toml`` path) holds::

    description = "one line for genbench list reproductions"
    trials = 10                       # the paper's trials: the default --seeds
    selection = "final"               # or { best_on_validation = "metric", mode = "min" }

    [citation]                        # authors (list), title, year, table, paper, code
    [defaults]                        # section.field overrides of every row's run
    [[protocol]]                      # choice, value, source[, deviation]: one per choice
    [[row]]                           # name, model, dataset[, preset, set, not_reproducible]
    cells = [ { metric = "nll", value = 85.3, pm = 0.2, pm_kind = "se", n = 10 }, ... ]
                                      # a cell may say not_reproducible = "why, and the curve"
    [quick]                           # seeds, set[, dataset, rows, note]: the < 300 s variant

A cell's ``pm`` is the paper's ± (``pm_kind`` ``"se"`` or ``"sd"``, over ``n`` trials;
absent where the paper gives none) and ``tolerance`` an absolute tolerance, required
where the paper gives no ± or ``n = 1``, and wherever we run a single trial. Values
are in genbench's units (a percentage 98.2 % is written 0.982). Anything malformed
is a one-line ``UsageError`` naming the file and the field.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from genbench.errors import UsageError, choices

PACKAGE_DIR = "reproductions"  # genbench/reproductions/*.toml


@dataclass(frozen=True)
class Citation:
    """Where the published table comes from."""

    authors: tuple[str, ...]
    title: str
    year: int
    table: str  # e.g. "Table 1"
    paper: str  # URL of the paper
    code: str  # URL of the authors' code


@dataclass(frozen=True)
class Cell:
    """One published number of a row: ``value ± pm`` (a ``pm_kind`` over ``n`` trials)."""

    metric: str  # the record's metric name
    value: float
    pm: float | None  # the paper's ±; None where the paper gives none
    pm_kind: str  # "se" or "sd"
    n: int  # the paper's trials behind this cell
    tolerance: float | None  # absolute tolerance (needed where the paper gives no ± or n = 1)
    # why this one cell is not expected to match here (the steps it needs that this variant
    # cannot take, and the committed curve that shows it); it is still run and judged
    not_reproducible: str | None = None


@dataclass(frozen=True)
class Row:
    """One published configuration and the run that produces our version of it."""

    name: str
    model: str
    dataset: str
    preset: str | None
    overrides: dict[str, Any]  # section.field -> value, after the file's [defaults]
    cells: tuple[Cell, ...]
    not_reproducible: str | None  # why this row is not run here (e.g. steps a CPU cannot take)


@dataclass(frozen=True)
class Protocol:
    """One protocol choice, the value we use and where it comes from."""

    choice: str
    value: str
    source: str
    deviation: str | None  # where genbench departs from the source, and why


@dataclass(frozen=True)
class Selection:
    """How a run's reported value is chosen: its final metrics, or the best periodic evaluation."""

    kind: str  # "final" or "best_on_validation"
    metric: str | None = None  # the history metric the best evaluation is chosen by
    mode: str = "min"  # "min" or "max" of that metric


@dataclass(frozen=True)
class Quick:
    """The short variant of a reproduction (``--quick``): not the paper's protocol."""

    seeds: int
    overrides: dict[str, Any]  # applied to every row after its own
    dataset: str | None  # replaces every row's dataset (data that ships with genbench)
    note: str  # what the variant changes, printed with its table
    rows: tuple[str, ...] | None  # the rows it runs (None: all), to fit its time budget


@dataclass(frozen=True)
class Reproduction:
    """A published table, the runs that reproduce it, and how to compare them."""

    name: str
    path: str
    description: str
    citation: Citation
    trials: int
    selection: Selection
    protocol: tuple[Protocol, ...]
    rows: tuple[Row, ...]
    quick: Quick

    @property
    def n_cells(self) -> int:
        """N, the number of published cells (the Bonferroni correction's count)."""
        return sum(len(row.cells) for row in self.rows)


_TOP = {"description", "trials", "selection", "citation", "defaults", "protocol", "row", "quick"}
_CITATION = {"authors", "title", "year", "table", "paper", "code"}
_ROW = {"name", "model", "dataset", "preset", "set", "cells", "not_reproducible"}
_CELL = {"metric", "value", "pm", "pm_kind", "n", "tolerance", "not_reproducible"}
_PROTOCOL = {"choice", "value", "source", "deviation"}
_QUICK = {"seeds", "set", "dataset", "note", "rows"}


class _Fields:
    """Typed reads of one TOML table, each failure one line naming the file and the field."""

    def __init__(self, file: str, where: str, table: Any, allowed: set[str]):
        self.file, self.where = file, where
        if not isinstance(table, dict):
            self.fail("must be a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            self.fail(f"has unknown field {unknown[0]!r}; allowed: {choices(allowed)}")
        self.table = table

    def fail(self, message: str, field: str | None = None):
        at = f"{self.where}.{field}" if field else self.where
        raise UsageError(f"reproduction file {self.file}: {at} {message}")

    def get(self, field: str, kind: type | tuple, default: Any = ..., what: str = ""):
        """The field's value, checked to be of ``kind`` (bools are never numbers)."""
        if field not in self.table:
            if default is ...:
                self.fail("is missing", field)
            return default
        value = self.table[field]
        numeric = kind in (int, float, (int, float))
        if (numeric and isinstance(value, bool)) or not isinstance(value, kind):
            self.fail(f"must be {what or _kind_name(kind)}, got {value!r}", field)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(f"must be finite, got {value!r}", field)
        return value

    def positive(self, field: str, kind: type | tuple, default: Any = ...):
        value = self.get(field, kind, default)
        if value is not None and value is not default and value <= 0:
            self.fail(f"must be > 0, got {value!r}", field)
        return value


def _kind_name(kind) -> str:
    names = {str: "a string", int: "an integer", (int, float): "a number", dict: "a table"}
    return names.get(kind, "a list" if kind is list else str(kind))


def _citation(file: str, table: Any) -> Citation:
    f = _Fields(file, "citation", table, _CITATION)
    authors = f.get("authors", list)
    if not authors or not all(isinstance(a, str) and a for a in authors):
        f.fail("must be a non-empty list of names", "authors")
    return Citation(
        tuple(authors),
        f.get("title", str),
        f.positive("year", int),
        f.get("table", str),
        f.get("paper", str),
        f.get("code", str),
    )


def _cell(file: str, where: str, table: Any, single_trial: bool) -> Cell:
    f = _Fields(file, where, table, _CELL)
    cell = Cell(
        metric=f.get("metric", str),
        value=float(f.get("value", (int, float))),
        pm=f.get("pm", (int, float), None),
        pm_kind=f.get("pm_kind", str, "se"),
        n=f.positive("n", int),
        tolerance=f.get("tolerance", (int, float), None),
        not_reproducible=f.get("not_reproducible", str, None),
    )
    if cell.pm_kind not in ("se", "sd"):
        f.fail(f"must be 'se' or 'sd', got {cell.pm_kind!r}", "pm_kind")
    if cell.pm is not None and cell.pm < 0:
        f.fail(f"must be >= 0, got {cell.pm!r}", "pm")
    if cell.tolerance is not None and cell.tolerance < 0:
        f.fail(f"must be >= 0, got {cell.tolerance!r}", "tolerance")
    if cell.tolerance is None and (cell.pm is None or cell.n == 1 or single_trial):
        reason = "the paper gives no ±" if cell.pm is None else "n = 1"
        reason = "a variant runs one trial" if single_trial and cell.pm is not None else reason
        f.fail(f"is missing ({reason}: an absolute tolerance is required)", "tolerance")
    return cell


def _row(file: str, index: int, table: Any, defaults: dict, single_trial: bool) -> Row:
    f = _Fields(file, f"row {index + 1}", table, _ROW)
    name = f.get("name", str)
    f.where = f"row {name!r}"
    cells = f.get("cells", list)
    if not cells:
        f.fail("must list at least one cell", "cells")
    parsed = tuple(
        _cell(file, f"row {name!r} cell {i + 1}", c, single_trial) for i, c in enumerate(cells)
    )
    metrics = [c.metric for c in parsed]
    if len(set(metrics)) != len(metrics):
        f.fail("names a metric twice", "cells")
    return Row(
        name=name,
        model=f.get("model", str),
        dataset=f.get("dataset", str),
        preset=f.get("preset", str, None),
        overrides={**defaults, **f.get("set", dict, {})},
        cells=parsed,
        not_reproducible=f.get("not_reproducible", str, None),
    )


def _selection(file: str, value: Any) -> Selection:
    if value == "final":
        return Selection("final")
    f = _Fields(file, "selection", value, {"best_on_validation", "mode"})
    selection = Selection(
        "best_on_validation", f.get("best_on_validation", str), f.get("mode", str, "min")
    )
    if selection.mode not in ("min", "max"):
        f.fail(f"must be 'min' or 'max', got {selection.mode!r}", "mode")
    return selection


def _quick(file: str, table: Any) -> Quick:
    f = _Fields(file, "quick", table, _QUICK)
    rows = f.get("rows", list, None)
    if rows is not None and (not rows or not all(isinstance(r, str) for r in rows)):
        f.fail("must be a non-empty list of row names", "rows")
    return Quick(
        seeds=f.positive("seeds", int),
        overrides=f.get("set", dict, {}),
        dataset=f.get("dataset", str, None),
        note=f.get("note", str, "a short schedule on small data"),
        rows=None if rows is None else tuple(rows),
    )


def parse(name: str, file: str, text: str) -> Reproduction:
    """The reproduction in ``text`` (the TOML of ``file``), checked field by field.

    Args:
      name: the reproduction's name (its file's stem).
      file: how error messages name the file.
      text: the file's TOML.

    Returns:
      The frozen ``Reproduction``.

    Raises:
      UsageError: invalid TOML, a missing or unknown field, a value of the wrong type
        or range, a duplicate row, or a cell without a tolerance where one is required.
    """
    try:
        content = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"reproduction file {file} is not valid TOML: {error}") from None
    f = _Fields(file, "top level", content, _TOP)
    trials = f.positive("trials", int)
    quick = _quick(file, f.get("quick", dict))
    defaults = f.get("defaults", dict, {})
    raw_rows = f.get("row", list)
    if not raw_rows:
        f.fail("must have at least one [[row]]", "row")
    single = trials == 1 or quick.seeds == 1
    rows = tuple(_row(file, i, r, defaults, single) for i, r in enumerate(raw_rows))
    names = [row.name for row in rows]
    if len(set(names)) != len(names):
        f.fail("has two rows of the same name", "row")
    unknown = sorted(set(quick.rows or ()) - set(names))
    if unknown:
        raise UsageError(f"reproduction file {file}: quick.rows names no row {unknown[0]!r}")
    protocol = []
    for i, entry in enumerate(f.get("protocol", list)):
        p = _Fields(file, f"protocol {i + 1}", entry, _PROTOCOL)
        protocol.append(
            Protocol(
                p.get("choice", str),
                str(p.get("value", (str, int, float))),
                p.get("source", str),
                p.get("deviation", str, None),
            )
        )
    if not protocol:
        f.fail("must list every protocol choice with its source", "protocol")
    return Reproduction(
        name=name,
        path=file,
        description=f.get("description", str),
        citation=_citation(file, f.get("citation", dict)),
        trials=trials,
        selection=_selection(file, content.get("selection", "final")),
        protocol=tuple(protocol),
        rows=rows,
        quick=quick,
    )


def shipped() -> dict[str, Any]:
    """The shipped reproduction files: name -> ``importlib.resources`` traversable."""
    folder = resources.files("genbench").joinpath(PACKAGE_DIR)
    return {
        entry.name.removesuffix(".toml"): entry
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


def load(name_or_path: str) -> Reproduction:
    """A shipped reproduction by name, or a reproduction file by path (``*.toml``).

    Raises:
      UsageError: an unknown name (listing the shipped ones), a missing file, or a
        malformed file.
    """
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise UsageError(f"reproduction file {name_or_path!r} does not exist")
        return parse(path.stem, str(path), _read(path))
    files = shipped()
    if name_or_path not in files:
        raise UsageError(f"unknown reproduction {name_or_path!r}; allowed: {choices(files)}")
    entry = files[name_or_path]
    return parse(name_or_path, f"{PACKAGE_DIR}/{entry.name}", _read(entry))


def _read(entry) -> str:
    try:
        return entry.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"reproduction file {entry} cannot be read: {error}") from None


def descriptions() -> dict[str, str]:
    """name -> description of every shipped reproduction (for ``genbench list``)."""
    return {name: load(name).description for name in sorted(shipped())}
