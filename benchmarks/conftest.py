"""Fixtures of the benchmarks, and the results file.

With ``GENBENCH_WRITE_RESULTS=1`` the numbers that the tests put into the
``bench_results`` fixture are written, at the end of the session, to
``results/benchmarks/vae_step_cpu.json`` (temp file + ``os.replace``), with
the machine, the versions and the load average at start and end.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
from pathlib import Path

import jax
import pytest

from benchmarks.vae_setup import binary_dataset, cpu_threads
from genbench import runtime
from genbench.atomic import atomic_write
from genbench.data.base import Dataset

RESULTS_FILE = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "vae_step_cpu.json"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _environment() -> dict:
    """The machine and versions the numbers were measured with."""
    return {
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": runtime.cpu_description()["cpu_model"],
        "cores": cpu_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "torch": _version("torch"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "load_average_1min_at_start": os.getloadavg()[0],
    }


def collect_results(path: Path, environment: dict):
    """Body of a results fixture: yields the dict the tests fill, then writes
    ``{environment, benchmarks}`` to ``path`` when GENBENCH_WRITE_RESULTS=1."""
    results = {"environment": environment, "benchmarks": {}}
    yield results["benchmarks"]
    if os.environ.get("GENBENCH_WRITE_RESULTS") == "1" and results["benchmarks"]:
        results["environment"]["load_average_1min_at_end"] = os.getloadavg()[0]
        write_json_atomic(path, results)
        print(f"\nwrote {path}")


def write_json_atomic(path: Path, value: dict) -> None:
    """Writes ``value`` as JSON to ``path`` with genbench's one atomic writer."""
    atomic_write(path, json.dumps(value, indent=1) + "\n", make_parents=True)


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    """The 784-D binary dataset, generated once per session."""
    return binary_dataset()


@pytest.fixture(scope="session")
def bench_results():
    """A dict the tests fill; written to ``RESULTS_FILE`` when GENBENCH_WRITE_RESULTS=1."""
    yield from collect_results(RESULTS_FILE, _environment())
