"""A plugin author's mistakes: one line and exit 2 (or a failed record while a suite goes on),
with the built-ins and the other plugins unaffected."""

import json
import sys
import textwrap
from pathlib import Path

import pytest

from genbench import registry
from genbench.cli import main
from genbench.config import to_dict
from genbench.entries import check_factory_syntax
from genbench.errors import PluginError
from genbench.results import read_records
from genbench.results.records import run_key
from genbench.spec import resolve
from tests.subprocess_cli import run_genbench

# Registration module of the good plugin: configs and entries only, factories by name.
GOOD = """
from dataclasses import dataclass

from genbench.registry import ModelEntry


@dataclass(frozen=True)
class TinyConfig:
    dim: int = 2


def register(registry):
    for name, factory in {{
        "tiny_good": "{impl}:build_good",
        "tiny_bare_loss": "{impl}:build_bare",
        "tiny_wrong_group": "{impl}:build_wrong_group",
        "tiny_no_fit": "{impl}:build_no_fit",
        "tiny_raises": "{impl}:build_raises",
        "tiny_missing_module": "no_such_module_for_genbench:build",
        "tiny_missing_function": "{impl}:no_such_function",
    }}.items():
        registry.register_model(ModelEntry(name, TinyConfig, factory))
"""

# The models: one that follows the contract, and one per way to break it.
IMPL = """
import jax.numpy as jnp
from flax import nnx


class Good(nnx.Module):
    input_kind = "continuous"

    def __init__(self, dim):
        self.mean = nnx.Param(jnp.zeros(dim))

    def squared_error(self, batch):
        return jnp.mean((batch - self.mean[...]) ** 2)

    def loss(self, batch, rng):
        error = self.squared_error(batch)
        return {"params": error}, {"squared_error": error}


class BareLoss(Good):
    def loss(self, batch, rng):
        return self.squared_error(batch)


class WrongGroup(Good):
    def loss(self, batch, rng):
        return {"param": self.squared_error(batch)}, {}


class NoFit(nnx.Module):
    input_kind = "continuous"

    def __init__(self, dim):
        self.mean = nnx.Param(jnp.zeros(dim))


def build_good(config, dataset, rngs):
    return Good(dataset.event_size)


def build_bare(config, dataset, rngs):
    return BareLoss(dataset.event_size)


def build_wrong_group(config, dataset, rngs):
    return WrongGroup(dataset.event_size)


def build_no_fit(config, dataset, rngs):
    return NoFit(dataset.event_size)


def build_raises(config, dataset, rngs):
    raise RuntimeError("the factory failed")
"""


def write_distribution(root: Path, dist: str, version: str, points: dict[str, str]) -> None:
    """A ``.dist-info`` in ``root`` declaring ``points`` in the ``genbench.plugins`` group."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {value}\n" for name, value in points.items())
    (info / "entry_points.txt").write_text(f"[genbench.plugins]\n{lines}")


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """``install(dist, version, modules, points)``: a plugin visible to the next lookup."""
    for table in ("_MODELS", "_DATASETS", "_METRICS", "_SUITES"):
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))
    written: list[str] = []

    def install(dist, version, modules, points, root=tmp_path / "site"):
        root.mkdir(exist_ok=True)
        for name, text in modules.items():
            (root / f"{name}.py").write_text(textwrap.dedent(text))
            written.append(name)
            sys.modules.pop(name, None)
        write_distribution(root, dist, version, points)
        monkeypatch.syspath_prepend(str(root))
        registry.reset_plugins()

    registry.reset_plugins()
    yield install
    registry.reset_plugins()
    for name in written:
        sys.modules.pop(name, None)


def install_good(install, version="1.0"):
    install(
        "tiny-plugin",
        version,
        {"tiny_plugin": GOOD.format(impl="tiny_impl"), "tiny_impl": IMPL},
        {"tiny": "tiny_plugin:register"},
    )


def one_line(capsys, prefix="genbench: error: ") -> str:
    err = capsys.readouterr().err
    assert err.startswith(prefix) and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# -- registration -----------------------------------------------------------------------------


def test_factory_without_a_colon_is_one_line_naming_the_plugin(plugins, tmp_path, capsys):
    module = GOOD.format(impl="tiny_impl").replace(
        '"tiny_impl:build_good"', '"tiny_impl.build_good"'
    )
    plugins("colon-plugin", "2.1", {"colon_plugin": module}, {"c": "colon_plugin:register"})
    out = tmp_path / "out"
    assert main(["run", "tiny_good", "ring8", "--out", str(out)]) == 2
    err = one_line(capsys)
    assert "unknown model 'tiny_good'" in err
    assert "plugin colon-plugin 2.1" in err and "'tiny_impl.build_good'" in err
    assert "'module:function'" in err
    assert not out.exists() or not any(out.iterdir())


def test_plugin_that_fails_to_import_leaves_the_rest_working(plugins, capsys):
    broken = "import genbench_dependency_that_is_not_installed\n"
    plugins("broken-plugin", "0.3", {"broken_plugin": broken}, {"b": "broken_plugin:register"})
    install_good(plugins)
    assert main(["list", "models"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("genbench: warning: plugin broken-plugin 0.3")
    assert "ModuleNotFoundError" in captured.err
    assert "vae" in captured.out and "tiny_good" in captured.out
    assert "[plugin tiny-plugin]" in captured.out
    assert [p["distribution"] for p in registry.loaded_plugins()] == ["tiny-plugin"]


def test_duplicate_name_is_one_line_and_rolls_the_plugin_back(plugins, capsys):
    module = """
        from genbench.models.configs import VAEConfig
        from genbench.registry import ModelEntry

        def register(registry):
            registry.register_model(ModelEntry("dup_first", VAEConfig, "x:build"))
            registry.register_model(ModelEntry("vae", VAEConfig, "x:build"))
    """
    plugins("dup-plugin", "1.0", {"dup_plugin": module}, {"d": "dup_plugin:register"})
    assert main(["list", "models"]) == 0
    err = one_line(capsys, "genbench: warning: ")
    assert "plugin dup-plugin 1.0" in err
    assert "model 'vae' is already registered by genbench" in err
    assert registry.get_model("vae").plugin is None
    assert "dup_first" not in registry.models()  # all or nothing


def test_registration_checks_need_no_import():
    for factory in ("pkg.module.build", "pkg:", ":build", "pkg:build-it", 3):
        with pytest.raises(PluginError, match="must be a callable or 'module:function'"):
            check_factory_syntax(factory, "model 'x'")
    check_factory_syntax("pkg.sub_module:build", "model 'x'")
    with pytest.raises(PluginError, match="config must be a dataclass"):
        registry.register_model(registry.ModelEntry("not_a_dataclass", dict, "a:b"))


def test_broken_plugin_does_not_break_the_command_line(tmp_path):
    broken = tmp_path / "broken_cli_plugin.py"
    broken.write_text("raise RuntimeError('plugin bug')\n")
    write_distribution(tmp_path, "broken-cli", "9.9", {"b": "broken_cli_plugin:register"})
    done = run_genbench("list", "datasets", path=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1 and "plugin broken-cli 9.9" in done.stderr
    assert "RuntimeError: plugin bug" in done.stderr
    assert "ring8" in done.stdout


# -- resolution and the contract --------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fragments"),
    [
        (
            "tiny_missing_module",
            ["model 'tiny_missing_module' (plugin tiny-plugin 1.0)", "does not import"],
        ),
        ("tiny_missing_function", ["module 'tiny_impl' has no 'no_such_function'"]),
        ("tiny_bare_loss", ["tiny_impl.BareLoss.loss(batch, rng) must return", "got a float32"]),
        ("tiny_wrong_group", ["losses has 'param', not 'params'"]),
        (
            "tiny_no_fit",
            ["(plugin tiny-plugin 1.0) cannot fit", "no loss", "loss(), fit_exact() or em_step()"],
        ),
    ],
)
def test_broken_model_is_one_line_and_exit_2(plugins, model, fragments, tmp_path, capsys):
    install_good(plugins)
    out = tmp_path / "out"
    argv = ["run", model, "ring8", "--steps", "2", "--set", "train.inner_steps=1"]
    assert main([*argv, "--out", str(out)]) == 2
    err = one_line(capsys)
    for fragment in fragments:
        assert fragment in err
    assert not any(out.iterdir())


def test_factory_that_raises_gives_a_failed_record(plugins, tmp_path, capsys):
    install_good(plugins)
    out = tmp_path / "out"
    argv = ["run", "tiny_raises", "ring8", "--steps", "2", "--set", "train.inner_steps=1"]
    assert main([*argv, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "FAILED RuntimeError: the factory failed" in captured.out
    assert "Traceback" not in captured.out + captured.err
    (record,) = read_records([out])
    assert record["status"] == "failed" and record["error"]["type"] == "RuntimeError"


def test_suite_records_a_broken_model_as_failed_and_goes_on(plugins, tmp_path, capsys):
    install_good(plugins)
    suite = tmp_path / "mixed.toml"
    suite.write_text(
        'description = "a broken plugin model and a working one"\n'
        '[defaults]\n"train.steps" = 10\n"train.inner_steps" = 5\n"eval.nll_k" = 10\n'
        '"eval.iwae_k" = [2]\n"eval.timing_calls" = 2\n"eval.source_samples" = 100\n'
        '[[run]]\nmodel = "tiny_missing_function"\ndataset = "ring8"\n'
        '[[run]]\nmodel = "tiny_good"\ndataset = "ring8"\n'
    )
    out = tmp_path / "out"
    assert main(["suite", str(suite), "--out", str(out)]) == 1
    records = {r["model"]: r for r in read_records([out])}
    assert records["tiny_good"]["status"] == "ok"
    broken = records["tiny_missing_function"]
    assert broken["status"] == "failed" and broken["error"]["type"] == "PluginError"
    assert "plugin tiny-plugin" in broken["error"]["message"]
    assert "1 failed" in capsys.readouterr().out


def test_loss_check_names_what_was_expected():
    import jax.numpy as jnp

    from genbench.train.checks import loss_output_problem

    def problem(outputs, groups=("params",)):
        return loss_output_problem(outputs, groups)

    scalar, vector = jnp.float32(1.0), jnp.zeros(3)
    assert problem(({"params": scalar}, {"nll": scalar})) is None
    assert problem((scalar,)) == "got a tuple of 1"
    assert problem((scalar, {})) == "losses is a float32 scalar"
    assert problem(({"params": vector}, {})) == (
        "losses['params'] is a float32 array of shape (3,), not a float scalar"
    )
    assert problem(({"params": jnp.int32(1)}, {})).startswith("losses['params'] is an int32")
    assert problem(({"g": scalar}, {}), ("generator", "discriminator")) == (
        "losses has 'g', not 'generator', 'discriminator'"
    )
    assert problem(({"params": scalar}, {"x": "text"})) == "metrics['x'] is a str, not a scalar"
    assert problem(({"params": scalar}, [scalar])) == "metrics is a list of 1"


# -- provenance -------------------------------------------------------------------------------


def test_plugin_version_is_in_the_run_key_and_built_in_keys_are_unchanged(plugins, tmp_path):
    spec = resolve("vae", "ring8")
    config = to_dict(spec.config)
    assert spec.run_key == run_key("vae", "ring8", "1", config, 0)  # the pre-plugin formula
    install_good(plugins, "1.0")
    first = resolve("tiny_good", "ring8")
    first_key = first.run_key  # the key is computed from the registry of the moment
    assert registry.get_model("tiny_good").version == "1.0"
    assert registry.plugin_versions("tiny_good", "ring8") == {"model tiny_good": "1.0"}
    install_good(lambda *a: plugins(*a, root=tmp_path / "upgraded"), "1.1")
    second = resolve("tiny_good", "ring8")
    assert registry.get_model("tiny_good").version == "1.1"
    assert to_dict(first.config) == to_dict(second.config) and first_key != second.run_key
    assert resolve("vae", "ring8").run_key == spec.run_key  # the plugin has no metric


def test_record_names_the_plugins_and_old_records_stay_valid(plugins, tmp_path):
    from genbench.results import validate_record
    from genbench.runner import run

    install_good(plugins, "1.0")
    spec = resolve("tiny_good", "ring8", overrides={"train.steps": 4, "train.inner_steps": 2})
    record = run(spec).to_dict()
    assert record["status"] == "ok", record["error"]
    assert record["env"]["plugins"] == [{"distribution": "tiny-plugin", "version": "1.0"}]
    validate_record(json.loads(json.dumps(record)))
    del record["env"]["plugins"]  # as in records written before env.plugins existed
    validate_record(record)
