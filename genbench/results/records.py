"""Result records on disk: stable run keys, atomic writes, reading.

One JSON file per run attempt, written with ``genbench.atomic.atomic_write``
(a temporary file in the same directory, renamed into place), so a reader
never sees a partial record and a crash never leaves one behind. A record is
checked against the shipped schema before it is written and when it is read
(``genbench.results.record``). Files whose names start with ``.`` are never
read as records. Nothing here imports jax or numpy.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path

from genbench.atomic import TEMP_PREFIX, atomic_write
from genbench.errors import UsageError
from genbench.results.record import (
    READABLE_VERSIONS,
    RunRecord,
    json_safe,
    one_line,
    schema_problem,
    validate_record,
)


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
        "config": _without_neutral_defaults(config),
        "seed": seed,
    }
    if plugin_versions:
        identity["plugin_versions"] = dict(plugin_versions)
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:16]


# Config fields added after records were written, left out of the key at their default
# (which behaves as before they existed), so that older runs keep their keys and
# ``--resume`` still finds them, as ``plugin_versions`` is hashed only when there are any.
NEUTRAL_DEFAULTS = {
    ("eval", "every"): 0,
    ("eval", "groups"): [],
    # the GAN's PacGAN-protocol knobs (a key drops only this one value of a field)
    ("model", "init_std"): 0.0,
    ("model", "updates"): "alternating",
    ("model", "batchnorm_statistics"): "batch",
    ("model", "batchnorm_epsilon"): 1e-5,
    # the "stages" learning-rate schedule's shape (read by no other schedule)
    ("train", "stages"): 8,
    ("train", "stage_growth"): 3.0,
    ("train", "stage_decay"): 10 ** (-1 / 7),
    # PacGAN's authors' fixed packs (off: packs formed from each epoch's permutation)
    ("train", "fixed_packs"): False,
    # the VAE's training objective
    ("model", "objective"): "elbo",
    ("model", "train_samples"): 1,
    ("model", "kl"): "analytic",
    # the class-conditional variants of the families (issue 17); off, a model is as before
    ("model", "conditional"): False,
    # the flows' penalty on their mixture base: at 0 (none, as before it existed) a config
    # keeps its old key; the default 0.01 changed the flows' results, so it is not an
    # added field that older records read as having
    ("model", "base_penalty"): 0.0,
}


def _without_neutral_defaults(config: dict) -> dict:
    """``config`` without the ``NEUTRAL_DEFAULTS`` fields that hold their default."""
    drop = {
        (section, name)
        for (section, name), default in NEUTRAL_DEFAULTS.items()
        if isinstance(config.get(section), dict) and config[section].get(name, default) == default
    }
    if not drop:
        return config
    sections = {section for section, _ in drop}
    return {
        key: {k: v for k, v in value.items() if (key, k) not in drop} if key in sections else value
        for key, value in config.items()
    }


def record_filename(record: dict) -> str:
    """The file name of a record: ``model__dataset__s<seed>__<run_id>.json``.

    Args:
      record: a record with ``model``, ``dataset``, ``seed`` and ``run_id``.

    Returns:
      The name, with characters outside ``[A-Za-z0-9_.-]`` replaced by ``_``.
    """
    name = f"{record['model']}__{record['dataset']}__s{record['seed']}__{record['run_id']}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") + ".json"


def write_record(record: RunRecord | dict, out_dir: str | Path) -> Path:
    """Checks one record against the schema, then writes it atomically into ``out_dir``.

    Non-finite numbers (a NaN loss) are written as ``null``. An invalid record
    is never written.

    Args:
      record: the run record (a ``RunRecord``, or its JSON form).
      out_dir: the directory of records (created if needed).

    Returns:
      The path of the new file.

    Raises:
      UsageError: the record breaks the schema (one line naming the field); nothing is written.
      FileExistsError: a record with that file name exists (records are never overwritten).
    """
    value = record.to_dict() if isinstance(record, RunRecord) else json_safe(record)
    validate_record(value)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / record_filename(value)
    if path.exists():
        raise FileExistsError(f"record {path} already exists")
    text = json.dumps(value, indent=1, sort_keys=True, allow_nan=False)
    return atomic_write(path, text + "\n")


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
        first = one_line(str(error))
        raise UsageError(
            f"{file} is not a valid record (truncated or corrupt JSON: {first})"
        ) from None
    if not isinstance(value, dict) or ("run_key" not in value and "schema_version" not in value):
        return None  # e.g. a suite manifest kept beside the records
    version = value.get("schema_version")
    if version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise UsageError(f"{file} has schema_version {version!r}; this genbench reads {readable}")
    if problem := schema_problem(value):
        raise UsageError(f"{file} is not a valid record: {problem}")
    # Records written before the checks existed (a utilisation above 1) are read the way
    # they would be written now: the impossible value null, its reason in ``invalid``.
    record = RunRecord(**value).to_dict()
    record["config"] = with_added_fields(record["config"], record["model"])
    return record


# Config fields added after records were first committed, with the value a run written
# before the field existed behaved as (the field's default, which tests check against
# ``genbench.config``). Reading fills them in, so that a table groups an old record with a
# new one of the same run instead of splitting the row on a field the old one lacks.
ADDED_CONFIG_FIELDS = {
    ("train", "cpu_dots"): "ynnpack",
    ("train", "compute_dtype"): "float32",
    ("eval", "every"): 0,
    ("eval", "groups"): [],
    ("train", "stages"): 8,
    ("train", "stage_growth"): 3.0,
    ("train", "stage_decay"): 10 ** (-1 / 7),
    ("train", "fixed_packs"): False,
}
# The same for one model's section: (model, field) -> value.
ADDED_MODEL_FIELDS = {
    ("gan", "init_std"): 0.0,
    ("gan", "updates"): "alternating",
    ("gan", "batchnorm_statistics"): "batch",
    ("gan", "batchnorm_epsilon"): 1e-5,
    ("vae", "objective"): "elbo",
    ("vae", "train_samples"): 1,
    ("vae", "kl"): "analytic",
    ("gan", "conditional"): False,
    ("vae", "conditional"): False,
    ("realnvp", "conditional"): False,
    ("maf", "conditional"): False,
    ("vdm", "conditional"): False,
}


def with_added_fields(config: dict, model: str | None = None) -> dict:
    """``config`` with each field of ``ADDED_CONFIG_FIELDS`` (and, for ``model``, of
    ``ADDED_MODEL_FIELDS``) it lacks set to that value.

    Args:
      config: a record's config as nested dicts (not modified).
      model: the record's model name, or None for the shared sections only.

    Returns:
      A new dict; sections the config lacks altogether are left out.
    """
    added = dict(ADDED_CONFIG_FIELDS)
    added |= {
        ("model", name): v for (owner, name), v in ADDED_MODEL_FIELDS.items() if owner == model
    }
    completed = dict(config)
    for (section, name), value in added.items():
        if isinstance(completed.get(section), dict) and name not in completed[section]:
            completed[section] = {**completed[section], name: value}
    return completed


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
