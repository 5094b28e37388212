"""The run record: one typed structure, serialised to the shipped JSON Schema and checked by it.

``RunRecord`` is what ``genbench.runner.run`` builds and fills in;
``to_dict()`` is its JSON form (``record_schema.json``, draft 2020-12), and
``validate_record`` checks a record (typed or JSON) against that schema with
``jsonschema``, which is imported lazily: nothing here imports jax, numpy or
jsonschema at import time.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from genbench.errors import UsageError

SCHEMA_VERSION = 2
# Versions this genbench reads. 2 added, all optional: ``samples``, ``params``,
# ``env.git_dirty`` and the periodic evaluations of history entries (``eval.every``);
# a version 1 record is valid under version 2's schema.
READABLE_VERSIONS = (1, 2)
_MESSAGE_CHARS = 160


def new_run_id() -> str:
    """A run id unique across attempts, processes and machines.

    Returns:
      ``<UTC time to the microsecond>-<12 hex digits of a uuid4>``; sorts by time.
    """
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{now}-{uuid.uuid4().hex[:12]}"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclass(kw_only=True)
class RunRecord:
    """One run of one model on one dataset with one seed (DESIGN §6).

    The fields are the properties of ``record_schema.json``; ``run_id`` and
    ``created_at`` default to a fresh id and the current UTC time. The runner
    fills in the results as the run goes.

    Attributes:
      run_key: stable hash of model, dataset, dataset version, config and seed (``run_key``).
      model, dataset, dataset_version: what ran on what.
      preset: the named preset applied, if any.
      seed: the run's seed.
      config: the fully resolved config, ``{"model", "data", "train", "eval"}``.
      env: backend, devices and versions (``genbench.runtime.environment``).
      suite: the suite the run belongs to, if any.
      status: ``"ok"`` or ``"failed"``; a failed record carries ``error``.
      error: ``{"type", "message", "step", "group"[, "traceback"]}`` or None.
      estimators: metric name -> how it was estimated (``exact``, ``iwae_k1000``, ...).
      metrics: metric name -> value (None where undefined).
      throughput: timing name -> value.
      history: ``{"step", "loss", "time", ...}`` entries of the fit; with ``eval.every``,
        some also hold ``metrics`` (name -> value), ``eval_split`` and ``eval_s``.
      resumed_from_step: the step a checkpoint restored (0: a fresh gradient fit);
        None for fits without checkpoints, and then left out of the JSON.
      samples: ``{"shape", "values"}``: a few hundred samples of the trained model in
        data space (2-D data and images, ``genbench.metrics.kept``), for plots; None
        where none were kept, and then left out of the JSON.
      params: the directory, beside the record, of the trained model's saved state
        (``genbench run --save-model``); None (left out) where it was not saved.
      invalid: ``"metrics.<name>"`` or ``"throughput.<name>"`` -> why that value is
        written as null: a NaN or infinite number, or a utilisation above 1
        (``invalid_values``); filled in by ``to_dict``, left out when empty.
      schema_version: the schema this record follows.
      run_id: unique per attempt.
      created_at: ISO 8601 UTC time the run started.
    """

    run_key: str
    model: str
    dataset: str
    dataset_version: str
    preset: str | None
    seed: int
    config: dict[str, dict[str, Any]]
    env: dict[str, Any]
    suite: str | None = None
    status: Literal["ok", "failed"] = "ok"
    error: dict[str, Any] | None = None
    estimators: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    throughput: dict[str, float | None] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_step: int | None = None
    samples: dict[str, Any] | None = None
    params: str | None = None
    invalid: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    run_id: str = field(default_factory=new_run_id)
    created_at: str = field(default_factory=_now)

    def to_dict(self) -> dict:
        """The record as the schema's JSON object.

        A metric or throughput value that cannot be a number is written as ``None``
        with its reason in ``invalid`` (``invalid_values``); other non-finite numbers
        (a NaN loss in the history) become ``None``; an unset ``resumed_from_step``
        or ``samples`` and an empty ``invalid`` are left out.

        Returns:
          A fresh dict (nothing shared with the record).
        """
        value = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        value["invalid"] = {**value["invalid"], **invalid_values(self)}
        for dotted in value["invalid"]:
            section, name = dotted.split(".", 1)
            if name in value[section]:
                value[section] = {**value[section], name: None}
        for optional in ("resumed_from_step", "samples", "params"):
            if value[optional] is None:
                del value[optional]
        if not value["invalid"]:
            del value["invalid"]
        return json_safe(value)

    @classmethod
    def from_dict(cls, value: dict) -> RunRecord:
        """The typed record of a JSON record, which must follow the schema.

        Args:
          value: a record as read from a file.

        Returns:
          The ``RunRecord`` (sharing the nested containers of ``value``).

        Raises:
          UsageError: ``value`` breaks the schema (one line naming the field).
        """
        validate_record(value)
        return cls(**value)


# Throughput values that are fractions of a device's peak: above 1 is a measurement error.
FRACTIONS = ("mfu", "hfu")


def invalid_values(record: RunRecord) -> dict[str, str]:
    """The metric and throughput values of ``record`` that cannot be written as numbers.

    Returns:
      ``"metrics.nll" -> "nan"`` for a NaN or infinite value, and
      ``"throughput.mfu" -> "1.16 > 1: ..."`` for a utilisation above 1, which
      means the peak it divides by was underestimated: a bug in the
      measurement, never a number to report.
    """
    found = {}
    for section in ("metrics", "throughput"):
        for name, value in getattr(record, section).items():
            if isinstance(value, int | float) and not math.isfinite(value):
                found[f"{section}.{name}"] = str(float(value))
    for name in FRACTIONS:
        value = record.throughput.get(name)
        if isinstance(value, int | float) and math.isfinite(value) and value > 1:
            peak = record.throughput.get("peak_flops_per_s")
            found[f"throughput.{name}"] = (
                f"{value:.3g} > 1: the step ran faster than the peak it is divided by "
                f"({peak:.3g} FLOP/s), so that peak is too low"
                if isinstance(peak, int | float)
                else f"{value:.3g} > 1"
            )
    return found


def json_safe(value):
    """A deep copy of ``value`` with non-finite floats as ``None``, so it is strict JSON.

    Args:
      value: nested dicts, lists, tuples and scalars.

    Returns:
      The copy (tuples become lists).
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def load_schema() -> dict:
    """Reads the JSON Schema of a record, shipped as package data.

    Returns:
      The schema as a dict (draft 2020-12).
    """
    text = resources.files("genbench.results").joinpath("record_schema.json").read_text("utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema  # lazily: reading tables of records must not pay for it at import

    return jsonschema.Draft202012Validator(load_schema())


def one_line(text: str, limit: int = _MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_error(value: dict):
    """The shallowest schema violation of ``value`` (ties: schema order), or None."""
    errors = _validator().iter_errors(value)
    order = sorted(errors, key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    return order[0] if order else None


def _where(error) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(record)"


def validate_record(record: RunRecord | dict) -> None:
    """Checks a record against the schema.

    Args:
      record: a ``RunRecord``, or its JSON form.

    Raises:
      UsageError: one line naming the path of the first (shallowest) offending field.
    """
    value = record.to_dict() if isinstance(record, RunRecord) else record
    if (error := _first_error(value)) is not None:
        raise UsageError(f"invalid record at {_where(error)}: {one_line(error.message)}")


def schema_problem(value: dict) -> str | None:
    """What makes ``value`` an invalid record, in words for a reader of a file; None if valid.

    Args:
      value: a JSON object read from a records directory.

    Returns:
      ``"field 'run_key' is missing"`` for a missing field, else
      ``"field 'metrics/nll': 'x' is not of type 'number', 'null'"`` and the like.
    """
    error = _first_error(value)
    if error is None:
        return None
    if error.validator == "required":  # name the missing field, not the object lacking it
        missing = next(p for p in error.validator_value if p not in error.instance)
        where = "/".join([*map(str, error.absolute_path), missing])
        return f"field {where!r} is missing"
    if not error.absolute_path:  # e.g. a field the schema does not know
        return one_line(error.message)
    return f"field {_where(error)!r}: {one_line(error.message)}"
