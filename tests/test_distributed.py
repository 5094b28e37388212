"""Multi-process data parallelism: two processes of two CPU devices train one model over four.

The two ``genbench run`` processes meet through ``jax.distributed`` on localhost;
their loss history must be that of one process with four devices (this test
process, see conftest), and only process 0 may write a record.
"""

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from subprocess_cli import TEST_XLA_FLAGS

from genbench.cli import main
from genbench.results import read_records

TINY_RUN = [
    "run",
    "vae",
    "ring8",
    "--seed",
    "3",
    "--steps",
    "20",
    "--set",
    "train.inner_steps=10",
    "--set",
    "eval.nll_k=10",
    "--set",
    "eval.iwae_k=2",
    "--set",
    "eval.source_samples=100",
    "--set",
    "eval.timing_calls=2",
    "--set",
    "eval.max_examples=100",
]
PROCESS_TIMEOUT_S = 300  # a hung peer waits for its partner; never let the suite hang


def _free_port() -> int:
    """A localhost port that was free a moment ago (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_processes(out, logs, count: int) -> list[tuple[subprocess.Popen, object]]:
    """``count`` ``genbench run`` processes of TINY_RUN joined through a localhost coordinator.

    Returns:
      (process, its log file, in ``logs``) pairs: a file, not a pipe, never fills and blocks.
    """
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env["XLA_FLAGS"] = TEST_XLA_FLAGS  # no device count: --cpu-devices decides
    coordinator = f"127.0.0.1:{_free_port()}"
    started = []
    for index in range(count):
        log = open(logs / f"process{index}.log", "w+")  # noqa: SIM115 (closed by _wait_all)
        argv = [*TINY_RUN, "--out", str(out), "--cpu-devices", "2", "--coordinator", coordinator]
        argv += ["--num-processes", str(count), "--process-id", str(index)]
        process = subprocess.Popen(
            [sys.executable, "-m", "genbench", *argv], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        started.append((process, log))
    return started


def _wait_all(started: list[tuple[subprocess.Popen, object]]) -> list[tuple[int, str]]:
    """Each process's (exit status, output).

    A process that fails leaves its peer waiting for it, and a hung pair never
    ends: once one fails or the time is up, the others are killed.
    """
    processes = [process for process, _ in started]
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            codes = [p.poll() for p in processes]
            if None not in codes or any(code not in (None, 0) for code in codes):
                break
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
            p.wait()
    results = []
    for process, log in started:
        log.seek(0)
        results.append((process.returncode, log.read()))
        log.close()
    return results


def _one_process_history(seed: int) -> list[dict]:
    """The loss history of TINY_RUN's fit in this process, over its four devices."""
    from genbench import runner
    from genbench.config import parse_assignments
    from genbench.data.view import data_view
    from genbench.spec import resolve
    from genbench.train.fits import FitJob, fit_model
    from genbench.train.mesh import data_mesh

    sets = [TINY_RUN[i + 1] for i, a in enumerate(TINY_RUN) if a == "--set"]
    spec = resolve("vae", "ring8", None, parse_assignments(sets) | {"train.steps": "20"}, seed)
    dataset, model = runner.build(spec)
    view = data_view(dataset, model.input_kind)
    mesh = data_mesh()
    assert mesh.size == 4
    job = FitJob(model, dataset, view, spec.config.train, seed, mesh)
    return fit_model(spec.config.train.fit, job).history


@pytest.mark.slow
def test_two_processes_train_like_one_process_and_only_process_0_writes(tmp_path):
    out = tmp_path / "out"
    processes = _start_processes(out, tmp_path, 2)
    try:
        expected = _one_process_history(seed=3)  # while the two processes work
    finally:
        results = _wait_all(processes)
    for index, (status, output) in enumerate(results):
        assert status == 0, f"process {index}:\n{output}"
    assert "record:" in results[0][1] and "record:" not in results[1][1]

    records = read_records([out])
    assert len(records) == 1  # process 1 wrote nothing
    record = records[0]
    assert record["env"]["process_count"] == 2 and record["env"]["device_count"] == 4
    assert [h["step"] for h in record["history"]] == [h["step"] for h in expected] == [10, 20]
    np.testing.assert_allclose(
        [h["loss"] for h in record["history"]], [h["loss"] for h in expected], rtol=1e-4
    )


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--coordinator", "127.0.0.1:1234"], "needs --num-processes and --process-id"),
        (["--num-processes", "2", "--process-id", "0"], "needs --coordinator"),
        (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"], "in 0..1"),
        (["--coordinator", "h:1", "--num-processes", "0", "--process-id", "0"], ">= 1"),
        (["--coordinator", "h", "--num-processes", "2", "--process-id", "0"], "HOST:PORT"),
        (["--coordinator", "h:99999", "--num-processes", "1", "--process-id", "0"], "HOST:PORT"),
    ],
)
@pytest.mark.parametrize("command", [["run", "vae", "ring8"], ["suite", "smoke"]])
def test_bad_process_options_are_one_line_and_exit_2(command, argv, fragment, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*command, *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genbench: error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert not out.exists()  # checked before the output directory is made


def test_distributed_without_a_cluster_is_one_line_and_exit_2(tmp_path):
    """A fresh process: in this one the backend has started, too late to join anything."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "PMI"))}
    done = subprocess.run(
        [sys.executable, "-m", "genbench", "run", "vae", "ring8", "--distributed"]
        + ["--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("genbench: error: --distributed: cannot join"), done.stderr
    assert done.stderr.count("\n") == 1 and not list((tmp_path / "out").iterdir())
