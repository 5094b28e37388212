"""From a reproduction to run specs, and from records back to its rows.

Records are matched to a row by what the row asks for: its model, dataset and
preset, and the value of every override the reproduction sets (its
``[defaults]``, the row's ``set`` and, for ``--quick``, the variant's ``set``),
compared in the record's resolved config. Not by run key: a run key also
hashes every default of the revision that ran it, so committed records would stop
matching as soon as any default changed, while a row's identity is what the
paper's configuration pins down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from genbench.config import to_dict
from genbench.errors import UsageError
from genbench.reproduce.files import Reproduction, Row, Selection
from genbench.results.records import canonical_json
from genbench.spec import RunSpec, resolve


def row_dataset(row: Row, repro: Reproduction, quick: bool) -> str:
    """The dataset a row runs on: the quick variant's replacement, if any, else the row's."""
    return repro.quick.dataset if quick and repro.quick.dataset else row.dataset


def row_overrides(row: Row, repro: Reproduction, quick: bool) -> dict[str, Any]:
    """Every override of a row's runs: the file's defaults and the row's, then the variant's."""
    return {**row.overrides, **(repro.quick.overrides if quick else {})}


def runnable_rows(repro: Reproduction, quick: bool) -> list[Row]:
    """The rows that run: not marked ``not_reproducible``, and in ``quick.rows`` for --quick."""
    chosen = repro.quick.rows if quick and repro.quick.rows is not None else None
    return [
        row
        for row in repro.rows
        if row.not_reproducible is None and (chosen is None or row.name in chosen)
    ]


def row_spec(repro: Reproduction, row: Row, quick: bool, seed: int = 0) -> RunSpec:
    """The resolved run of ``row`` with ``seed`` (its suite is the reproduction's name).

    Raises:
      UsageError: the row does not resolve (unknown model, dataset, preset or key),
        named with the reproduction and the row.
    """
    try:
        return resolve(
            row.model,
            row_dataset(row, repro, quick),
            row.preset,
            row_overrides(row, repro, quick),
            seed,
            repro.name,
        )
    except UsageError as error:
        raise UsageError(f"reproduction {repro.name!r} row {row.name!r}: {error}") from None


def build_specs(repro: Reproduction, quick: bool, seeds: int | None) -> list[RunSpec]:
    """The runs of a reproduction: every runnable row x seeds 0..S-1, each run once.

    Two rows of the same configuration (IWAE's k = 1 rows: the VAE and the IWAE
    objectives coincide) share their runs, and each row's cells read them.

    Args:
      repro: the reproduction.
      quick: the ``--quick`` variant (its overrides, dataset and seeds).
      seeds: ``--seeds``; default the paper's trials (or the quick variant's).
    """
    n_seeds = seeds or (repro.quick.seeds if quick else repro.trials)
    specs: dict[str, RunSpec] = {}
    for row in runnable_rows(repro, quick):
        for seed in range(n_seeds):
            spec = row_spec(repro, row, quick, seed)
            specs.setdefault(spec.run_key, spec)  # rows of one configuration share its runs
    return list(specs.values())


def _lookup(config: dict, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


_ABSENT = object()


def row_identity(repro: Reproduction, row: Row, quick: bool) -> tuple[str, str, str | None, dict]:
    """(model, dataset, preset, {override key: canonical JSON of its resolved value})."""
    config = to_dict(row_spec(repro, row, quick).config)
    pinned = {k: canonical_json(_lookup(config, k)) for k in row_overrides(row, repro, quick)}
    return row.model, row_dataset(row, repro, quick), row.preset, pinned


def matches(record: dict, identity: tuple[str, str, str | None, dict]) -> bool:
    """Whether ``record`` is a run of the row with this ``row_identity``."""
    model, dataset, preset, pinned = identity
    if (record["model"], record["dataset"], record.get("preset")) != (model, dataset, preset):
        return False
    for key, expected in pinned.items():
        value = _lookup(record["config"], key)
        if value is _ABSENT or canonical_json(value) != expected:
            return False
    return True


def newest_per_seed(records: Sequence[dict]) -> list[dict]:
    """One record per seed: the newest (a re-run of a seed replaces its earlier record)."""
    newest: dict[int, dict] = {}
    for record in sorted(records, key=lambda r: (r["created_at"], r["run_id"])):
        newest[record["seed"]] = record
    return [newest[seed] for seed in sorted(newest)]


def rows_records(
    repro: Reproduction, records: Sequence[dict], quick: bool
) -> dict[str, tuple[list[dict], int]]:
    """row name -> (its ok records, newest per seed; how many of its seeds only failed)."""
    found = {}
    for row in runnable_rows(repro, quick):
        identity = row_identity(repro, row, quick)
        mine = [r for r in records if matches(r, identity)]
        ok = newest_per_seed([r for r in mine if r["status"] == "ok"])
        failed_seeds = {r["seed"] for r in mine if r["status"] != "ok"} - {r["seed"] for r in ok}
        found[row.name] = (ok, len(failed_seeds))
    return found


def _history_metrics(entry: dict) -> dict:
    """An evaluation's metrics in a history entry: under ``metrics``, or at its top level."""
    inner = entry.get("metrics")
    return inner if isinstance(inner, dict) else entry


def select_value(record: dict, metric: str, selection: Selection) -> float | None:
    """The value of ``metric`` a run reports under the reproduction's selection rule.

    ``final``: the record's final ``metrics``. ``best_on_validation``: among the
    periodic evaluations in the record's ``history`` (``eval.every``) that carry the
    selection metric, the one with its lowest (``mode = "min"``) or highest value,
    and that evaluation's ``metric``: nanoGPT's "best val loss".

    Returns:
      The value, or None where the record has none (e.g. no periodic evaluations).
    """
    if selection.kind == "final":
        value = record["metrics"].get(metric)
        return None if value is None else float(value)
    evaluations = [
        _history_metrics(e)
        for e in record.get("history") or []
        if isinstance(_history_metrics(e).get(selection.metric), int | float)
    ]
    if not evaluations:
        return None
    pick = min if selection.mode == "min" else max
    best = pick(evaluations, key=lambda e: e[selection.metric])
    value = best.get(metric)
    return float(value) if isinstance(value, int | float) else None
