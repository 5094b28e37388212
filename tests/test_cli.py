"""The command line: a bad-input battery (exit 2, one line, nothing written) and real runs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_suites import tiny_suite

from genbench.cli import main
from genbench.results import read_records, validate_record
from tests.subprocess_cli import run_genbench

FAST = [
    "--set",
    "train.inner_steps=10",
    "--set",
    "eval.nll_k=20",
    "--set",
    "eval.iwae_k=5",
    "--set",
    "eval.source_samples=200",
    "--set",
    "eval.timing_calls=3",
]


def _file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _bytes(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _data(path):
    return ["--set", f"data.path={path}", "--steps", "10"]


def _hmm_on_symbols(tmp_path, text, *extra):
    """argv of an HMM run on a file of symbol sequences."""
    path = _file(tmp_path, "s.csv", text)
    return ["run", "hmm", "file", *_data(path), "--set", "data.kind=sequence", *extra]


# Each case: an id, a function of tmp_path giving argv, and a fragment of the one-line error.
BAD_INPUTS = [
    ("unknown-model", lambda t: ["run", "vea", "ring8"], "unknown model 'vea'; allowed:"),
    ("unknown-dataset", lambda t: ["run", "vae", "mnst"], "unknown dataset 'mnst'; allowed:"),
    ("unknown-preset", lambda t: ["run", "vae", "ring8", "--preset", "huge"], "unknown preset"),
    ("unknown-key", lambda t: ["run", "vae", "ring8", "--set", "train.lrr=1"], "'lrr'"),
    ("unknown-section", lambda t: ["run", "vae", "ring8", "--set", "optim.lr=1"], "'optim'"),
    ("wrong-type", lambda t: ["run", "vae", "ring8", "--set", "train.lr=fast"], "must be float"),
    (
        "bad-choice",
        lambda t: ["run", "vae", "ring8", "--set", "model.activation=swish"],
        "allowed: gelu, relu, softplus, tanh",
    ),
    ("set-syntax", lambda t: ["run", "vae", "ring8", "--set", "train.lr"], "section.field=value"),
    (
        "inner-steps",
        lambda t: ["run", "vae", "ring8", "--steps", "15", "--set", "train.inner_steps=10"],
        "multiple of train.inner_steps",
    ),
    ("zero-steps", lambda t: ["run", "vae", "ring8", "--steps", "0"], "train.steps=0"),
    ("negative-seed", lambda t: ["run", "vae", "ring8", "--seed", "-1"], "seed=-1"),
    (
        "unwritable-out",
        lambda t: ["run", "vae", "ring8", "--out", _file(t, "f", "x") + "/sub"],
        "is not writable",
    ),
    ("cpu-devices", lambda t: ["run", "vae", "ring8", "--cpu-devices", "0"], "--cpu-devices=0"),
    ("subcommand", lambda t: ["train", "vae"], "invalid choice"),
    ("unknown-suite", lambda t: ["suite", "smok"], "unknown suite 'smok'"),
    ("suite-toml", lambda t: ["suite", _file(t, "s.toml", "[[run]\nmodel=")], "not valid TOML"),
    (
        "suite-field",
        lambda t: ["suite", _file(t, "s.toml", '[[run]]\nmodel="vae"\ndataset="ring8"\nsteps=3\n')],
        "unknown field 'steps'",
    ),
    (
        "suite-duplicate",
        lambda t: [
            "suite",
            _file(
                t,
                "s.toml",
                '[[run]]\nmodel="vae"\ndataset="ring8"\n[[run]]\nmodel="vae"\ndataset="ring8"\n',
            ),
        ],
        "duplicates",
    ),
    *(
        (
            f"suite-seeds-{index}",
            lambda t, v=value: [
                "suite",
                _file(t, "s.toml", f'[[run]]\nmodel="vae"\ndataset="ring8"\nseeds={v}\n'),
            ],
            "seeds must be a count >= 1 or a list of distinct seeds >= 0",
        )
        for index, value in enumerate(["0", '"2"', "[]", "[1, 1]", "[-1]", "[true]", "1.5"])
    ),
    (
        "suite-seeds-top",
        lambda t: [
            "suite",
            _file(t, "s.toml", 'seeds="3"\n[[run]]\nmodel="vae"\ndataset="ring8"\n'),
        ],
        "suite 's': seeds must be a count >= 1",
    ),
    ("table-missing", lambda t: ["table", str(t / "nowhere")], "no such results"),
    (
        "table-truncated",
        lambda t: ["table", str(Path(_file(t, "r.json", '{"run_key": "ab')).parent)],
        "truncated or corrupt",
    ),
    ("table-format", lambda t: ["table", str(t), "--format", "xlsx"], "invalid choice"),
    ("data-path-missing", lambda t: ["run", "vae", "file"], "data.path is required"),
    ("data-file-absent", lambda t: ["run", "vae", "file", *_data(t / "none.csv")], "not exist"),
    ("data-file-empty", lambda t: ["run", "vae", "file", *_data(_file(t, "e.csv", ""))], "empty"),
    (
        "data-not-utf8",
        lambda t: ["run", "vae", "file", *_data(_bytes(t, "b.csv", b"1,\xff\n"))],
        "not UTF-8",
    ),
    (
        "data-checksum",
        lambda t: [
            "run",
            "vae",
            "file",
            *_data(_file(t, "c.csv", "1,2\n3,4\n")),
            "--set",
            "data.sha256=" + "0" * 64,
        ],
        "does not match",
    ),
    (
        "data-suffix",
        lambda t: ["run", "vae", "file", *_data(_file(t, "d.json", "[1]"))],
        "allowed: .npy, .csv",
    ),
    ("shard-syntax", lambda t: ["suite", "smoke", "--shard", "4/4"], "must be I/N"),
    ("hmm-k", lambda t: ["run", "hmm", "casino", "--set", "model.num_states=-1"], "must be >= 1"),
    (
        "hmm-emissions",
        lambda t: ["run", "hmm", "digits", "--set", "model.emissions=categorical"],
        "needs a sequence dataset of symbols",
    ),
    (
        "symbols-out-of-range",
        lambda t: _hmm_on_symbols(t, "0,1,2\n1,2,0\n2,0,1\n", "--set", "data.levels=2"),
        "outside [0, data.levels=2)",
    ),
    (
        "symbols-not-integers",
        lambda t: _hmm_on_symbols(t, "0,1.5\n1,0\n0,0\n"),
        "not rows of non-negative integer symbols",
    ),
    (
        "bernoulli-not-binary",
        lambda t: ["run", "naive_bayes", "digits", "--set", "model.features=bernoulli"],
        "cannot model discrete",
    ),
    (
        "checkpoint-every",
        lambda t: [
            "run",
            "vae",
            "ring8",
            "--set",
            "train.inner_steps=10",
            "--steps",
            "20",
            "--set",
            "train.checkpoint_every=15",
        ],
        "train.checkpoint_every=15",
    ),
    (
        "text-not-utf8",
        lambda t: ["run", "hmm", "text", *_data(_bytes(t, "t.txt", b"ab\xffcd" * 40))],
        "not UTF-8",
    ),
    (
        "text-block-size",
        lambda t: [
            "run",
            "hmm",
            "text",
            *_data(_file(t, "t.txt", "abcdefghij" * 30)),
            "--set",
            "data.block_size=100",
        ],
        "data.block_size=100 needs windows of 101 characters",
    ),
    ("text-missing", lambda t: ["run", "hmm", "text", *_data(t / "none.txt")], "not exist"),
    (
        "smiles-missing",
        lambda t: ["run", "hmm", "smiles", *_data(t / "none.csv")],
        "not exist",
    ),
    (
        "markov-order",
        lambda t: ["run", "hmm", "markov", "--set", "data.order=-1"],
        "data.order >= 0",
    ),
]


@pytest.mark.parametrize(("case", "argv", "fragment"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(case, argv, fragment, tmp_path, capsys):
    out = tmp_path / "out"
    args = argv(tmp_path)
    if args[0] in ("run", "suite") and "--out" not in args:
        args += ["--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("genbench: error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("package", "argv"),
    [
        ("music21", ["run", "hmm", "chorales"]),
        ("rdkit", ["run", "hmm", "smiles", "--set", "data.rdkit_metrics=true"]),
    ],
)
def test_missing_optional_package_is_one_line_and_exit_2(package, argv, monkeypatch, capsys):
    """As if ``package`` were not installed (it is, in the test environment)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a)
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"pip install {package}" in err, err


def _genbench(*args, cwd, timeout=300):
    return run_genbench(*args, cwd=cwd, timeout=timeout)


def test_checks_run_before_jax_is_imported(tmp_path):
    code = (
        "import sys; from genbench.cli import main; rc = main(['run', 'vae', 'ring8', "
        "'--set', 'train.lr=x']); assert 'jax' not in sys.modules, 'jax imported'; "
        "sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "extra", "fragment"),
    [
        ("1,2\n3,x\n", [], "is not a numeric array"),
        ("0,1\n1,0.5\n1,1\n0,0\n0,1\n", ["--set", "data.kind=binary"], "values other than 0"),
        ("1,2\n", [], "too few to split"),
    ],
    ids=["non-numeric", "not-binary", "one-row"],
)
def test_bad_data_file_content_is_bad_input(tmp_path, content, extra, fragment):
    path = _file(tmp_path, "data.csv", content)
    done = _genbench(
        "run", "vae", "file", *_data(path), *extra, "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and fragment in done.stderr
    assert not any((tmp_path / "o").iterdir())


def test_model_that_cannot_model_the_data_is_bad_input(tmp_path):
    done = _genbench(
        "run",
        "vae",
        "digits",
        "--set",
        "model.decoder=bernoulli",
        "--steps",
        "10",
        "--out",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "cannot model discrete" in done.stderr
    assert not any((tmp_path / "o").iterdir())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    records = []
    for i in range(2):
        done = _genbench(
            "run",
            "vae",
            "ring8",
            "--steps",
            "40",
            "--seed",
            "3",
            "--cpu-devices",
            "4",
            "--set",
            "train.batch_size=64",
            *FAST,
            "--out",
            str(base / f"r{i}"),
            cwd=base,
        )
        assert done.returncode == 0, done.stderr
        records.append(read_records([base / f"r{i}"])[0])
    return base, records


def test_same_seed_gives_identical_metrics(two_runs):
    _, (a, b) = two_runs
    assert a["metrics"] == b["metrics"]
    assert a["run_key"] == b["run_key"] and a["run_id"] != b["run_id"]
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


def test_cli_record_is_valid_and_says_four_devices(two_runs):
    _, (record, _) = two_runs
    validate_record(record)
    assert record["env"]["device_count"] == 4
    if hasattr(os, "sched_getaffinity"):
        assert record["env"]["cpu_affinity"] == len(os.sched_getaffinity(0))
    assert record["status"] == "ok" and record["config"]["train"]["steps"] == 40
    assert record["estimators"]["kl_to_source"] == "iwae_k20"
    for name in (
        "compile_s",
        "step_ms",
        "train_examples_per_s",
        "eval_examples_per_s",
        "flops_per_step",
        "mfu",
        "hfu",
        "peak_memory_bytes",
    ):
        assert record["throughput"][name] > 0, name


def test_table_and_compare_commands(two_runs, capsys):
    base, _ = two_runs
    assert main(["table", str(base / "r0"), str(base / "r1")]) == 0
    table = capsys.readouterr().out
    assert "### ring8 (cpu)" in table and re.search(r"\| vae +\| default +\| 2\*? +\|", table)
    assert main(["compare", str(base / "r0"), str(base / "r1"), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header, row = lines[0].split(","), lines[1].split(",")
    assert float(row[header.index("elbo B/A")]) == pytest.approx(1.0)


def test_suite_writes_records_and_table_and_resumes(tmp_path):
    suite = tiny_suite(tmp_path)
    out = tmp_path / "suite"
    done = _genbench("suite", suite, "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = read_records([out])
    assert sorted(r["model"] for r in records) == ["autoencoder", "vae"]
    for record in records:
        validate_record(record)
        assert record["suite"] == "tiny"
    table = (out / "table.md").read_text()
    assert "### digits_binary (cpu)" in table and "| autoencoder |" in table
    again = _genbench("suite", suite, "--out", str(out), "--resume", cwd=tmp_path)
    assert again.returncode == 0 and "0 runs (2 skipped)" in again.stdout
    assert len(read_records([out])) == 2
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    assert json.loads(next(out.glob("vae*.json")).read_text())["dataset"] == "ring8"
