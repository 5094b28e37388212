"""``genbench suite --executor local``: one submitit job per run, records in --out, resumable."""

import importlib.util

import pytest
from tiny_suites import TINY_DEFAULTS

from genbench.cli import main
from genbench.results import read_records
from genbench.spec import load_suite

TWO_SEEDS = (
    """
description = "one tiny run, two seeds: two jobs"
seeds = 2
"""
    + TINY_DEFAULTS
)


needs_submitit = pytest.mark.skipif(
    importlib.util.find_spec("submitit") is None,
    reason="submitit is not installed (pip install 'genbench[cluster]')",
)


def _suite(tmp_path) -> str:
    path = tmp_path / "two.toml"
    path.write_text(TWO_SEEDS)
    return str(path)


@needs_submitit
def test_local_executor_runs_one_job_per_run_and_resumes(tmp_path, capsys):
    suite, out = _suite(tmp_path), tmp_path / "out"
    argv = ["suite", suite, "--out", str(out), "--executor", "local", "--cpu-devices", "1"]
    assert main([*argv, "--parallel", "2"]) == 0
    printed = capsys.readouterr().out
    assert "2 runs (0 skipped), 0 failed" in printed

    records = read_records([out])
    expected = {spec.run_key for spec in load_suite(suite)}
    assert {r["run_key"] for r in records} == expected and len(records) == 2
    assert all(r["status"] == "ok" and r["env"]["device_count"] == 1 for r in records)
    assert (out / "table.md").read_text() in printed
    logs = out / ".submitit"
    job_logs = sorted(logs.glob("*_log.out"))
    assert len(job_logs) == 2  # one job per run

    assert main([*argv, "--resume"]) == 0
    assert "0 runs (2 skipped), 0 failed" in capsys.readouterr().out
    assert sorted(logs.glob("*_log.out")) == job_logs  # no new job
    assert len(read_records([out])) == 2


@needs_submitit
def test_a_job_that_dies_is_a_failed_run_and_the_suite_goes_on(tmp_path, capsys, monkeypatch):
    """A job killed (out of memory, by its time limit) leaves no record; the suite says so."""
    from genbench import executors

    def killed(*args):  # a local function: cloudpickle sends it by value to the job
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(executors, "run_job", killed)
    # submitit waits for a missing result file (a slow shared filesystem); not here
    monkeypatch.setattr("submitit.core.core.Job._results_timeout_s", 1)
    suite, out = _suite(tmp_path), tmp_path / "out"
    assert main(["suite", suite, "--out", str(out), "--executor", "local", "--parallel", "2"]) == 1
    printed = capsys.readouterr().out
    assert printed.count("FAILED job") == 2 and "2 runs (0 skipped), 2 failed" in printed
    assert "_log.err" in printed  # the line names the job's log
    assert not list(out.glob("*.json"))


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--executor", "local", "--parallel", "0"], "--parallel=0 must be >= 1"),
        (["--executor", "local", "--job-timeout-min", "0"], "--job-timeout-min=0"),
        (["--executor", "local", "--distributed"], "drop --distributed"),
        (["--executor", "slurm", "--slurm-gpus", "-1"], "--slurm-gpus=-1 must be >= 0"),
        (["--executor", "k8s"], "invalid choice"),
    ],
)
def test_bad_executor_options_are_one_line_and_exit_2(argv, fragment, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["suite", _suite(tmp_path), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genbench: error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert not out.exists()


def test_executor_without_submitit_names_the_extra(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "submitit" else real(name, *a)
    )
    out = tmp_path / "out"
    assert main(["suite", _suite(tmp_path), "--out", str(out), "--executor", "local"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'genbench[cluster]'" in err, err
    assert not out.exists()


@needs_submitit
def test_slurm_executor_without_slurm_is_one_line(tmp_path, capsys):
    import shutil

    if shutil.which("srun"):
        pytest.skip("this machine has SLURM")
    out = tmp_path / "out"
    assert main(["suite", _suite(tmp_path), "--out", str(out), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--executor slurm:" in err and "srun" in err, err
