"""Result records: stable run keys, atomic writes, reading, and schema validation.

One JSON file per run attempt, written to a temporary file in the same
directory and renamed into place, so a reader never sees a partial record
and a crash never leaves one behind. Files whose names start with ``.`` are
never read as records. Nothing here imports jax or numpy.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import math
import os
import re
import tempfile
import uuid
from importlib import resources
from pathlib import Path

from genbench.errors import UsageError

SCHEMA_VERSION = 1
TEMP_PREFIX = ".tmp-"
_MESSAGE_CHARS = 160


def load_schema() -> dict:
    """Reads the JSON Schema of a record, shipped as package data.

    Returns:
      The schema as a dict (draft 2020-12).
    """
    text = resources.files("genbench.results").joinpath("record_schema.json").read_text("utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema  # lazily: only validation needs it

    return jsonschema.Draft202012Validator(load_schema())


def _one_line(text: str, limit: int = _MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_record(record: dict) -> None:
    """Checks ``record`` against the schema.

    Args:
      record: a run record.

    Raises:
      UsageError: one line naming the path of the first (shallowest) offending field.
    """
    errors = _validator().iter_errors(record)
    order = sorted(errors, key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    if order:
        error = order[0]
        where = "/".join(str(p) for p in error.absolute_path) or "(record)"
        raise UsageError(f"invalid record at {where}: {_one_line(error.message)}")


def canonical_json(value) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings.

    Args:
      value: any JSON-serialisable value (no NaN or infinity).

    Returns:
      The canonical string.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def run_key(
    model: str,
    dataset: str,
    dataset_version: str,
    config: dict,
    seed: int,
    plugin_versions: dict[str, str] | None = None,
) -> str:
    """A stable hash of what identifies a run (what ``--resume`` matches).

    Args:
      model: registered model name.
      dataset: registered dataset name.
      dataset_version: the dataset's version string.
      config: the fully resolved config as nested dicts.
      seed: the run's seed.
      plugin_versions: versions of the plugin entries the run uses
        (``registry.plugin_versions``); hashed only when there are any, so the
        key of a run of built-ins is what it was before plugins had versions.

    Returns:
      The first 16 hex digits of the sha256 of the canonical JSON of those fields.
    """
    identity = {
        "model": model,
        "dataset": dataset,
        "dataset_version": dataset_version,
        "config": config,
        "seed": seed,
    }
    if plugin_versions:
        identity["plugin_versions"] = dict(plugin_versions)
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:16]


def new_run_id() -> str:
    """A run id unique across attempts, processes and machines.

    Returns:
      ``<UTC time to the microsecond>-<12 hex digits of a uuid4>``; sorts by time.
    """
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{now}-{uuid.uuid4().hex[:12]}"


def record_filename(record: dict) -> str:
    """The file name of a record: ``model__dataset__s<seed>__<run_id>.json``.

    Args:
      record: a record with ``model``, ``dataset``, ``seed`` and ``run_id``.

    Returns:
      The name, with characters outside ``[A-Za-z0-9_.-]`` replaced by ``_``.
    """
    name = f"{record['model']}__{record['dataset']}__s{record['seed']}__{record['run_id']}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") + ".json"


def write_text(path: str | Path, text: str) -> Path:
    """Writes ``text`` to ``path`` atomically (temp file in the same directory, then rename).

    Args:
      path: the final file; its directory must exist.
      text: the contents.

    Returns:
      ``path``. On any error the temp file is removed and the error re-raised.
    """
    path = Path(path)
    temp = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=TEMP_PREFIX, suffix=".part", delete=False
        ) as handle:
            temp = handle.name
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise
    return path


def _json_safe(value):
    """``value`` with non-finite floats as ``None``, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_record(record: dict, out_dir: str | Path) -> Path:
    """Writes one record atomically into ``out_dir`` (created if needed).

    Non-finite numbers (a NaN loss) are written as ``null``.

    Args:
      record: the run record.
      out_dir: the directory of records.

    Returns:
      The path of the new file.

    Raises:
      FileExistsError: a record with that file name exists (records are never overwritten).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / record_filename(record)
    if path.exists():
        raise FileExistsError(f"record {path} already exists")
    text = json.dumps(_json_safe(record), indent=1, sort_keys=True, allow_nan=False)
    return write_text(path, text + "\n")


def check_writable(out_dir: str | Path) -> Path:
    """Creates ``out_dir`` if needed and proves it writable before any work starts.

    Args:
      out_dir: the output directory.

    Returns:
      ``out_dir`` as a Path.

    Raises:
      UsageError: the directory cannot be created or written.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=TEMP_PREFIX):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UsageError(f"output directory {str(out_dir)!r} is not writable: {reason}") from None
    return out_dir


def _record_files(path: Path) -> list[Path]:
    """The candidate record files of one argument: itself, or the visible ``*.json`` below it."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"no such results file or directory: {str(path)!r}")
    return sorted(
        p
        for p in path.rglob("*.json")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def _load(file: Path) -> dict | None:
    """The record in ``file``, or None for a JSON file that is not a record (no key fields).

    Raises:
      UsageError: unreadable, truncated or invalid JSON, or an invalid record.
    """
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {file}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        first = _one_line(str(error))
        raise UsageError(
            f"{file} is not a valid record (truncated or corrupt JSON: {first})"
        ) from None
    if not isinstance(value, dict) or ("run_key" not in value and "schema_version" not in value):
        return None  # e.g. a suite manifest kept beside the records
    version = value.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"{file} has schema_version {version!r}; this genbench reads {SCHEMA_VERSION}"
        )
    if problem := _shape_problem(value):
        raise UsageError(f"{file} is not a valid record: {problem}")
    return value


_SHAPE = {
    "run_key": str,
    "model": str,
    "dataset": str,
    "seed": int,
    "status": str,
    "config": dict,
    "env": dict,
    "estimators": dict,
    "metrics": dict,
    "throughput": dict,
}


def _shape_problem(record: dict) -> str | None:
    """What tables need and ``record`` lacks, or None (no jsonschema: that is a test extra).

    Full validation is ``validate_record``; this catches files that would crash
    aggregation (a record cut down by hand, a file from another tool).
    """
    for name, kind in _SHAPE.items():
        if not isinstance(record.get(name), kind):
            return f"field {name!r} is missing or not a {kind.__name__}"
    if record["status"] not in ("ok", "failed"):
        return f"status {record['status']!r} is not ok or failed"
    if not isinstance(record["env"].get("backend"), str):
        return "field 'env/backend' is missing or not a str"
    for section in ("metrics", "throughput"):
        for name, value in record[section].items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                return f"{section}/{name} is {value!r}, not a number or null"
    return None


def read_records(paths: list[str | Path]) -> list[dict]:
    """Every record in the given files and directories.

    A directory is searched recursively for ``*.json``, skipping names that start
    with ``.`` (temp files ``.tmp-*``, hidden files and directories). A JSON
    object with neither ``schema_version`` nor ``run_key`` is not a record and is
    skipped; anything else must be a valid record. A file named twice is read once.

    Args:
      paths: record files and/or directories.

    Returns:
      The records, in path order.

    Raises:
      UsageError: a missing path, a truncated or invalid file (named), or no records at all.
    """
    records, seen = [], set()
    for path in map(Path, paths):
        for file in _record_files(path):
            if (real := file.resolve()) in seen:
                continue
            seen.add(real)
            if (record := _load(file)) is not None:
                records.append(record)
    if not records:
        raise UsageError(f"no records found in {', '.join(str(p) for p in paths)}")
    return records
