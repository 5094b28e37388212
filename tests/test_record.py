"""The typed run record and the one atomic writer (no jax)."""

import copy
import math
import os

import pytest
from record_factory import make_record, strict_json

from genbench.atomic import atomic_write
from genbench.errors import UsageError
from genbench.results import RunRecord, write_record


def test_typed_record_round_trips_through_its_json_form(tmp_path):
    value = make_record()
    record = RunRecord.from_dict(copy.deepcopy(value))
    assert record.to_dict() == value and "resumed_from_step" not in value
    record.metrics["nll"], record.resumed_from_step = math.nan, 0
    loaded = strict_json(write_record(record, tmp_path).read_text())
    assert loaded["metrics"]["nll"] is None and loaded["resumed_from_step"] == 0
    expected = {**value, "resumed_from_step": 0, "metrics": {**value["metrics"], "nll": None}}
    expected["invalid"] = {"metrics.nll": "nan"}  # the NaN is data: null, and why
    assert RunRecord.from_dict(loaded) == RunRecord(**expected)
    with pytest.raises(UsageError, match="^invalid record at seed: "):
        RunRecord.from_dict(make_record(seed=-1))


def test_an_invalid_record_is_never_written(tmp_path):
    typed = RunRecord.from_dict(make_record())
    typed.estimators["nll"] = "a guess"
    with pytest.raises(UsageError, match="^invalid record at estimators/nll: "):
        write_record(typed, tmp_path)
    with pytest.raises(UsageError, match="^invalid record at error: "):
        write_record(make_record(status="failed", error=None), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_takes_text_or_bytes_and_leaves_only_the_file(tmp_path):
    target = tmp_path / "new" / "f.bin"
    with pytest.raises(FileNotFoundError):
        atomic_write(target, b"x")
    assert atomic_write(target, b"\x00\x01", make_parents=True).read_bytes() == b"\x00\x01"
    assert atomic_write(target, "é\n").read_text(encoding="utf-8") == "é\n"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_atomic_write_gives_a_plain_files_mode(tmp_path):
    """Not the temporary file's private 0600: a record on a shared filesystem is readable."""
    old = os.umask(0o022)
    try:
        assert atomic_write(tmp_path / "r.json", "{}").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert atomic_write(tmp_path / "p.json", "{}").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
