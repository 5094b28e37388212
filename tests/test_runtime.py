"""Process set-up: the user's XLA_FLAGS device count, absent backends, non-finite settings."""

import json
import os
import subprocess
import sys

import pytest

from genbench import runtime
from genbench.cli import main
from genbench.runtime import DEFAULT_CPU_DEVICES, cpu_device_count
from tests.subprocess_cli import TEST_XLA_FLAGS, run_genbench

FLAG = "--xla_force_host_platform_device_count"


@pytest.mark.parametrize(
    ("given", "flags", "expected"),
    [
        (None, "", DEFAULT_CPU_DEVICES),
        (None, f"--xla_cpu_foo=1 {FLAG}=3", 3),
        (2, f"{FLAG}=3", 2),
        (None, f"{FLAG}=3 {FLAG}=5", 5),  # XLA reads the last one
    ],
)
def test_cpu_devices_given_then_the_users_flag_then_the_default(given, flags, expected):
    assert cpu_device_count(given, flags) == expected


def _genbench(*args, cwd, xla_flags=None):
    return run_genbench(*args, cwd=cwd, xla_flags=xla_flags)


def test_the_users_xla_flags_device_count_is_honoured(tmp_path):
    small = ["--set", "data.n_train=400", "--set", "data.n_test=100", "--set", "eval.groups=source"]
    done = _genbench(
        "run", "naive_bayes", "naive_bayes_source", "--out", "out", *small,
        cwd=tmp_path, xla_flags=f"{FLAG}=2 {TEST_XLA_FLAGS}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")]
    assert record["env"]["device_count"] == 2


@pytest.mark.parametrize("backend", ["tpu", "gpu"])
def test_an_absent_backend_is_one_line_and_exit_2(backend, tmp_path):
    done = _genbench("run", "vae", "ring8", "--backend", backend, "--out", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and f"--backend {backend}" in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_a_non_finite_setting_is_bad_input(value, tmp_path, capsys):
    argv = ["run", "vae", "ring8", "--set", f"train.lr={value}", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be a finite number" in err
    assert not (tmp_path / "o").exists()


def test_records_report_the_checkout_as_the_process_loaded_it(monkeypatch):
    """A long suite's records name the code it runs: the revision and the dirty flag are
    read once, when the runner is imported, not again for each record."""
    import genbench.runner  # noqa: F401  (reads them on import)

    before = (runtime.git_revision(), runtime.git_dirty())

    run = runtime.subprocess.run

    def no_git(command, *args, **kwargs):
        assert command[0] != "git", "git asked again"
        return run(command, *args, **kwargs)

    monkeypatch.setattr(runtime.subprocess, "run", no_git)
    env = runtime.environment()
    assert (env["git_revision"], env["git_dirty"]) == before
    assert before[0] is None or len(before[0]) == 40


PINNED_LATER = """
import os, sys
every = os.sched_getaffinity(0)
os.sched_setaffinity(0, {min(every)})
from genbench.runtime import configure, usable_cpus
configure()
os.sched_setaffinity(0, every)
print(usable_cpus(), len(os.sched_getaffinity(0)))
"""


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs CPU affinity masks and two CPUs to pin one of",
)
def test_records_report_the_cpus_the_process_started_with():
    """XLA:CPU sizes its thread pool when jax starts, and float32 rounding follows it: the
    record keeps the affinity at ``configure`` (before jax), not the one a later ``taskset``
    set."""
    done = subprocess.run(
        [sys.executable, "-c", PINNED_LATER], capture_output=True, text=True, check=True
    )
    started, now = map(int, done.stdout.split())
    assert started == 1 and now == len(os.sched_getaffinity(0))
    assert runtime.environment()["cpu_affinity"] == runtime.usable_cpus() >= 1


CPUINFO_X86 = """processor\t: 0
model name\t: Example CPU @ 2.0GHz
flags\t\t: fpu sse4_2 avx2 fma avx512f avx512_bf16

processor\t: 1
model name\t: Example CPU @ 2.0GHz
flags\t\t: fpu sse4_2 avx2 fma avx512f avx512_bf16
"""


def test_cpu_description_names_the_model_and_the_kernels_extensions():
    """Two hosts with the same library versions can round a GAN's products differently, so
    the record names the CPU and the extensions that choose Eigen's kernels."""
    x86 = runtime.cpuinfo_description(CPUINFO_X86)
    assert x86 == {
        "cpu_model": "Example CPU @ 2.0GHz",
        "cpu_isa": "avx512f avx512_bf16 avx2 fma sse4_2",
    }
    arm = runtime.cpuinfo_description("processor\t: 0\nFeatures\t: fp asimd sve\n")
    assert arm["cpu_isa"] == "asimd sve"
    env = runtime.environment()
    assert {"cpu_model", "cpu_isa", "numpy", "xla_flags"} <= env.keys()
    assert set(env["cpu_isa"].split()) <= set(runtime.CPU_ISA)
