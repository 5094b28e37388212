"""The import graph of DESIGN §1 and the contract's monopoly on capability probes."""

import ast
from pathlib import Path

import pytest

from genbench import contract

PACKAGE = Path(__file__).resolve().parents[1] / "genbench"

# The command line and its job executors drive the runner; nothing else may import them.
FRONT_ENDS = ("cli", "__main__", "executors")
# The runner: one run (``runner``) and a seed group of runs (``seed_runs``) use each other.
RUNNER = ("runner", "seed_runs")
# Small leaf modules that any package but ``contract`` and ``inference`` may import.
LEAVES = {"contract", "errors", "atomic", "cache", "stats"}
# package -> the genbench packages it may import (besides itself).
ALLOWED = {
    "contract": set(),
    "errors": set(),
    "atomic": set(),
    "cache": set(),
    "stats": set(),
    "inference": set(),
    "models": LEAVES | {"inference"},
    "train": LEAVES | {"config", "models"},
    "results": LEAVES,
}
# Capability attribute names, models' and datasets' alike, that only genbench/contract/ may probe.
CAPABILITY_NAMES = (
    set(contract.MODEL_CAPABILITIES)
    | {"uses_labels", "train_window", "tokens_per_example", "analytic_flops_per_token", "pack"}
    | {"is_source", "labelled", "fresh", "char_level", "hidden_states", "image_shape"}
    | {"dynamic_binarization"}
    | {"num_states", "train_labels", "decode_smiles", "log_joint_prob", "sample_labelled"}
    | {"mode_means", "mode_std", "sample_with_states", "num_steps"}
)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts[0]


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "genbench":
                yield from (f"genbench.{alias.name}" for alias in node.names)
            else:
                yield node.module


@pytest.mark.parametrize(("path", "package"), list(_modules()), ids=lambda v: str(v))
def test_imports_run_one_way(path, package):
    used = {
        name.split(".")[1]
        for name in _imports(ast.parse(path.read_text()))
        if name.startswith("genbench.")
    } - {package}
    if package in ALLOWED:
        assert used <= ALLOWED[package], f"{path.name} imports {sorted(used - ALLOWED[package])}"
    if package not in FRONT_ENDS + RUNNER:
        assert not used & {"cli", *RUNNER}, f"{path.name} imports the cli or the runner"
    if package in RUNNER:
        assert "cli" not in used, f"{path.name} imports the cli"


@pytest.mark.parametrize(("path", "package"), list(_modules()), ids=lambda v: str(v))
def test_only_the_contract_probes_capabilities(path, package):
    if package == "contract":
        return
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        assert node.func.id != "hasattr", f"{path.name}:{node.lineno} uses hasattr"
        if node.func.id == "getattr" and len(node.args) >= 2:
            name = node.args[1]
            probed = isinstance(name, ast.Constant) and name.value in CAPABILITY_NAMES
            assert not probed, f"{path.name}:{node.lineno} probes {name.value!r}"


def test_capabilities_of_a_class_and_an_instance_agree():
    class Toy:
        input_kind = "continuous"

        def loss(self, batch, rng):
            return {"params": 0.0}, {}

        def sample(self, rng, n):
            return None

    assert contract.capabilities(Toy) == contract.capabilities(Toy()) == {"loss", "sample"}
    assert contract.fit_kinds(Toy()) == ["gradient"]
    assert contract.capability_summary([Toy]) == "loss, sample"
