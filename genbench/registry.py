"""Models, datasets and suites by name; third-party plugins via entry points.

Entries hold their config dataclass and a *lazy* factory (``"module:function"``
or a callable), so listing and validating names never imports jax. A plugin
package declares, in its metadata::

    [project.entry-points."genbench.plugins"]
    mymodels = "mypackage.genbench_plugin:register"

and ``register(registry)`` calls ``registry.register_model(...)`` etc. (an
entry point that is not callable only needs importing, for modules that
register themselves).

Registration checks what it can without importing a factory: the
``"module:function"`` syntax, the config dataclass, a name registered twice
(``PluginError``). Each plugin loads in a guard and all or nothing: a plugin
whose module fails to import or whose ``register`` raises leaves the built-ins
and the other plugins as they were, and its one-line reason is kept in
``plugin_problems()``. A factory that does not import raises ``PluginError``
when it is first resolved, naming the entry and its distribution.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
from collections.abc import Callable, Mapping
from typing import Any

from genbench.entries import (  # the entry classes are part of this module's API
    ENTRY_TYPES,
    DatasetEntry,
    MetricEntry,
    ModelEntry,
    Plugin,
    SuiteEntry,
    check_entry,
    check_factory_syntax,
)
from genbench.errors import PluginError, UsageError, choices

PLUGIN_GROUP = "genbench.plugins"
BUILTIN_DATASET_VERSION = "1"


_MODELS: dict[str, ModelEntry] = {}
_DATASETS: dict[str, DatasetEntry] = {}
_SUITES: dict[str, SuiteEntry] = {}
_METRICS: dict[str, MetricEntry] = {}
_plugins_loaded = False
_LOADED: list[Plugin] = []  # plugins whose registration succeeded
_PROBLEMS: list[str] = []  # one line per plugin that failed to load
_registering: Plugin | None = None  # the plugin whose entry point is running


def register_model(entry: ModelEntry) -> ModelEntry:
    """Adds a model family (see ``_add`` for the checks); returns the entry as stored."""
    return _add(_MODELS, entry, "model")


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Adds a dataset (see ``_add`` for the checks); returns the entry as stored."""
    return _add(_DATASETS, entry, "dataset")


def register_suite(entry: SuiteEntry) -> SuiteEntry:
    """Adds a suite (see ``_add`` for the checks); returns the entry as stored."""
    return _add(_SUITES, entry, "suite")


def register_metric(entry: MetricEntry) -> MetricEntry:
    """Adds a metric group (see ``_add`` for the checks); returns the entry as stored."""
    return _add(_METRICS, entry, "metric")


def _add(table: dict, entry: Any, kind: str) -> Any:
    """Stamps ``entry`` with its plugin and version, checks it, and stores it.

    Raises:
      PluginError: a malformed factory or config, or a name that another
        entry already holds (registering an equal entry again is allowed).
    """
    entry = _stamped(entry)
    check_entry(entry, kind)
    existing = table.get(entry.name)
    if existing is not None and existing != entry:
        raise PluginError(
            f"{kind} {entry.name!r} is already registered by {_origin(existing)}; "
            f"a plugin must choose another name"
        )
    table[entry.name] = entry
    return entry


def _stamped(entry: Any) -> Any:
    """``entry`` with ``plugin`` set to the registering distribution and a default version."""
    changes: dict[str, Any] = {}
    if _registering is not None:
        changes["plugin"] = _registering.distribution
    if getattr(entry, "version", "") is None:
        if _registering is not None:
            changes["version"] = _registering.version
        elif isinstance(entry, DatasetEntry):
            changes["version"] = BUILTIN_DATASET_VERSION
    return dataclasses.replace(entry, **changes) if changes else entry


def _origin(entry: Any) -> str:
    return f"plugin {entry.plugin}" if entry.plugin else "genbench"


def describe(entry: Any, kind: str) -> str:
    """``model 'x'`` or ``model 'x' (plugin dist 1.0)``: how errors name an entry."""
    if not entry.plugin:
        return f"{kind} {entry.name!r}"
    versions = [p.version for p in _LOADED if p.distribution == entry.plugin]
    return f"{kind} {entry.name!r} (plugin {' '.join([entry.plugin, *versions[:1]])})"


def load_plugins() -> None:
    """Loads every ``genbench.plugins`` entry point once (idempotent), each in a guard.

    A plugin that fails (its module does not import, its ``register`` raises,
    or it registers a bad or taken name) is rolled back, so the built-ins and
    the other plugins keep working, and its one-line reason is added to
    ``plugin_problems()``.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        plugin = _plugin_of(point)
        problem = _load_entry_point(point, plugin)
        if problem is not None:
            _PROBLEMS.append(problem)
        elif plugin.distribution not in {p.distribution for p in _LOADED}:
            _LOADED.append(plugin)


def _plugin_of(point: importlib.metadata.EntryPoint) -> Plugin:
    dist = getattr(point, "dist", None)
    name = dist.metadata["Name"] if dist is not None else None
    version = dist.version if dist is not None else None
    return Plugin(name or f"?{point.value}", version or "0", f"{point.name} = {point.value}")


def _tables() -> tuple[dict, ...]:
    return (_MODELS, _DATASETS, _SUITES, _METRICS)


def _load_entry_point(point: importlib.metadata.EntryPoint, plugin: Plugin) -> str | None:
    """Runs one entry point; on failure restores the tables and returns why (one line)."""
    global _registering
    saved = [(table, dict(table)) for table in _tables()]
    _registering = plugin
    try:
        loaded = point.load()
        if callable(loaded):
            loaded(importlib.import_module(__name__))
    except Exception as error:  # any failure of third-party code: that plugin only
        for table, contents in saved:
            table.clear()
            table.update(contents)
        return (
            f"plugin {plugin.distribution} {plugin.version} (entry point {plugin.entry_point}) "
            f"not loaded: {_one_line(error)}"
        )
    finally:
        _registering = None
    return None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if isinstance(error, UsageError) else f"{type(error).__name__}: {text}"


def reset_plugins() -> None:
    """Forgets the plugins and their entries, so the next lookup scans entry points again.

    For tests that install, upgrade or break a plugin within one process.
    """
    global _plugins_loaded
    _plugins_loaded = False
    for table in _tables():
        for name in [name for name, entry in table.items() if entry.plugin is not None]:
            del table[name]
    _LOADED.clear()
    _PROBLEMS.clear()


def plugin_problems() -> list[str]:
    """One line per plugin entry point that failed to load (the CLI prints them as warnings)."""
    load_plugins()
    return list(_PROBLEMS)


def loaded_plugins() -> list[dict[str, str]]:
    """The loaded plugin distributions, ``[{"distribution", "version"}]`` (``env.plugins``)."""
    load_plugins()
    return [{"distribution": p.distribution, "version": p.version} for p in _LOADED]


def plugin_versions(model: str, dataset: str) -> dict[str, str]:
    """The versions of the plugin entries a run uses: its model, its dataset, every metric.

    Built-in entries are left out, so a run of built-ins has the same run key
    with or without this; a plugin upgrade changes the keys of the runs it touches.

    Returns:
      ``{"model NAME": version, "dataset NAME": version, "metric NAME": version}``
      for the entries that come from plugins.
    """
    entries = [("model", get_model(model)), ("dataset", get_dataset(dataset))]
    entries += [("metric", entry) for entry in metrics().values()]
    return {f"{kind} {e.name}": str(e.version) for kind, e in entries if e.plugin is not None}


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
        # The name may be one that a plugin that failed to load would have provided.
        failed = "".join(f"; {problem}" for problem in _PROBLEMS)
        raise UsageError(f"unknown {kind} {name!r}; allowed: {choices(table)}{failed}")
    return table[name]


def model_classes(entry: ModelEntry) -> list[type]:
    """The classes ``entry.classes`` names, imported (this imports the model's modules)."""
    return [resolve_factory(name) for name in entry.classes]


def resolve_factory(factory: Any) -> Callable[..., Any]:
    """The callable of a factory, importing a ``"module:function"`` string.

    Args:
      factory: a registry entry (errors then name it and its plugin), a
        ``"module:function"`` string, or a callable (returned as it is).

    Raises:
      PluginError: the module does not import, lacks the function, or it is not callable.
    """
    where = "factory"
    if type(factory) in ENTRY_TYPES:
        where = describe(factory, ENTRY_TYPES[type(factory)])
        factory = factory.factory
    if callable(factory):
        return factory
    check_factory_syntax(factory, where)
    module_name, _, attr = factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # a plugin's module may fail in any way while importing
        raise PluginError(
            f"{where}: factory {factory!r} does not import: {_one_line(error)}"
        ) from None
    function = getattr(module, attr, None)
    if not callable(function):
        problem = "has no" if function is None else "has a non-callable"
        raise PluginError(
            f"{where}: factory {factory!r}: module {module_name!r} {problem} {attr!r}"
        )
    return function


# The built-in models, datasets, metric groups and suites register themselves here.
from genbench import builtins as _builtins  # noqa: E402, F401
