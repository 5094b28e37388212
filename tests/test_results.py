"""Records, tables and comparisons (no jax): atomic writes, schema, aggregation, formats."""

import copy
import csv
import io
import json
import math
import os
import re
import statistics
import subprocess
import sys

import pytest
from record_factory import make_record, strict_json

from genbench.errors import UsageError
from genbench.results import (
    aggregate,
    check_writable,
    compare,
    format_compare,
    format_table,
    load_schema,
    new_run_id,
    read_records,
    run_key,
    validate_record,
    write_record,
)
from genbench.results.compare import agreement_cell, metrics_agree
from genbench.results.table import Stat, default_columns, to_markdown

# --- records -------------------------------------------------------------------------------


def test_write_is_atomic_valid_and_never_overwrites(tmp_path):
    record = make_record()
    path = write_record(record, tmp_path / "out")
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert path.name == f"vae__ring8__s0__{record['run_id']}.json"
    loaded = strict_json(path.read_text())
    validate_record(loaded)
    assert loaded == record
    with pytest.raises(FileExistsError):
        write_record(record, path.parent)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_failed_write_leaves_no_temp_file(tmp_path, monkeypatch):
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_record(make_record(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_non_finite_numbers_are_written_as_null(tmp_path):
    record = make_record(status="failed", history=[{"step": 3, "loss": math.nan, "time": 0.1}])
    record["throughput"] = {"step_ms": math.inf}
    loaded = strict_json(write_record(record, tmp_path).read_text())
    assert loaded["history"][0]["loss"] is None and loaded["throughput"]["step_ms"] is None
    validate_record(loaded)


def test_schema_is_draft_2020_12_and_rejects_broken_records():
    assert load_schema()["$schema"].endswith("/2020-12/schema")
    validate_record(make_record(env={**make_record()["env"], "cpu_count": 8}))
    validate_record(make_record(history=[{"step": 1, "loss": None, "time": 0, "loss_enc": 1.0}]))
    bad = {
        "estimators/nll": lambda r: r["estimators"].__setitem__("nll", "guess"),
        "(record)": lambda r: r.pop("metrics"),
        "env/device_count": lambda r: r["env"].__setitem__("device_count", 0),
        "env/jax": lambda r: r["env"].__setitem__("jax", 7),
        "created_at": lambda r: r.__setitem__("created_at", "yesterday"),
        "config": lambda r: r["config"].pop("eval"),
        "error": lambda r: r.__setitem__("error", {"type": "X", "message": "y"}),  # ok + error
        "history/0/loss": lambda r: r["history"][0].__setitem__("loss", "high"),
        "metrics/nll": lambda r: r["metrics"].__setitem__("nll", "1.0"),
    }
    for where, breaks in bad.items():
        record = make_record()
        breaks(record)
        with pytest.raises(UsageError, match=f"^invalid record at {re.escape(where)}: ") as caught:
            validate_record(record)
        assert "\n" not in str(caught.value)
    with pytest.raises(UsageError, match="at error"):
        validate_record(make_record(status="failed", error=None))


def test_reader_skips_temp_hidden_and_manifest_files(tmp_path):
    path = write_record(make_record(), tmp_path)
    (tmp_path / ".tmp-abc.part").write_text('{"run_key": ')
    (tmp_path / ".tmp-xyz.json").write_text('{"run_key": ')
    (tmp_path / ".hidden.json").write_text("{")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "r.json").write_text("{")
    (tmp_path / "suite.json").write_text('{"suite": "x", "runs": 3}')
    (tmp_path / "notes.txt").write_text("not json")
    sub = tmp_path / "seed1"
    sub.mkdir()
    write_record(make_record(seed=1), sub)
    records = read_records([tmp_path])
    assert sorted(r["seed"] for r in records) == [0, 1]
    assert len(read_records([tmp_path, path])) == 2  # a file named twice is read once
    assert len(read_records([path])) == 1


def test_reader_refuses_truncated_and_non_records(tmp_path):
    full = json.dumps(make_record())
    (tmp_path / "broken.json").write_text(full[: len(full) // 2])
    with pytest.raises(UsageError, match=r"broken\.json is not a valid record \(truncated"):
        read_records([tmp_path])
    (tmp_path / "broken.json").write_text(json.dumps({"schema_version": 1, "model": "vae"}))
    with pytest.raises(UsageError, match=r"broken\.json is not a valid record: field 'run_key'"):
        read_records([tmp_path])
    (tmp_path / "broken.json").write_text(json.dumps(make_record(schema_version=99)))
    with pytest.raises(UsageError, match="schema_version 99"):
        read_records([tmp_path])
    (tmp_path / "broken.json").write_text(json.dumps({**make_record(), "metrics": {"nll": "x"}}))
    with pytest.raises(UsageError, match=r"not a valid record: field 'metrics/nll': 'x' is not"):
        read_records([tmp_path])
    (tmp_path / "broken.json").write_text(json.dumps({**make_record(), "extra": 1}))
    with pytest.raises(UsageError, match=r"not a valid record: .*'extra' was unexpected"):
        read_records([tmp_path])
    env = {k: v for k, v in make_record()["env"].items() if k != "backend"}
    (tmp_path / "broken.json").write_text(json.dumps(make_record(env=env)))
    with pytest.raises(UsageError, match=r"not a valid record: field 'env/backend' is missing$"):
        read_records([tmp_path])


def test_reader_refuses_missing_and_empty_paths(tmp_path):
    with pytest.raises(UsageError, match="no such results file or directory"):
        read_records([tmp_path / "nowhere"])
    (tmp_path / "suite.json").write_text("{}")
    with pytest.raises(UsageError, match="no records found in"):
        read_records([tmp_path])


def test_run_key_is_stable_and_discriminating():
    config = {"b": 1, "a": {"y": 2, "x": 3}}
    same = run_key("vae", "d", "1", {"a": {"x": 3, "y": 2}, "b": 1}, 0)
    assert run_key("vae", "d", "1", config, 0) == same
    assert len(same) == 16 and int(same, 16) >= 0
    assert run_key("vae", "d", "1", config, 1) != same
    assert run_key("vae", "d", "2", config, 0) != same
    assert run_key("vae", "e", "1", config, 0) != same
    assert run_key("gmm", "d", "1", config, 0) != same
    assert run_key("vae", "d", "1", {**config, "b": 2}, 0) != same
    assert run_key("vae", "d", "1", {**config, "a": {"x": 3, "y": 2.5}}, 0) != same


def test_run_ids_are_unique():
    assert len({new_run_id() for _ in range(2000)}) == 2000


def test_check_writable_refuses_a_path_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="^output directory .* is not writable: "):
        check_writable(blocker / "sub")
    with pytest.raises(UsageError, match="is not writable"):
        check_writable(blocker)
    made = check_writable(tmp_path / "new" / "dir")
    assert made.is_dir() and list(made.iterdir()) == []


def test_importing_results_imports_no_jax():
    code = (
        "import sys, genbench.results;"
        "print([m for m in ('jax', 'flax', 'numpy', 'jsonschema') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- tables --------------------------------------------------------------------------------


def squeeze(md: str) -> str:
    """A padded Markdown table with one space each side of every cell, to match rows in."""
    return re.sub(r" +\|", " |", re.sub(r"\| +", "| ", md))


def test_aggregate_over_seeds_counts_failures():
    nlls = [1.0, 1.5, 2.5]
    records = [make_record(seed=s, nll=v) for s, v in enumerate(nlls)]
    records.append(make_record(seed=3, status="failed"))
    (row,) = aggregate(records)
    stat = row.values["nll [iwae_k10]"]
    assert stat.n == 3 and row.n == 3 and row.n_failed == 1
    assert stat.mean == pytest.approx(statistics.mean(nlls))
    assert stat.std == pytest.approx(statistics.stdev(nlls))
    elbo = row.values["elbo"]  # an ELBO named elbo needs no estimator tag
    assert elbo.mean == pytest.approx(statistics.mean([-v - 0.5 for v in nlls]))
    assert row.values["step_ms"].std == 0.0 and "step_ms" in row.throughput
    (single,) = aggregate([make_record()])
    assert single.values["nll [iwae_k10]"] == type(stat)(1.0, 0.0, 1)


def test_all_failed_group_is_shown_not_hidden():
    (row,) = aggregate([make_record(status="failed"), make_record(seed=1, status="failed")])
    assert (row.n, row.n_failed, row.values) == (0, 2, {})
    md = format_table([row], "md")
    assert "### ring8 (cpu)" in md and "| vae | default | 0 (2 failed) |" in squeeze(md)


def test_groups_split_by_backend_and_config_with_telling_variants():
    rows = aggregate([make_record(lr=1e-3), make_record(lr=1e-2), make_record(backend="gpu")])
    labels = [(r.backend, r.variant) for r in rows]
    assert sorted(labels) == [
        ("cpu", "default train.lr=0.001"),
        ("cpu", "default train.lr=0.01"),
        ("gpu", "default"),
    ]
    (preset,) = aggregate([make_record(preset="tiny")])
    assert preset.variant == "tiny"


def test_estimators_mark_bounds_and_never_share_a_column():
    exact = make_record(lr=0.5, estimators={"nll": "exact"})
    rows = aggregate([make_record(), exact])
    columns = {name for row in rows for name in row.values}
    assert {"nll", "nll [iwae_k10]"} <= columns
    md = format_table(rows, "md")
    assert "| nll | nll [iwae_k10] |" in md


def test_metrics_selects_and_orders_columns():
    rows = aggregate([make_record(), make_record(seed=1)], metrics=["step_ms", "elbo"])
    assert set(rows[0].values) == {"step_ms", "elbo"}
    assert squeeze(format_table(rows, "md")).splitlines()[2].endswith("| n | step_ms | elbo |")


def test_table_formats_show_mean_std_and_n():
    records = [make_record(seed=s, nll=v) for s, v in enumerate([1.0, 2.0])]
    records.append(make_record(seed=9, status="failed"))
    records.append(make_record(lr=0.5, metrics={"nll": 3.0}, estimators={"nll": "iwae_k10"}))
    rows = aggregate(records)
    md = squeeze(format_table(rows, "md"))
    assert md.splitlines()[0].startswith("### ring8 (cpu): ± is the standard deviation")
    # The headline columns of the dataset (elbo is not one of them; --all shows it).
    assert md.splitlines()[2] == "| model | variant | n | nll [iwae_k10] | step_ms |"
    # Rounded to two significant digits of the s.d., the mean to the same decimal.
    assert "| vae | default train.lr=0.001 | 2 (1 failed) | 1.50 ± 0.71 | 2 |" in md
    assert "| 1 | 3 | 2 |" in md  # one seed: no ±
    assert "nll_se" not in md and "elbo" not in md
    everything = squeeze(to_markdown(rows, default_columns(rows, "md")))
    assert "| n | nll [iwae_k10] | elbo | step_ms |" in everything
    assert "| 1 | 3 | – | 2 |" in everything  # a missing elbo: a dash
    table = list(csv.DictReader(io.StringIO(format_table(rows, "csv"))))
    assert float(table[0]["nll [iwae_k10]_mean"]) == pytest.approx(1.5)
    assert float(table[0]["nll [iwae_k10]_std"]) == pytest.approx(statistics.stdev([1.0, 2.0]))
    assert table[0]["nll [iwae_k10]_n"] == "2" and table[0]["n_failed"] == "1"
    assert table[0]["nll_se_mean"] == "0.1" and table[1]["elbo_mean"] == ""
    latex = format_table(rows, "latex")
    assert "$1.50 \\pm 0.71$" in latex and "\\toprule" in latex and "\\bottomrule" in latex
    assert "nll [iwae\\_k10]" in latex and "step\\_ms" in latex and "nll\\_se" not in latex
    assert "default train.lr=0.5 & cpu & 1 & 3 & – & 2 \\\\" in latex
    with pytest.raises(UsageError, match="allowed: csv, latex, md"):
        format_table(rows, "xlsx")


def test_table_cells_are_escaped():
    config = copy.deepcopy(make_record()["config"])
    config["model"]["act"] = "a|b_c"
    rows = aggregate([make_record(), make_record(config=config)])
    assert "model.act=a\\|b_c" in format_table(rows, "md")
    assert "model.act=a|b\\_c" in format_table(rows, "latex")


# --- compare -------------------------------------------------------------------------------


def test_compare_lines_up_backends_with_ratios():
    cpu = [make_record(seed=s) for s in range(2)]
    gpu = [make_record(seed=s, backend="gpu") for s in range(2)]
    (row,) = compare(cpu, gpu)
    assert row.a.backend == "cpu" and row.b.backend == "gpu"
    assert row.mean("a", "step_ms") == 2.0 and row.mean("b", "step_ms") == 0.5
    assert row.ratio("step_ms") == pytest.approx(0.25)
    text = squeeze(format_compare([row], "md", "cpu", "gpu"))
    assert "### ring8: cells A → B (×B/A)" in text and "A = cpu, B = gpu" in text
    assert "| metrics agree | nll [iwae_k10] | step_ms |" in text
    assert "| vae | default | cpu/gpu | 2/2 | all 2 | 1 → 1 (×1) | 2 → 0.5 (×0.25) |" in text
    latex = format_compare([row], "latex", "cpu", "gpu")
    assert "step\\_ms B/A" in latex and "& 2 & 0.5 & 0.25 \\\\" in latex


def test_compare_lists_one_sided_groups_with_missing_values():
    cpu = [make_record(seed=s) for s in range(2)]
    rows = compare(cpu, [make_record(lr=0.5)])
    assert len(rows) == 2 and {r.a is None for r in rows} == {True, False}
    assert all(r.ratio("step_ms") is None for r in rows)
    assert sorted(r.variant for r in rows) == ["default train.lr=0.001", "default train.lr=0.5"]
    text = squeeze(format_compare(rows, "md"))
    assert "| default train.lr=0.001 | cpu/– | 2/– | – | 1 → – | 2 → – |" in text
    assert "| default train.lr=0.5 | –/cpu | –/1 | – | – → 1 | – → 2 |" in text
    table = list(csv.DictReader(io.StringIO(format_compare(rows, "csv"))))
    assert {t["step_ms B/A"] for t in table} == {""}


def test_compare_csv_survives_commas_and_pairs_backends_on_one_side():
    config = copy.deepcopy(make_record()["config"])
    config["model"]["hidden"] = [64, 64]
    a = [make_record(config=config), make_record(config=config, backend="gpu")]
    b = [make_record(config=config, backend="gpu", throughput={"step_ms": 0.25})]
    rows = compare(a, b, metrics=["step_ms"])
    assert [(r.a.backend, r.b and r.b.backend) for r in rows] == [("cpu", None), ("gpu", "gpu")]
    table = list(csv.DictReader(io.StringIO(format_compare(rows, "csv"))))
    assert list(table[0])[:5] == ["model", "dataset", "variant", "metrics agree", "step_ms A"]
    assert float(table[1]["step_ms B/A"]) == pytest.approx(0.5)
    with pytest.raises(UsageError, match="allowed: csv, latex, md"):
        format_compare(rows, "html")


def test_published_numbers_sit_beside_the_suites_own(tmp_path):
    from genbench.results.table import published_rows
    from genbench.spec import load_published

    entries = load_published("gan2d")
    labels = {(e["dataset"], e["label"]) for e in entries}
    assert {("ring8", "GAN"), ("ring8", "PacGAN2"), ("grid25", "PacGAN4")} <= labels
    rows = published_rows(entries)
    ring_gan = next(r for r in rows if r.dataset == "ring8" and r.variant.startswith("GAN "))
    assert ring_gan.backend == "published"
    assert ring_gan.values["modes_captured"].mean == pytest.approx(6.3)
    assert ring_gan.values["high_quality_frac"].mean == pytest.approx(0.982)
    assert ring_gan.values["reverse_kl_modes"].mean == pytest.approx(0.45)
    table = format_table(rows, "md")
    assert "| gan | PacGAN2 (PacGAN Table 1) | – |" in squeeze(table)
    assert "7.90 ± 0.10" in table


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        (
            'model = "gan"\ndataset = "ring8"\nlabel = "x"\nsource = "y"\nmetrics = { a = "z" }',
            "a number",
        ),
        ('model = "gan"\ndataset = "ring8"\nlabel = "x"\nmetrics = { a = 1 }', "needs"),
        ('model = "gan"\nwho = 1', "unknown field"),
    ],
    ids=["non-numeric", "missing-source", "unknown-key"],
)
def test_bad_published_entries_are_refused(tmp_path, entry, fragment):
    from genbench.spec import load_published

    path = tmp_path / "s.toml"
    path.write_text(
        '[[run]]\nmodel = "vae"\ndataset = "ring8"\n\n[[published]]\n' + entry + "\n",
        encoding="utf-8",
    )
    with pytest.raises(UsageError, match=fragment):
        load_published(str(path))


def test_compare_says_which_metrics_agree_between_backends():
    cpu = [make_record(seed=s, nll=1.0 + 0.1 * s) for s in range(4)]
    same = [make_record(seed=s, nll=1.003 + 0.1 * s, backend="gpu") for s in range(4)]
    (row,) = compare(cpu, same)
    total, differ = row.disagreeing()
    assert total >= 2 and differ == []  # step_ms differs 4x but is throughput, not a metric
    assert agreement_cell(row) == f"all {total}"
    shifted = [make_record(seed=s, nll=2.0 + 0.1 * s, backend="gpu") for s in range(4)]
    (row,) = compare(cpu, shifted)
    assert "nll [iwae_k10]" in row.disagreeing()[1]
    assert "differ: " in agreement_cell(row) and "nll [iwae_k10]" in agreement_cell(row)


@pytest.mark.parametrize(
    ("a", "b", "agree"),
    [
        (Stat(100.0, 0.0, 1), Stat(101.9, 0.0, 1), True),  # within 2 %
        (Stat(100.0, 0.0, 1), Stat(103.0, 0.0, 1), False),
        (Stat(1.0, 0.3, 4), Stat(1.5, 0.3, 4), True),  # 0.5 < 3 * hypot(0.15, 0.15)
        (Stat(1.0, 0.02, 4), Stat(1.5, 0.02, 4), False),
    ],
)
def test_metrics_agree_within_two_percent_or_three_standard_errors(a, b, agree):
    assert metrics_agree(a, b) is agree
