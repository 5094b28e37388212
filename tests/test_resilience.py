"""Suites that survive: checkpoints, SIGKILL and resume, shards, divergence, failures."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx
from subprocess_cli import TEST_XLA_FLAGS
from tiny_suites import tiny_suite

from genbench.config import TrainConfig
from genbench.data.base import Dataset
from genbench.models.vae import VAE
from genbench.results import read_records, validate_record
from genbench.train.checkpoint import Checkpointer
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

DIVERGING = """
[[run]]
model = "vae"
dataset = "grid25"
set = {"train.lr" = 1e6, "train.optimizer" = "sgd"}
"""


def genbench(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | {"XLA_FLAGS": TEST_XLA_FLAGS}
    return [sys.executable, "-m", "genbench", *args], env, cwd


def run_cli(*args, cwd, timeout=300):
    argv, env, cwd = genbench(*args, cwd=cwd)
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def identity(x, rng):
    del rng
    return x


class Interrupt(Exception):
    pass


def test_restart_from_checkpoint_is_bitwise_identical(tmp_path):
    x = (np.random.default_rng(0).random((96, 6)) > 0.5).astype(np.float32)
    dataset = Dataset("toy", x, x[:16], "binary")
    train = TrainConfig(steps=40, batch_size=16, inner_steps=5, lr=1e-2, checkpoint_every=10)
    mesh = data_mesh(jax.devices()[:1])

    def model():
        return VAE(6, 2, (8,), "tanh", "bernoulli", 1e-3, rngs=nnx.Rngs(0))

    straight = model()
    fit(straight, dataset, identity, train, 7, mesh)

    def crash(done):
        if done == 25:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(model(), dataset, identity, train, 7, mesh, crash, Checkpointer(tmp_path, 10))
    restarted = model()
    result = fit(restarted, dataset, identity, train, 7, mesh, None, Checkpointer(tmp_path, 10))
    assert result.resumed_from == 20
    assert [h["step"] for h in result.history][:4] == [5, 10, 15, 20]
    for a, b in zip(
        jax.tree.leaves(nnx.state(straight)), jax.tree.leaves(nnx.state(restarted)), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_checkpoints_keep_only_the_last_k(tmp_path):
    x = np.zeros((32, 3), np.float32)
    dataset = Dataset("toy", x, x, "continuous")
    train = TrainConfig(steps=50, batch_size=8, inner_steps=5, checkpoint_every=10)
    model = VAE(3, 1, (4,), "tanh", "gaussian", 1e-3, rngs=nnx.Rngs(0))
    checkpointer = Checkpointer(tmp_path, 10, keep=2)
    fit(model, dataset, identity, train, 0, data_mesh(jax.devices()[:1]), None, checkpointer)
    checkpointer.close()
    assert sorted(int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()) == [30, 40]


def test_sigkill_mid_suite_then_resume_runs_only_what_is_missing(tmp_path):
    out = tmp_path / "out"
    argv, env, cwd = genbench(
        "suite", tiny_suite(tmp_path, seeds=2), "--out", str(out), cwd=tmp_path
    )
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline and not list(out.glob("*.json")):
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    first = {r["run_key"] for r in read_records([out])}
    assert 1 <= len(first) < 4
    done = run_cli(
        "suite", tiny_suite(tmp_path, seeds=2), "--out", str(out), "--resume", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert f"{4 - len(first)} runs ({len(first)} skipped)" in done.stdout
    records = read_records([out])
    keys = [r["run_key"] for r in records]
    assert len(keys) == len(set(keys)) == 4 and all(r["status"] == "ok" for r in records)
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]


def test_two_shards_make_the_same_records_as_one_process(tmp_path):
    suite = tiny_suite(tmp_path)  # its two runs fall in different shards of two
    whole = run_cli("suite", suite, "--out", str(tmp_path / "one"), cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    shards = []
    for i in range(2):
        argv, env, cwd = genbench(
            "suite", suite, "--out", str(tmp_path / "two"), "--shard", f"{i}/2", cwd=tmp_path
        )
        shards.append(
            subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    for process in shards:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    one = read_records([tmp_path / "one"])
    two = read_records([tmp_path / "two"])
    assert sorted(r["run_key"] for r in one) == sorted(r["run_key"] for r in two)
    assert len(two) == 2
    by_key = {r["run_key"]: r["metrics"] for r in one}
    for record in two:
        assert record["metrics"] == by_key[record["run_key"]]


def test_diverging_run_is_recorded_as_failed_and_the_suite_goes_on(tmp_path):
    out = tmp_path / "out"
    done = run_cli("suite", tiny_suite(tmp_path, extra=DIVERGING), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 1
    assert "3 runs (0 skipped), 1 failed" in done.stdout
    records = read_records([out])
    failed = [r for r in records if r["status"] == "failed"]
    assert len(records) == 3 and len(failed) == 1
    validate_record(failed[0])
    error = failed[0]["error"]
    assert error["type"] == "NonFiniteError" and error["group"] == "params"
    assert isinstance(error["step"], int) and 0 <= error["step"] < 20
    assert "1 failed" in (out / "table.md").read_text()


def test_run_killed_after_a_checkpoint_resumes_to_the_same_metrics(tmp_path):
    args = [
        "run",
        "vae",
        "ring8",
        "--steps",
        "3000",
        "--set",
        "train.inner_steps=10",
        "--set",
        "train.checkpoint_every=500",
        "--set",
        "eval.nll_k=10",
        "--set",
        "eval.iwae_k=2",
        "--set",
        "eval.timing_calls=2",
        "--set",
        "eval.source_samples=100",
    ]
    straight = run_cli(*args, "--out", str(tmp_path / "straight"), cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    out = tmp_path / "killed"
    argv, env, cwd = genbench(*args, "--out", str(out), cwd=tmp_path)
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and not any(
        p.name.isdigit() for p in out.glob(".checkpoints/*/*")
    ):
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not list(out.glob("*.json")), "the run finished before it could be killed"
    resumed = run_cli(*args, "--out", str(out), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    (a,) = read_records([tmp_path / "straight"])
    (b,) = read_records([out])
    assert b["resumed_from_step"] >= 500
    assert a["metrics"] == b["metrics"]
    assert not list(out.glob(".checkpoints/*/*")), "checkpoints are removed after the fit"


def test_an_exception_inside_a_run_is_recorded(monkeypatch):
    from genbench import runner
    from genbench.spec import resolve

    def broken(*args, **kwargs):
        raise RuntimeError("evaluation exploded\nsecond line")

    monkeypatch.setattr(runner, "evaluate", broken)
    spec = resolve("vae", "ring8", overrides={"train.steps": 10, "train.inner_steps": 5})
    record = runner.run(spec, devices=jax.devices()[:1])
    validate_record(record)
    assert record.status == "failed"
    assert record.error["type"] == "RuntimeError"
    assert record.error["message"] == "evaluation exploded"
