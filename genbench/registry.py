"""Models, datasets and suites by name; third-party plugins via entry points.

Entries hold their config dataclass and a *lazy* factory (``"module:function"``
or a callable), so listing and validating names never imports jax. A plugin
package declares, in its metadata::

    [project.entry-points."genbench.plugins"]
    mymodels = "mypackage.genbench_plugin:register"

and ``register(registry)`` calls ``registry.register_model(...)`` etc. (an
entry point that is not callable only needs importing, for modules that
register themselves).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genbench.config import Preset
from genbench.data import configs as data_configs
from genbench.errors import UsageError, choices
from genbench.models import configs as model_configs

PLUGIN_GROUP = "genbench.plugins"


@dataclass(frozen=True)
class ModelEntry:
    """A registered model family.

    ``factory(config: RunConfig, dataset: Dataset, rngs: nnx.Rngs) -> nnx.Module``.
    """

    name: str
    config: type
    factory: str | Callable[..., Any]
    presets: Mapping[str, Preset] = field(default_factory=dict)
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)  # overrides applied before presets


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset. ``factory(data_config) -> genbench.data.Dataset``."""

    name: str
    config: type
    factory: str | Callable[..., Any]
    description: str = ""
    version: str = "1"  # bump when the data a config produces changes


@dataclass(frozen=True)
class MetricEntry:
    """A registered metric group, measured on every run whose model has what it needs.

    ``factory(model, dataset, view, eval_config, rng) -> (metrics, estimators)``;
    it returns empty dicts for a model that lacks the capability it measures.
    """

    name: str
    factory: str | Callable[..., Any]
    description: str = ""


@dataclass(frozen=True)
class SuiteEntry:
    """A registered suite: a TOML file of runs."""

    name: str
    path: Path
    description: str = ""


_MODELS: dict[str, ModelEntry] = {}
_DATASETS: dict[str, DatasetEntry] = {}
_SUITES: dict[str, SuiteEntry] = {}
_METRICS: dict[str, MetricEntry] = {}
_plugins_loaded = False


def register_model(entry: ModelEntry) -> ModelEntry:
    """Adds a model family; a name registered twice is an error."""
    _add(_MODELS, entry, "model")
    return entry


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Adds a dataset; a name registered twice is an error."""
    _add(_DATASETS, entry, "dataset")
    return entry


def register_suite(entry: SuiteEntry) -> SuiteEntry:
    """Adds a suite; a name registered twice is an error."""
    _add(_SUITES, entry, "suite")
    return entry


def register_metric(entry: MetricEntry) -> MetricEntry:
    """Adds a metric group; a name registered twice is an error."""
    _add(_METRICS, entry, "metric")
    return entry


def _add(table: dict, entry: Any, kind: str) -> None:
    if entry.name in table and table[entry.name] != entry:
        raise ValueError(f"{kind} {entry.name!r} is already registered")
    table[entry.name] = entry


def load_plugins() -> None:
    """Imports every ``genbench.plugins`` entry point once (idempotent)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    registry = importlib.import_module(__name__)
    for point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        loaded = point.load()
        if callable(loaded):
            loaded(registry)


def reset_plugins() -> None:
    """Forgets that plugins were loaded, so the next lookup scans entry points again (tests)."""
    global _plugins_loaded
    _plugins_loaded = False


def models() -> dict[str, ModelEntry]:
    """All registered model families, plugins included."""
    load_plugins()
    return dict(_MODELS)


def datasets() -> dict[str, DatasetEntry]:
    """All registered datasets, plugins included."""
    load_plugins()
    return dict(_DATASETS)


def suites() -> dict[str, SuiteEntry]:
    """All registered suites, plugins included."""
    load_plugins()
    return dict(_SUITES)


def metrics() -> dict[str, MetricEntry]:
    """All registered metric groups in registration order, plugins included."""
    load_plugins()
    return dict(_METRICS)


def get_model(name: str) -> ModelEntry:
    """The model entry called ``name``; ``UsageError`` listing the names otherwise."""
    return _lookup(models(), name, "model")


def get_dataset(name: str) -> DatasetEntry:
    """The dataset entry called ``name``; ``UsageError`` listing the names otherwise."""
    return _lookup(datasets(), name, "dataset")


def get_suite(name: str) -> SuiteEntry:
    """The suite entry called ``name``; ``UsageError`` listing the names otherwise."""
    return _lookup(suites(), name, "suite")


def _lookup(table: Mapping[str, Any], name: str, kind: str) -> Any:
    if name not in table:
        raise UsageError(f"unknown {kind} {name!r}; allowed: {choices(table)}")
    return table[name]


def resolve_factory(factory: str | Callable[..., Any]) -> Callable[..., Any]:
    """Imports a ``"module:function"`` factory (or returns a callable as it is)."""
    if callable(factory):
        return factory
    module, _, attr = factory.partition(":")
    return getattr(importlib.import_module(module), attr)


_SUITE_DIR = Path(__file__).parent / "suites"

register_model(
    ModelEntry(
        name="vae",
        config=model_configs.VAEConfig,
        factory="genbench.models.vae:build",
        description="VAE, Gaussian latent, Bernoulli or Gaussian MLP decoder",
        presets={
            "iwae": Preset(
                "Burda et al. 2015: encoder D-200-200-50 tanh, mirrored decoder",
                {
                    "model.hidden": (200, 200),
                    "model.latent_dim": 50,
                    "model.activation": "tanh",
                    "train.lr": 1e-3,
                    "train.b2": 0.999,
                    # 50 steps per compiled call: removes per-step dispatch (1.0x -> 1.2x torch)
                    "train.inner_steps": 50,
                },
            ),
            "linear": Preset(
                "linear Gaussian encoder and decoder (PPCA): closed-form log p(x)",
                {"model.linear": True, "model.decoder": "gaussian"},
            ),
        },
    )
)
register_model(
    ModelEntry(
        name="autoencoder",
        config=model_configs.AutoencoderConfig,
        factory="genbench.models.autoencoder:build",
        description="deterministic or denoising MLP autoencoder",
        presets={
            "denoising": Preset(
                "denoising autoencoder: masking noise, probability 0.25",
                {"model.noise": "mask", "model.noise_level": 0.25},
            ),
        },
    )
)

register_model(
    ModelEntry(
        name="naive_bayes",
        config=model_configs.NaiveBayesConfig,
        factory="genbench.models.naive_bayes:build",
        description="naive Bayes: closed-form or gradient fit",
        defaults={"train.fit": "exact"},
        presets={
            "categorical": Preset(
                "categorical features (grey-level digits: 17 values per pixel)",
                {"model.features": "categorical"},
            ),
            "gaussian": Preset("Gaussian features", {"model.features": "gaussian"}),
        },
    )
)

register_model(
    ModelEntry(
        name="hmm",
        config=model_configs.HMMConfig,
        factory="genbench.models.hmm:build",
        description="hidden Markov model, categorical or Gaussian emissions: EM or gradient fit",
        defaults={"train.fit": "em", "train.steps": 100, "train.restarts": 5},
    )
)

_SOURCES = "genbench.data.sources"
register_dataset(
    DatasetEntry("ring8", data_configs.Ring8Config, f"{_SOURCES}:ring8", "8 Gaussians on a circle")
)
register_dataset(
    DatasetEntry(
        "grid25", data_configs.Grid25Config, f"{_SOURCES}:grid25", "25 Gaussians on a 5x5 grid"
    )
)
register_dataset(
    DatasetEntry(
        "linear_gaussian",
        data_configs.LinearGaussianConfig,
        "genbench.data.linear_gaussian:linear_gaussian",
        "probabilistic-PCA source with closed-form log p(x)",
    )
)
register_dataset(
    DatasetEntry(
        "digits",
        data_configs.DigitsConfig,
        "genbench.data.digits:digits_grey",
        "scikit-learn 8x8 digits, grey levels 0..16",
    )
)
register_dataset(
    DatasetEntry(
        "digits_binary",
        data_configs.DigitsConfig,
        "genbench.data.digits:digits_binary",
        "scikit-learn 8x8 digits binarized at > 7",
    )
)
register_metric(
    MetricEntry(
        "likelihood",
        "genbench.metrics.likelihood:likelihood_metrics",
        "nll, bits_per_dim, elbo, kl_posterior_prior, iwae_bound_k*, nll_iwae_k*",
    )
)
register_metric(
    MetricEntry(
        "reconstruction",
        "genbench.metrics.reconstruction:reconstruction_metrics",
        "recon_bce or recon_mse",
    )
)
register_metric(
    MetricEntry(
        "classification",
        "genbench.metrics.classification:classification_metrics",
        "accuracy (models with a class-conditional log_joint, labelled data)",
    )
)
register_metric(
    MetricEntry(
        "source",
        "genbench.metrics.divergence:source_metrics",
        "entropy_source, kl_to_source (datasets with a known density)",
    )
)
register_metric(
    MetricEntry(
        "sample_quality",
        "genbench.metrics.sample_quality:sample_quality_metrics",
        "modes_captured, high_quality_frac, reverse_kl_modes (2-D mixtures), frechet_distance,"
        " precision, recall, log_prob_source_of_samples (models that sample)",
    )
)
register_dataset(
    DatasetEntry(
        "naive_bayes_source",
        data_configs.NaiveBayesSourceConfig,
        "genbench.data.naive_bayes_source:naive_bayes_source",
        "random naive-Bayes source, C=10, D=64 binary features (labelled)",
    )
)
register_dataset(
    DatasetEntry(
        "casino",
        data_configs.CasinoConfig,
        "genbench.data.hmm_sources:casino",
        "the occasionally dishonest casino HMM (2 states, 6 symbols)",
    )
)
register_dataset(
    DatasetEntry(
        "hmm_random",
        data_configs.RandomHMMConfig,
        "genbench.data.hmm_sources:random_hmm",
        "a random categorical HMM source (K states, M symbols)",
    )
)
register_dataset(
    DatasetEntry(
        "hmm_gaussian",
        data_configs.GaussianHMMConfig,
        "genbench.data.hmm_sources:gaussian_hmm",
        "a random sticky HMM source with Gaussian emissions (K states, D dims)",
    )
)
register_dataset(
    DatasetEntry(
        "file",
        data_configs.FileConfig,
        "genbench.data.files:file_dataset",
        "your own .npy or .csv array (--set data.path=FILE [data.sha256=...])",
    )
)
for _path in sorted(_SUITE_DIR.glob("*.toml")):
    register_suite(SuiteEntry(_path.stem, _path))
