"""The contract: what a model or a dataset can do, written down once.

Each capability of DESIGN §2 is a ``Protocol`` (``genbench.contract.models`` for
models, ``genbench.contract.datasets`` for datasets), with the method (or
attribute) that unlocks it and what it must return. ``capabilities(model)`` and
``dataset_capabilities(dataset)`` say which of them an object has; the runner,
the shared step, the metrics and ``genbench list models`` ask these functions
(or the typed accessors) and never probe attribute names themselves. A model
declares a capability simply by having the method: no base class, no
registration.

This package sits at the bottom of the import graph: it imports nothing of
genbench, and nothing heavier than ``typing`` at import time, so ``genbench list``
can read a model class's capabilities without importing jax.

Conventions shared by every method:
  - arrays are ``jax.Array``; ``x`` is a batch ``[N, ...]`` in the model's
    input view (``input_kind``), already flattened to ``[N, D]`` for
    non-sequence data;
  - log-likelihoods are in nats, one value per example (``[N]``);
  - ``rng`` is a ``jax.random`` key; models draw no randomness of their own
    (no ``nnx.Rngs`` inside a method), so a run is reproducible.
"""

from genbench.contract.datasets import *  # noqa: F403
from genbench.contract.datasets import __all__ as _datasets
from genbench.contract.models import *  # noqa: F403
from genbench.contract.models import __all__ as _models

__all__ = [*_models, *_datasets]
