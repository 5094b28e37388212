"""The machinery of the committed-results tests (test_committed_results*.py): one committed
smoke record of each family, re-run at this revision, gives the same metrics."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SMOKE = Path(__file__).resolve().parents[1] / "results" / "smoke"
# Same machine kind, same code: only float32 reductions may round differently.
RTOL, ATOL = 1e-3, 1e-5
# Metrics added after results/smoke was last regenerated: a re-run reports them besides the
# committed ones (empty this set when the smoke suite is regenerated).
ADDED_SINCE: set[str] = set()
FLAG = "--xla_force_host_platform_device_count"


def _one_per_family() -> list[dict]:
    """The seed-0 record of each model family, the cheapest of its smoke runs by fit time."""
    chosen = {}
    for path in sorted(SMOKE.glob("*.json")):
        record = json.loads(path.read_text())
        if record["status"] != "ok" or record["seed"] != 0:
            continue
        cost = record["throughput"].get("train_s") or record["throughput"].get("fit_s") or 0
        if record["model"] not in chosen or cost < chosen[record["model"]][0]:
            chosen[record["model"]] = (cost, record)
    return [record for _, record in sorted(chosen.values(), key=lambda c: c[1]["model"])]


RECORDS = _one_per_family()


# The records are re-run (without the timing calls, which the metrics do not depend on) in
# one fresh process: XLA:CPU splits its thread pool over the host
# devices of a process, so the test process's four devices would round differently from the
# committed runs' one (and a GAN amplifies the difference over 2,000 steps).
RERUN = """
import json, os, sys
if hasattr(os, "sched_setaffinity"):  # before jax sizes its thread pool
    os.sched_setaffinity(0, json.loads(sys.argv[2]))
from genbench.rebuild import spec_of
from genbench.runner import run
for committed in json.load(open(sys.argv[1])):
    spec = spec_of(committed)  # its model, dataset, preset and seed, every config value set
    assert spec.dataset_version == committed["dataset_version"], spec.dataset_version
    print(json.dumps(run(spec, measure_throughput=False).to_dict()), flush=True)
"""


def committed_cpus(records: list[dict]) -> int:
    """How many CPUs the committed runs' process could use. Records older than the
    ``cpu_affinity`` field ran unpinned, on all of the machine's ``cpu_count``."""
    (cpus,) = {r["env"].get("cpu_affinity") or r["env"]["cpu_count"] for r in records}
    return cpus


def rerun(records: list[dict], tmp_path_factory) -> dict[str, dict]:
    """model -> the record of re-running its committed record at this revision, in a
    process pinned to as many CPUs as the committed runs had: XLA:CPU sizes its thread pool
    from them, and a matrix product split over another number of threads rounds otherwise
    (a GAN's high-quality fraction moved from 0.820 to 0.840 on one CPU instead of two).
    Skips where this process may use fewer CPUs than that."""
    (count,) = {r["env"]["device_count"] for r in records}
    cpus = committed_cpus(records)
    if hasattr(os, "sched_getaffinity"):
        usable = sorted(os.sched_getaffinity(0))
    else:  # no affinity masks (macOS, Windows): the process may use every CPU
        usable = list(range(os.cpu_count() or 1))
    if len(usable) < cpus:
        pytest.skip(
            f"the committed records ran on {cpus} CPUs and this process may use {len(usable)}:"
            " their float rounding follows XLA's thread pool"
        )
    path = tmp_path_factory.mktemp("committed") / "records.json"
    path.write_text(json.dumps(records))
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    # XLA's default optimisation, as the committed records were made: the tests' faster
    # compile options (TEST_XLA_FLAGS) round differently enough to move a sample metric.
    env |= {"XLA_FLAGS": f"{FLAG}={count}", "JAX_PLATFORMS": "cpu"}
    # A cache of its own: the feature classifier of the sample metrics trained under these
    # flags, as the committed runs trained theirs, not one a test worker trained first.
    env["GENBENCH_CACHE"] = str(tmp_path_factory.mktemp("committed-cache"))
    done = subprocess.run(
        [sys.executable, "-c", RERUN, str(path), json.dumps(usable[:cpus])],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reran = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {r["model"]: r for r in reran}


def assert_same_metrics(committed: dict, record: dict) -> None:
    """The re-run ``record`` reports ``committed``'s metrics, equal up to float32 rounding."""
    assert record["status"] == "ok", record["error"]
    assert record["metrics"].keys() - ADDED_SINCE == committed["metrics"].keys() - ADDED_SINCE
    for name, value in committed["metrics"].items():
        now = record["metrics"][name]
        if value is None or now is None:
            assert now is value, name
        else:
            assert math.isclose(now, value, rel_tol=RTOL, abs_tol=ATOL), (name, value, now)


def committed_record_tests(half: int):
    """A test module's ``reruns`` fixture and its parametrized test for half ``half`` (0 or 1)
    of the families, so that pytest-xdist's ``--dist loadfile`` re-runs the two halves on two
    workers at once (one process re-running every family took 222 s). Half 0 holds the
    records on the digits, whose sample metrics use a feature classifier that each process
    trains once per dataset; the halves cost about the same."""
    part = [r for r in RECORDS if r["dataset"].startswith("digits") == (half == 0)]

    @pytest.fixture(scope="module")
    def reruns(tmp_path_factory) -> dict[str, dict]:
        return rerun(part, tmp_path_factory)

    @pytest.mark.parametrize("committed", part, ids=[f"{r['model']}-{r['dataset']}" for r in part])
    def test_a_committed_record_reruns_to_the_same_metrics(committed, reruns):
        assert_same_metrics(committed, reruns[committed["model"]])

    return reruns, test_a_committed_record_reruns_to_the_same_metrics
