"""Records written before a config field existed read as if they had its default value."""

import copy
import dataclasses
import json
from pathlib import Path

from genbench import registry
from genbench.config import EvalConfig, TrainConfig, to_dict
from genbench.results import aggregate, read_records
from genbench.results.records import ADDED_CONFIG_FIELDS, ADDED_MODEL_FIELDS, with_added_fields
from tests.record_factory import make_record

RESULTS = Path(__file__).resolve().parents[1] / "results"
SECTIONS = {"train": TrainConfig(), "eval": EvalConfig()}


def test_each_added_field_reads_as_its_current_default():
    """As a record holds it: JSON values (a tuple default is a list)."""
    for (section, name), value in ADDED_CONFIG_FIELDS.items():
        assert to_dict(getattr(SECTIONS[section], name)) == value, f"{section}.{name}"
    for (model, name), value in ADDED_MODEL_FIELDS.items():
        assert getattr(registry.get_model(model).config(), name) == value, f"{model}.{name}"


def test_a_field_missing_from_some_committed_record_is_in_the_table():
    """A field added to the config later must be listed, or old and new rows would split."""
    missing, missing_model = set(), set()
    for path in RESULTS.rglob("*.json"):
        record = json.loads(path.read_text())
        config = record.get("config")
        if not isinstance(config, dict):
            continue
        for section, defaults in SECTIONS.items():
            for field in dataclasses.fields(defaults):
                if field.name not in config.get(section, {}):
                    missing.add((section, field.name))
        for field in dataclasses.fields(registry.get_model(record["model"]).config):
            if field.name not in config["model"]:
                missing_model.add((record["model"], field.name))
    assert missing <= ADDED_CONFIG_FIELDS.keys()
    assert missing_model <= ADDED_MODEL_FIELDS.keys()


def test_filling_in_copies_and_keeps_present_values():
    config = {"train": {"steps": 3, "cpu_dots": "eigen"}, "eval": {}, "model": {}}
    original = copy.deepcopy(config)
    filled = with_added_fields(config)
    assert config == original
    train_added = {
        name: v for (section, name), v in ADDED_CONFIG_FIELDS.items() if section == "train"
    }
    assert filled["train"] == {**train_added, "steps": 3, "cpu_dots": "eigen"}
    assert filled["train"]["compute_dtype"] == "float32"
    assert filled["eval"] == {"every": 0, "groups": []}
    assert "every" not in with_added_fields({"train": {}})  # no eval section: left out
    assert with_added_fields({"model": {}}, "gan")["model"]["updates"] == "alternating"
    assert with_added_fields({"model": {}}, "vae")["model"]["train_samples"] == 1
    assert with_added_fields({"model": {}}, "hmm")["model"] == {}
    assert with_added_fields({"model": {}}, "transformer")["model"] == {}


def test_an_old_and_a_new_record_of_one_run_share_a_table_row(tmp_path):
    old = make_record(seed=0)
    new = make_record(seed=1)
    new["config"] = with_added_fields(new["config"])
    for record in (old, new):
        (tmp_path / f"{record['run_id']}.json").write_text(json.dumps(record))
    records = read_records([tmp_path])
    assert all(r["config"]["train"]["cpu_dots"] == "ynnpack" for r in records)
    (row,) = aggregate(records)
    assert row.n == 2
