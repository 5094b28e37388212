"""The device script (benchmarks/device/): its arguments, its benchmark merge and its summary.

The whole script runs in CI after pytest (``.ci/run``: ``--backend cpu --quick``);
these tests cover what that run cannot show: bad arguments, a benchmark file
stopped before it wrote its JSON, and a failed phase in the summary.
"""

import importlib.util
import json
import re
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

DEVICE = Path(__file__).resolve().parents[1] / "benchmarks" / "device"
# What the GPU machines' image already has of the carried wheels' requirements.
IMAGE_HAS = {"attrs", "typing-extensions"}


def _report():
    spec = importlib.util.spec_from_file_location("device_report", DEVICE / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = _report()


def _bench(name: str, median_s: float, **extra) -> dict:
    return {"name": name, "stats": {"median": median_s, "rounds": 7}, "extra_info": extra}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "rocm"], "--backend must be gpu, cuda, tpu or cpu, not 'rocm'"),
        (["--seeds", "0"], "--seeds must be a number >= 1"),
        (["--budget", "5"], "--budget must be 10 to 9999 seconds"),
        (["--fast"], "unknown argument '--fast'"),
    ],
)
def test_bad_arguments_are_one_error_line_and_status_2(args, message, tmp_path):
    done = subprocess.run(
        ["bash", str(DEVICE / "run.sh"), *args, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == f"run.sh: error: {message}"
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_merge_keeps_the_files_that_were_written(tmp_path):
    (tmp_path / "bench-vae.json").write_text(json.dumps({"benchmarks": [_bench("vae", 0.1)]}))
    (tmp_path / "bench-gan.json").write_text('{"benchmarks": [')  # stopped mid-write
    gan = _bench("gan", 0.2)
    (tmp_path / "bench-tf.json").write_text(json.dumps({"benchmarks": [gan], "version": "5"}))
    files = [tmp_path / f"bench-{n}.json" for n in ("vae", "gan", "tf", "missing")]
    assert report.merge_bench(tmp_path, files) == 2
    merged = json.loads((tmp_path / "bench.json").read_text())
    assert [b["name"] for b in merged["benchmarks"]] == ["vae", "gan"]


def test_bench_table_shows_medians_in_ms_and_the_step_figures(tmp_path):
    benches = [_bench("test_genbench_vae_step[inner50]", 0.125, step_ms=2.5, mfu=0.25)]
    (tmp_path / "bench.json").write_text(json.dumps({"benchmarks": benches}))
    header, _, row = report.bench_table(tmp_path / "bench.json").splitlines()
    columns, cells = ([c.strip() for c in line.strip("|").split("|")] for line in (header, row))
    by_column = dict(zip(columns, cells, strict=True))
    assert by_column["median ms / call"] == "125"
    assert (by_column["step_ms"], by_column["mfu"], by_column["hfu"]) == ("2.5", "0.25", "–")


def test_summary_names_the_failed_phases_and_keeps_what_was_written(tmp_path):
    phases = tmp_path / "phases.tsv"
    phases.write_text(
        "install\tok\t3\tgenbench installed\nsuite\tstopped at its time limit\t200\t\n"
    )
    (tmp_path / "table.md").write_text("| model |\n|---|\n| vae |\n")
    env = {"backend": "gpu", "device_kind": "NVIDIA H200", "device_count": 1}
    (tmp_path / "environment.json").write_text(json.dumps(env))
    text = report.summary_markdown(tmp_path, report.read_phases(phases), time.time() - 42, "x")
    assert text.splitlines()[0] == "# genbench device run: NVIDIA H200 (gpu x 1)"
    assert "- result: FAILED: suite" in text
    assert "| suite | stopped at its time limit | 200 |  |" in text
    assert "| vae |" in text
    assert "(no benchmark results)" in text


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_carried_wheels_need_nothing_the_image_lacks():
    wheels = sorted((DEVICE / "wheels").glob("*.whl"))
    carried = {_normalized(w.name.split("-")[0]) for w in wheels}
    assert {"jsonschema", "referencing", "rpds-py", "jsonschema-specifications"} <= carried
    for wheel in wheels:
        if wheel.name.startswith("setuptools-"):
            continue  # its requirements are vendored inside it
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            lines = archive.read(metadata).decode().splitlines()
        for line in lines:
            if line.startswith("Requires-Dist:") and "extra ==" not in line:
                name = _normalized(re.match(r"Requires-Dist: *([A-Za-z0-9_.-]+)", line)[1])
                assert name in carried | IMAGE_HAS, f"{wheel.name} needs {name}"
