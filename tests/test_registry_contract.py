"""Every registered dataset and metric group passes the same contract (models: test_contract.py).

A dataset or metric registered tomorrow is checked by these tests the day it is
registered: they iterate over the registry, and only datasets that need a file
get one written here (a new one is built from its default config).
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genbench import contract, registry
from genbench.config import EvalConfig
from genbench.data.base import KINDS
from genbench.data.view import data_view
from genbench.runner import build
from genbench.spec import resolve
from tests.image_files import all_image_files

SMILES = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl", "OCCO", "CNC", "CCOC", "C=CC", "CC#N"]


def _files(tmp_path) -> dict[str, dict]:
    """Small data-config overrides: files in the real formats, and short real corpora."""
    array = tmp_path / "array.npy"
    np.save(array, np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32))
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog\n" * 20, encoding="utf-8")
    smiles = tmp_path / "smiles.csv"
    smiles.write_text("SMILES\n" + "\n".join(SMILES * 3) + "\n", encoding="utf-8")
    return {
        "file": {"path": str(array)},
        "text": {"path": str(text), "block_size": 16},
        "smiles": {"path": str(smiles), "max_length": 16},
        "chorales": {"max_pieces": 3, "block_size": 16},
    }


SMALL = {"n_train": 200, "n_test": 100, "num_sequences": 4, "num_steps": 50}


def build_dataset(name: str, tmp_path):
    """The registered dataset ``name`` from its config, made small where it has the fields."""
    entry = registry.get_dataset(name)
    names = {f.name for f in dataclasses.fields(entry.config)}
    fields = {k: v for k, v in SMALL.items() if k in names}
    fields |= _files(tmp_path).get(name, {})
    config = entry.config(**fields)
    return registry.resolve_factory(entry.factory)(config)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    all_image_files(tmp_path / "cache", monkeypatch)  # downloads, in their formats


@pytest.mark.parametrize("name", sorted(registry.datasets()))
def test_dataset_contract(name, tmp_path, cache):
    entry = registry.get_dataset(name)
    assert isinstance(entry.version, str) and entry.version
    data = build_dataset(name, tmp_path)
    for split in (data.train, data.test):
        assert isinstance(split, np.ndarray) and len(split) >= 1
        assert np.issubdtype(split.dtype, np.number) and np.isfinite(split).all()
    assert data.train.shape[1:] == data.test.shape[1:] == data.event_shape
    assert data.kind in KINDS and data.event_size == math.prod(data.event_shape)
    if data.kind == "binary" and contract.binarizes_dynamically(data):
        assert ((data.train >= 0) & (data.train <= 1)).all()  # probabilities, drawn each time
    elif data.kind == "binary":
        assert np.isin(data.train, (0, 1)).all()
    if data.kind == "discrete" or (data.kind == "sequence" and data.levels > 0):
        assert data.train.min() >= 0 and data.train.max() < data.levels
    found = contract.dataset_capabilities(data)
    if contract.is_labelled(data):
        for x, y in ((data.train, data.train_labels), (data.test, data.test_labels)):
            y = np.asarray(y)
            assert y.shape == (len(x),) and y.min() >= 0 and y.max() < data.num_classes
    if "mode_mixture" in found:
        assert np.shape(data.mode_means) == (np.shape(data.mode_means)[0], data.event_size)
        assert data.mode_std > 0
    if contract.is_source(data):
        _check_source(data, found)


def _check_source(data, found):
    key = jax.random.key(0)
    x = data.sample(key, 16)
    assert x.shape == (16, *data.event_shape)
    log_p = jax.jit(data.log_prob)(x)
    assert log_p.shape == (16,) and bool(jnp.all(jnp.isfinite(log_p)))
    if "labelled_source" in found:
        xs, ys = data.sample_labelled(key, 16)
        joint = jax.jit(data.log_joint_prob)
        per_class = jnp.stack(
            [joint(xs, jnp.full_like(ys, c)) for c in range(data.num_classes)], axis=1
        )
        np.testing.assert_allclose(
            jax.nn.logsumexp(per_class, axis=1), data.log_prob(xs), rtol=1e-5, atol=1e-4
        )
    if "sequence_source" in found or data.kind == "sequence":
        assert "sequence_source" in found, "a sequence source needs sample_with_states"
        states, seqs = data.sample_with_states(key, 4, 20)
        assert states.shape[:2] == seqs.shape[:2] == (4, 20)
        return
    # The entropy and the source's own log-density agree: -E[log p] on fresh samples.
    entropy = data.entropy(jax.random.key(1))
    log_p = np.asarray(jax.jit(data.log_prob)(data.sample(jax.random.key(2), 4000)), np.float64)
    se = math.hypot(log_p.std(ddof=1) / math.sqrt(len(log_p)), entropy.se)
    assert abs(-log_p.mean() - entropy.value) < 5 * se + 1e-4


class _Bare:
    """A model with no capability at all: every metric group must skip it."""

    input_kind = "continuous"


TINY_EVAL = EvalConfig(
    nll_k=4, iwae_k=(2,), max_examples=32, source_samples=32, batch_size=32, timing_calls=2
)


@pytest.mark.parametrize("name", sorted(registry.metrics()))
def test_metric_group_skips_a_model_without_its_capability(name):
    function = registry.resolve_factory(registry.metrics()[name].factory)
    spec = resolve("vae", "digits", None, {})
    dataset, _ = build(spec)
    view = data_view(dataset, "continuous")
    assert function(_Bare(), dataset, view, TINY_EVAL, jax.random.key(0)) == ({}, {})


def _measured(model_name: str, dataset_name: str, overrides: dict):
    spec = resolve(model_name, dataset_name, None, overrides)
    dataset, model = build(spec)
    view = data_view(dataset, model.input_kind)
    out = {}
    for name, entry in registry.metrics().items():
        function = registry.resolve_factory(entry.factory)
        out[name] = function(model, dataset, view, TINY_EVAL, jax.random.key(3))
    return out


ESTIMATOR_TAGS = ("exact", "dequantized_bound", "elbo", "closed_form", "monte_carlo", "vlb")
MEASURED = [
    ("vae", "digits_binary", {"model.hidden": (16,)}),
    ("naive_bayes", "naive_bayes_source", {"data.n_train": 200, "data.n_test": 64}),
    ("gan", "ring8", {"data.n_test": 64}),
    ("vdm", "ring8", {"data.n_test": 64, "model.hidden": (16,), "model.sample_steps": 10}),
]


@pytest.mark.parametrize(("model_name", "dataset_name", "overrides"), MEASURED)
def test_metric_groups_return_named_numbers(model_name, dataset_name, overrides):
    groups = _measured(model_name, dataset_name, overrides)
    seen: dict[str, str] = {}
    for group, (metrics, estimators) in groups.items():
        for metric, value in metrics.items():
            assert metric not in seen, f"{metric} from both {seen.get(metric)} and {group}"
            seen[metric] = group
            assert value is None or isinstance(value, float | int | np.floating), (metric, value)
        assert set(estimators) <= set(metrics), (group, set(estimators) - set(metrics))
        for tag in estimators.values():
            assert tag in ESTIMATOR_TAGS or tag.startswith("iwae_k"), tag
    assert seen, "no metric group measured anything"
