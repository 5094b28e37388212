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
from genbench.errors import UsageError, choices

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
    # "module:Class" of each class the factory may return, so `genbench list models` can show
    # their capabilities (genbench.contract) without building a model.
    classes: tuple[str, ...] = ()


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


def model_classes(entry: ModelEntry) -> list[type]:
    """The classes ``entry.classes`` names, imported (this imports the model's modules)."""
    return [resolve_factory(name) for name in entry.classes]


def resolve_factory(factory: str | Callable[..., Any]) -> Callable[..., Any]:
    """Imports a ``"module:function"`` factory (or returns a callable as it is)."""
    if callable(factory):
        return factory
    module, _, attr = factory.partition(":")
    return getattr(importlib.import_module(module), attr)


# The built-in models, datasets, metric groups and suites register themselves here.
from genbench import builtins as _builtins  # noqa: E402, F401
