"""``genbench reproduce`` end to end on the README's worked example (two tiny runs), then
``--report-only`` against those records: the table, the CSV, the three verdicts, bad input."""

import csv
import io
import json
import re
from pathlib import Path

import pytest

from genbench.cli import main
from genbench.reproduce import CSV_COLUMNS, load

ROOT = Path(__file__).resolve().parents[1]
ENTROPY = -4.2935  # log 8 + log(2 pi e 0.01^2): the example's published value


def readme_example() -> str:
    """The ``toml`` block of the README's section on reproductions."""
    section = (ROOT / "README.md").read_text().split("## Reproducing published tables", 1)[1]
    return re.search(r"```toml\n(.*?)```", section, re.S)[1]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The README's example, run once: (its file, its --out, the CSV run's captured output)."""
    base = tmp_path_factory.mktemp("reproduce")
    path = base / "entropy.toml"
    path.write_text(readme_example())
    out = base / "out"
    capture = io.StringIO()
    import contextlib

    errors = io.StringIO()
    with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(errors):
        status = main(["reproduce", str(path), "--out", str(out), "--format", "csv"])
    return path, out, status, capture.getvalue(), errors.getvalue()


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_readme_example_runs_and_matches(example):
    path, out, status, stdout, stderr = example
    assert status == 0, stderr
    assert stdout.splitlines()[0] == ",".join(CSV_COLUMNS)  # stdout is the CSV alone
    (row,) = _rows(stdout)
    assert row["reproduction"] == "entropy" and row["metric"] == "entropy_source"
    assert int(row["n"]) == 2 and float(row["paper"]) == ENTROPY and float(row["paper_se"]) == 0
    assert abs(float(row["ours"]) - ENTROPY) < 0.02 and row["verdict"] == "match"
    assert stderr.rstrip().splitlines()[-1] == "1 of 1 cells match"
    records = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert sorted(r["seed"] for r in records) == [0, 1]
    assert {r["suite"] for r in records} == {"entropy"}
    saved = (out / "reproduction.md").read_text()  # the run leaves its table beside its records
    assert "| ring8 source | entropy_source |" in saved and saved.endswith("1 of 1 cells match\n")
    (line,) = [line for line in saved.splitlines() if line.startswith("| ring8 source |")]
    assert re.search(r"\| 2 \| s0 -4\.\d+, s1 -4\.\d+ \|", line)  # each trial by seed


def _with_rows(base: Path, name: str, rows: list[tuple[str, str]]) -> str:
    """The README's example with its row repeated, once per (row name, cell), as ``name.toml``."""
    text = readme_example()
    row = text[text.index("[[row]]") : text.index("[quick]")]
    cells = re.search(r"cells = \[.*\]", row)[0]
    new_rows = [
        row.replace('"ring8 source"', f'"{row_name}"').replace(cells, f"cells = [ {cell} ]")
        for row_name, cell in rows
    ]
    path = base / f"{name}.toml"
    path.write_text(text.replace(row, "".join(new_rows)))
    return str(path)


def _report(capsys, *argv) -> tuple[int, str, str]:
    status = main(["reproduce", *argv, "--report-only"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_report_only_gives_match_inconclusive_and_differs(example, tmp_path, capsys):
    _, out, _, stdout, _ = example
    (ran,) = _rows(stdout)
    ours, ours_se = float(ran["ours"]), float(ran["ours_se"])
    assert ours_se > 0
    # inconclusive: the paper's value is ours exactly, its s.e. a tenth of ours
    inconclusive = (
        f'{{ metric = "entropy_source", value = {ours!r}, pm = {ours_se / 10!r}, n = 10 }}'
    )
    differs = '{ metric = "entropy_source", value = -3.0, pm = 0.01, n = 10 }'
    match = f'{{ metric = "entropy_source", value = {ENTROPY}, n = 1, tolerance = 0.02 }}'
    three = _with_rows(
        tmp_path,
        "three",
        [("match", match), ("inconclusive", inconclusive), ("differs", differs)],
    )
    status, csv_text, err = _report(capsys, three, "--out", str(out), "--format", "csv")
    assert status == 0, err
    verdicts = {r["row"]: r["verdict"] for r in _rows(csv_text)}
    assert verdicts == {"match": "match", "inconclusive": "inconclusive", "differs": "differs"}
    assert err.rstrip().splitlines()[-1] == "1 of 3 cells match"
    status, md, _ = _report(capsys, three, "--out", str(out))
    lines = md.rstrip().splitlines()
    assert lines[-1] == "1 of 3 cells match"
    (incon,) = [line for line in lines if line.startswith("| inconclusive |")]
    assert re.search(r"(\d+) trials would settle it", incon)
    assert int(re.search(r"(\d+) trials would settle it", incon)[1]) >= 2 * 10**2 // 4
    assert "| differs |" in md and "ours (± s.e.)" in md
    status, latex, _ = _report(capsys, three, "--out", str(out), "--format", "latex")
    assert "\\begin{tabular}" in latex and latex.rstrip().endswith("% 1 of 3 cells match")


def test_a_row_marked_not_reproducible_gives_its_reason_once_and_is_counted(
    example, tmp_path, capsys
):
    _, out, *_ = example
    one_cell = f'{{ metric = "entropy_source", value = {ENTROPY}, n = 1, tolerance = 0.02 }}'
    two_cells = f'{one_cell}, {{ metric = "nll", value = -1.0, pm = 0.1, n = 10 }}'
    path = Path(_with_rows(tmp_path, "marked", [("ran", one_cell), ("too long", two_cells)]))
    text = path.read_text()
    second = text.index('name = "too long"')
    reason = "needs 10x the steps: see the curve"
    marked = text[:second] + f'not_reproducible = "{reason}"\n' + text[second:]
    path.write_text(marked)
    status, md, err = _report(capsys, str(path), "--out", str(out))
    assert status == 0, err
    lines = md.rstrip().splitlines()
    assert lines[-1] == "1 of 3 cells match (2 not reproducible here)"
    too_long = [line for line in lines if line.startswith("| too long |")]
    assert len(too_long) == 2 and sum(reason in line for line in too_long) == 1
    assert all(" – | 0 |" in line for line in too_long)  # no value, no trials


def test_a_cell_marked_not_reproducible_is_still_judged_and_counted_unless_it_matches(
    example, tmp_path, capsys
):
    _, out, *_ = example
    reason = "needs the paper's 400,000 steps: see the curve"
    far = (
        f'{{ metric = "entropy_source", value = -3.0, pm = 0.01, n = 10, '
        f'not_reproducible = "{reason}" }}'
    )
    near = (
        f'{{ metric = "entropy_source", value = {ENTROPY}, n = 1, tolerance = 0.02, '
        f'not_reproducible = "{reason}" }}'
    )
    path = _with_rows(tmp_path, "cells", [("far", far), ("near", near)])
    status, csv_text, err = _report(capsys, path, "--out", str(out), "--format", "csv")
    assert status == 0, err
    rows = {r["row"]: r for r in _rows(csv_text)}
    assert rows["far"]["verdict"] == "differs" and rows["far"]["ours"]  # judged, with our value
    assert rows["near"]["verdict"] == "match"
    assert err.rstrip().splitlines()[-1] == "1 of 2 cells match (1 not reproducible here)"
    _, md, _ = _report(capsys, path, "--out", str(out))
    (far_line,) = [line for line in md.splitlines() if line.startswith("| far |")]
    (near_line,) = [line for line in md.splitlines() if line.startswith("| near |")]
    assert "| differs |" in far_line and f"not reproducible here: {reason}" in far_line
    assert reason not in near_line  # a marked cell that matches needs no excuse


def test_report_only_matches_by_overrides_not_run_key(example, tmp_path, capsys):
    path, out, *_ = example
    copy = tmp_path / "copy"
    copy.mkdir()
    records = sorted(out.glob("*.json"))
    for i, file in enumerate(records):
        record = json.loads(file.read_text())
        record["run_key"] = f"{i + 1:016x}"  # another revision's key
        record["config"]["train"]["lr"] = 0.5  # a default the file does not pin
        if i == 1:
            record["config"]["eval"]["source_samples"] = 7  # a value the file pins
        (copy / file.name).write_text(json.dumps(record))
    status, csv_text, _ = _report(capsys, str(path), "--out", str(copy), "--format", "csv")
    assert status == 0
    (row,) = _rows(csv_text)
    assert row["n"] == "1"  # the record whose pinned value differs is not the row's


def test_report_only_on_a_directory_without_records_is_bad_input(example, tmp_path, capsys):
    path = example[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (empty, tmp_path / "missing"):
        status, out, err = _report(capsys, str(path), "--out", str(target))
        assert status == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and err.startswith("genbench: error: ")
    assert not any(empty.iterdir()) and not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["nope"], "unknown reproduction 'nope'"),
        (["pacgan-table1", "--seeds", "0"], "--seeds=0 must be >= 1"),
        (["pacgan-table1", "--format", "html"], "invalid choice"),
        (["pacgan-table1", "--set", "train.lr=1e-3"], "a reproduction's settings are its file's"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, fragment, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reproduce", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and fragment in err
    assert not out.exists()


def test_malformed_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(readme_example().replace("trials = 2", "trials = -1"))
    out = tmp_path / "out"
    assert main(["reproduce", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip()
        == f"genbench: error: reproduction file {bad}: top level.trials must be > 0, got -1"
    )
    assert not out.exists()


def test_list_reproductions(capsys):
    assert main(["list", "reproductions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "reproductions:"
    names = {line.split()[0] for line in lines[1:]}
    assert {"pacgan-table1", "pacgan-table1-cpu"} <= names
    for line in lines[1:]:
        name = line.split()[0]
        assert line.startswith(f"  {name}") and load(name).description in line
