"""Records, tables and comparisons (no jax): atomic writes, schema, aggregation, formats."""

import copy
import json
import statistics

import pytest

from genbench.errors import UsageError
from genbench.results import (
    aggregate,
    check_writable,
    compare,
    format_compare,
    format_table,
    read_records,
    run_key,
    validate_record,
    write_record,
)
from genbench.results.records import new_run_id


def make_record(seed=0, nll=1.0, backend="cpu", lr=1e-3, status="ok", **extra):
    config = {
        "model": {"latent_dim": 2},
        "data": {},
        "eval": {"nll_k": 10},
        "train": {"steps": 10, "batch_size": 4, "inner_steps": 1, "fit": "gradient", "lr": lr},
    }
    record = {
        "schema_version": 1,
        "run_key": run_key("vae", "ring8", "1", config, seed),
        "run_id": new_run_id(),
        "created_at": "2026-11-24T00:00:00+00:00",
        "status": status,
        "error": None
        if status == "ok"
        else {"type": "NonFiniteError", "message": "nan", "step": 3, "group": "params"},
        "model": "vae",
        "dataset": "ring8",
        "dataset_version": "1",
        "preset": None,
        "seed": seed,
        "suite": None,
        "config": config,
        "estimators": {"nll": "iwae_k10", "elbo": "elbo"},
        "env": {
            "backend": backend,
            "device_kind": "cpu",
            "device_count": 1,
            "process_count": 1,
            "python": "3.11",
            "jax": "0",
            "jaxlib": "0",
            "flax": "0",
            "optax": "0",
            "genbench": "0",
            "git_revision": None,
        },
        "metrics": {"nll": nll, "nll_se": 0.1, "elbo": -nll - 0.5} if status == "ok" else {},
        "throughput": {"step_ms": 2.0 if backend == "cpu" else 0.5},
        "history": [{"step": 10, "loss": 1.0, "time": 0.1}],
    }
    record.update(extra)
    return record


def test_write_is_atomic_valid_and_never_overwrites(tmp_path):
    record = make_record()
    path = write_record(record, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    loaded = json.loads(path.read_text())
    validate_record(loaded)
    assert loaded == record
    with pytest.raises(FileExistsError):
        write_record(record, tmp_path)


def test_schema_rejects_a_broken_record():
    record = make_record()
    record["estimators"]["nll"] = "guess"
    with pytest.raises(UsageError, match="estimators/nll"):
        validate_record(record)
    del record["metrics"]
    with pytest.raises(UsageError):
        validate_record(record)


def test_reader_skips_temp_and_hidden_files_and_refuses_truncated_ones(tmp_path):
    write_record(make_record(), tmp_path)
    (tmp_path / ".tmp-abc.part").write_text('{"run_key": ')
    (tmp_path / ".hidden.json").write_text("{")
    (tmp_path / "manifest.json").write_text('{"suite": "x"}')
    assert len(read_records([tmp_path])) == 1
    (tmp_path / "broken.json").write_text('{"run_key": "ab')
    with pytest.raises(UsageError, match="broken.json is not a valid record"):
        read_records([tmp_path])


def test_run_key_is_stable_and_discriminating():
    config = {"b": 1, "a": {"y": 2, "x": 3}}
    same = run_key("vae", "d", "1", {"a": {"x": 3, "y": 2}, "b": 1}, 0)
    assert run_key("vae", "d", "1", config, 0) == same
    assert run_key("vae", "d", "1", config, 1) != same
    assert run_key("vae", "d", "2", config, 0) != same
    assert run_key("vae", "d", "1", {**config, "b": 2}, 0) != same


def test_aggregate_over_seeds_counts_failures():
    nlls = [1.0, 1.5, 2.5]
    records = [make_record(seed=s, nll=v) for s, v in enumerate(nlls)]
    records.append(make_record(seed=3, status="failed"))
    (row,) = aggregate(records)
    stat = row.values["nll [iwae_k10]"]
    assert stat.n == 3 and row.n == 3 and row.n_failed == 1
    assert stat.mean == pytest.approx(statistics.fmean(nlls))
    assert stat.std == pytest.approx(statistics.stdev(nlls))
    assert "elbo" in row.values  # an ELBO named elbo needs no estimator tag


def test_groups_with_different_configs_get_telling_variants():
    rows = aggregate([make_record(lr=1e-3), make_record(lr=1e-2)])
    assert sorted(r.variant for r in rows) == ["default train.lr=0.001", "default train.lr=0.01"]


def test_table_formats_show_mean_std_and_n():
    records = [make_record(seed=s, nll=v) for s, v in enumerate([1.0, 2.0])]
    records.append(make_record(seed=9, status="failed"))
    rows = aggregate(records)
    md = format_table(rows, "md")
    assert "| vae | ring8 | default | cpu | 2 (1 failed) | 1.5 ± 0.7071 |" in md
    assert "nll_se" not in md
    csv = format_table(rows, "csv").splitlines()
    header, values = csv[0].split(","), csv[1].split(",")
    assert float(values[header.index("nll [iwae_k10]_mean")]) == pytest.approx(1.5)
    assert values[header.index("nll [iwae_k10]_n")] == "2"
    assert "nll_se_mean" in header
    latex = format_table(rows, "latex")
    assert "$1.5 \\pm 0.7071$" in latex and "\\toprule" in latex and "nll\\_se" not in latex
    with pytest.raises(UsageError, match="allowed: csv, latex, md"):
        format_table(rows, "xlsx")


def test_compare_lines_up_backends_with_ratios():
    cpu = [make_record(seed=s) for s in range(2)]
    gpu = [make_record(seed=s, backend="gpu") for s in range(2)]
    (row,) = compare(cpu, gpu)
    assert row.ratio("step_ms") == pytest.approx(0.25)
    text = format_compare([row], "md", "cpu", "gpu")
    assert "A = cpu, B = gpu" in text and "| 2 | 0.5 | 0.25 |" in text
    other = copy.deepcopy(make_record(lr=0.5))
    rows = compare(cpu, [other])
    assert len(rows) == 2 and {r.a is None for r in rows} == {True, False}


def test_check_writable_refuses_a_path_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="is not writable"):
        check_writable(blocker / "sub")
    assert check_writable(tmp_path / "new" / "dir").is_dir()
