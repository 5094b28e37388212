"""genbench: one training step and one evaluation harness for every generative family.

The public API is re-exported lazily, so ``import genbench`` (and the CLI's
argument checks) do not import jax.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "RunConfig": "genbench.config",
    "TrainConfig": "genbench.config",
    "EvalConfig": "genbench.config",
    "Preset": "genbench.config",
    "apply_overrides": "genbench.config",
    "UsageError": "genbench.errors",
    "PluginError": "genbench.errors",
    "ModelEntry": "genbench.registry",
    "DatasetEntry": "genbench.registry",
    "MetricEntry": "genbench.registry",
    "SuiteEntry": "genbench.registry",
    "register_model": "genbench.registry",
    "register_dataset": "genbench.registry",
    "register_metric": "genbench.registry",
    "register_suite": "genbench.registry",
    "RunSpec": "genbench.spec",
    "resolve": "genbench.spec",
    "load_suite": "genbench.spec",
    "run": "genbench.runner",
    "RunRecord": "genbench.results.record",
    "fit": "genbench.train.fit",
    "make_train_step": "genbench.train.step",
    "evaluate": "genbench.metrics.evaluate",
    "Dataset": "genbench.data.base",
    "Source": "genbench.data.base",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'genbench' has no attribute {name!r}")
