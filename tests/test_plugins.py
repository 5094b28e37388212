"""Plugins: the README's worked example, registered through a generated .dist-info."""

import re
import sys
from pathlib import Path

import pytest

from genbench import registry
from genbench.results import validate_record
from tests.subprocess_cli import run_genbench

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_files() -> dict[str, str]:
    """The README's python blocks that start with ``# file: NAME``."""
    blocks = re.findall(r"```python\n# file: (\S+)\n(.*?)```", README.read_text(), re.S)
    return dict(blocks)


def write_plugin(root: Path) -> Path:
    files = readme_files()
    assert set(files) == {"toy_plugin.py", "toy_plugin_impl.py"}
    for name, text in files.items():
        (root / name).write_text(text)
    info = root / "toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[genbench.plugins]\ntoy = toy_plugin:register\n")
    return root


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    root = write_plugin(tmp_path)
    for table in ("_MODELS", "_DATASETS", "_METRICS"):
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))
    monkeypatch.syspath_prepend(str(root))
    registry.reset_plugins()
    yield root
    registry.reset_plugins()
    for module in ("toy_plugin", "toy_plugin_impl"):
        sys.modules.pop(module, None)


def test_plugin_entries_are_found_by_name(plugin):
    assert "toy_gaussian" in registry.models()
    assert "toy_shifted" in registry.datasets()
    assert "toy_sample_mean_error" in registry.metrics()
    assert registry.get_model("vae").name == "vae"


def test_worked_example_trains_and_is_measured(plugin):
    from genbench.runner import run
    from genbench.spec import resolve

    spec = resolve(
        "toy_gaussian",
        "toy_shifted",
        overrides={
            "train.steps": 400,
            "train.inner_steps": 50,
            "train.lr": 0.05,
            "train.batch_size": 100,
            "eval.timing_calls": 3,
            "eval.source_samples": 4000,
        },
    )
    record = run(spec)
    validate_record(record)
    metrics = record.metrics
    assert record.status == "ok"
    assert record.env["plugins"] == [{"distribution": "toy-plugin", "version": "0.1"}]
    assert record.estimators["nll"] == "exact"
    assert record.estimators["kl_to_source"] == "exact"
    # Source N(2, 0.25 I) in 3-D: entropy 3 * (0.5 log(2 pi e) + log 0.5).
    assert metrics["entropy_source"] == pytest.approx(3 * (1.4189385 - 0.6931472), rel=1e-6)
    assert -3 * metrics["kl_to_source_se"] < metrics["kl_to_source"] < 0.05
    assert metrics["sample_mean_error"] < 0.1


def test_plugin_is_listed_by_the_command_line(tmp_path):
    root = write_plugin(tmp_path)
    done = run_genbench("list", "models", path=str(root))
    assert done.returncode == 0, done.stderr
    assert "toy_gaussian" in done.stdout and "vae" in done.stdout
