"""Result records: stable run keys, atomic writes, reading, and schema validation.

One JSON file per run attempt, written to a temporary file in the same
directory and renamed into place, so a reader never sees a partial record
and a crash never leaves one behind. Files whose names start with ``.`` are
never read as records.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import tempfile
import uuid
from importlib import resources
from pathlib import Path

from genbench.errors import UsageError

SCHEMA_VERSION = 1
TEMP_PREFIX = ".tmp-"


def load_schema() -> dict:
    """The JSON Schema of a record, shipped in the package."""
    text = resources.files("genbench.results").joinpath("record_schema.json").read_text("utf-8")
    return json.loads(text)


def validate_record(record: dict) -> None:
    """Checks ``record`` against the schema.

    Raises:
      UsageError: one line naming the first offending field.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    error = next(iter(sorted(validator.iter_errors(record), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(record)"
        raise UsageError(f"invalid record at {where}: {error.message}")


def canonical_json(value) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def run_key(model: str, dataset: str, dataset_version: str, config: dict, seed: int) -> str:
    """A stable 16-hex-digit hash of what identifies a run (what ``--resume`` matches)."""
    identity = {
        "model": model,
        "dataset": dataset,
        "dataset_version": dataset_version,
        "config": config,
        "seed": seed,
    }
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:16]


def new_run_id() -> str:
    """A run id unique across attempts, processes and machines (time + random)."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{now}-{uuid.uuid4().hex[:10]}"


def record_filename(record: dict) -> str:
    """``model__dataset__s<seed>__<run_id>.json`` with unsafe characters replaced."""
    name = f"{record['model']}__{record['dataset']}__s{record['seed']}__{record['run_id']}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".json"


def write_text(path: str | Path, text: str) -> Path:
    """Writes ``text`` to ``path`` atomically (temp file in the same directory, then rename)."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


def write_record(record: dict, out_dir: str | Path) -> Path:
    """Writes one record atomically into ``out_dir``; returns its path (never overwrites)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / record_filename(record)
    if path.exists():
        raise FileExistsError(f"record {path} already exists")
    return write_text(path, json.dumps(record, indent=1, sort_keys=True, allow_nan=True) + "\n")


def check_writable(out_dir: str | Path) -> Path:
    """Creates ``out_dir`` if needed and proves it writable before any work starts.

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
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"no such results file or directory: {str(path)!r}")
    return sorted(
        p
        for p in path.rglob("*.json")
        if not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def read_records(paths: list[str | Path]) -> list[dict]:
    """Every record in the given files and directories (recursively; hidden files skipped).

    JSON files that are not records (no ``run_key``) are skipped; a truncated
    or otherwise unreadable JSON file is an error naming the file.

    Raises:
      UsageError: a bad file, a missing path, or no records at all.
    """
    records = []
    for path in map(Path, paths):
        for file in _record_files(path):
            try:
                value = json.loads(file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise UsageError(
                    f"{file} is not a valid record (truncated or corrupt JSON: "
                    f"{str(error).splitlines()[0]})"
                ) from None
            if isinstance(value, dict) and "run_key" in value:
                if value.get("schema_version") != SCHEMA_VERSION:
                    raise UsageError(
                        f"{file} has schema_version {value.get('schema_version')!r};"
                        f" this genbench reads {SCHEMA_VERSION}"
                    )
                records.append(value)
    if not records:
        raise UsageError(f"no records found in {', '.join(str(p) for p in paths)}")
    return records
