"""The registry's entries: what a model, dataset, metric group or suite registers, and
the checks of an entry that need no import (``genbench.registry`` re-exports the classes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genbench.config import Preset
from genbench.errors import PluginError


@dataclass(frozen=True)
class ModelEntry:
    """A registered model family.

    ``factory(config: RunConfig, dataset: Dataset, rngs: nnx.Rngs) -> nnx.Module``.
    ``version`` enters the run key of a plugin's entry (default: the plugin
    distribution's version); ``plugin`` is the distribution, set on registration.
    """

    name: str
    config: type
    factory: str | Callable[..., Any]
    presets: Mapping[str, Preset] = field(default_factory=dict)
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)  # overrides applied before presets
    version: str | None = None
    plugin: str | None = None
    # "module:Class" of each class the factory may return, so `genbench list models` can show
    # their capabilities (genbench.contract) without building a model.
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset. ``factory(data_config) -> genbench.data.Dataset``.

    ``version``: bump it when the data a config produces changes (it is in the
    run key). Default: ``"1"`` for a built-in, the distribution's version for a
    plugin's dataset.
    """

    name: str
    config: type
    factory: str | Callable[..., Any]
    description: str = ""
    version: str | None = None
    plugin: str | None = None


@dataclass(frozen=True)
class MetricEntry:
    """A registered metric group, measured on every run whose model has what it needs.

    ``factory(model, dataset, view, eval_config, rng) -> (metrics, estimators)``;
    it returns empty dicts for a model that lacks the capability it measures.
    A plugin's metric ``version`` (default: the distribution's) is in every run key.

    ``seeds_factory(models, dataset, view, eval_config, rngs) -> [(metrics,
    estimators)]``, where a group has one, measures the trained models of a seed group
    at once (``--parallel-seeds``: one vmapped program per function), giving each seed
    what ``factory`` gives it alone; without one, the seeds are measured one by one.
    """

    name: str
    factory: str | Callable[..., Any]
    description: str = ""
    version: str | None = None
    plugin: str | None = None
    seeds_factory: str | Callable[..., Any] | None = None


@dataclass(frozen=True)
class SuiteEntry:
    """A registered suite: a TOML file of runs."""

    name: str
    path: Path
    description: str = ""
    plugin: str | None = None


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin distribution and the entry point that registered it."""

    distribution: str
    version: str
    entry_point: str = ""


ENTRY_TYPES = {ModelEntry: "model", DatasetEntry: "dataset", MetricEntry: "metric"}


def check_entry(entry: Any, kind: str) -> None:
    """The checks that need no import: name, config dataclass, factory syntax."""
    if not isinstance(entry.name, str) or not entry.name or entry.name != entry.name.strip():
        raise PluginError(f"a {kind} name must be a non-empty string, got {entry.name!r}")
    config = getattr(entry, "config", None)
    if kind in ("model", "dataset") and not (
        isinstance(config, type) and dataclasses.is_dataclass(config)
    ):
        raise PluginError(f"{kind} {entry.name!r}: config must be a dataclass type, got {config!r}")
    if kind != "suite":
        check_factory_syntax(entry.factory, f"{kind} {entry.name!r}")
    if kind == "metric" and entry.seeds_factory is not None:
        check_factory_syntax(entry.seeds_factory, f"{kind} {entry.name!r}")


def check_factory_syntax(factory: Any, where: str) -> None:
    """Checks that ``factory`` is a callable or ``"package.module:function"`` (no import).

    Args:
      factory: the entry's factory.
      where: how the error names the entry, e.g. ``model 'toy'``.

    Raises:
      PluginError: neither a callable nor a colon between dotted identifiers.
    """
    if callable(factory):
        return
    module, colon, attr = factory.partition(":") if isinstance(factory, str) else ("", "", "")
    parts = [*module.split("."), attr]
    if not colon or not all(part.isidentifier() for part in parts):
        raise PluginError(
            f"{where}: factory {factory!r} must be a callable or 'module:function', "
            f"e.g. 'mypackage.models:build'"
        )
