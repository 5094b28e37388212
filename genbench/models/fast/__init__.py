"""Platform fast paths of the model files, and the one place that chooses them.

The model files are written in the canonical form (nanoGPT's ``model.py``,
the textbook VAE): ``jax.nn.dot_product_attention``, ``jax.nn.gelu``, plain
``nnx.Linear``, the optax cross-entropy. Some of those forms run slowly on
XLA:CPU, so this package holds drop-in implementations of them, one file an
idea, each measured in ``benchmarks/README.md`` and tested against the
canonical form it replaces (``tests/test_fast_paths.py``):

- ``attention``: causal attention computed heads-first, ``[N, H, T, D]``.
- ``gelu``: exact GELU with its derivative written out (custom VJP).
- ``bernoulli``: the Bernoulli log-likelihood with its gradient written out.
- ``dense``: a dense layer's product taken over flattened rows, ``[N * T, C]``.
- ``conv``: a convolution taken as one product of image patches with the flattened kernel.
- ``cpu_dots``: XLA:CPU's matrix-product library of the compiled training step.

A model file marks a function that may be replaced with ``replaceable(name)``
and keeps calling it by its canonical name; ``implementation`` decides here,
from the JAX platform, which body runs when the function is traced.
``FAST_PATHS`` is the whole choice: on CPU every fast path, elsewhere none (the
measurements are XLA:CPU's). ``train_defaults`` gives the per-family
``train.cpu_dots`` defaults that the model registry declares.

Importing this package does not import jax (the CLI reads ``train_defaults``
before jax is imported); the fast paths are imported when first chosen.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

# platform -> {canonical name -> "module:function" of the fast path that replaces it}
FAST_PATHS: dict[str, dict[str, str]] = {
    "cpu": {
        "causal_attention": "genbench.models.fast.attention:heads_first_causal_attention",
        "gelu": "genbench.models.fast.gelu:gelu_with_written_vjp",
        "bernoulli_log_prob": "genbench.models.fast.bernoulli:bernoulli_log_prob_with_written_grad",
        "dense_product": "genbench.models.fast.dense:dot_general_on_rows",
        "attend": "genbench.models.fast.dense:attend_on_rows",
        "conv_product": "genbench.models.fast.conv:conv_on_patches",
    },
}

# model family -> the ``train.cpu_dots`` default of its registry entry. Small dense
# networks train faster with Eigen's dots than YNNPACK's on CPU (benchmarks/README.md:
# VAE and GAN benchmark steps 7-16% faster on 2 cores; the smoke suite's VAE and
# autoencoder runs between 2% slower and 10% faster); the transformer's larger products
# were 4-9% slower with Eigen, so it keeps XLA's default.
CPU_DOTS_BY_FAMILY: dict[str, str] = {"vae": "eigen", "autoencoder": "eigen", "gan": "eigen"}


def train_defaults(family: str) -> dict[str, Any]:
    """The ``train.*`` defaults that ``family``'s registry entry takes from this module.

    Args:
      family: a registered model name.

    Returns:
      ``{"train.cpu_dots": library}`` where the family has a CPU dot library, else ``{}``.
    """
    library = CPU_DOTS_BY_FAMILY.get(family)
    return {} if library is None else {"train.cpu_dots": library}


def current_platform() -> str:
    """The platform JAX computes on by default (``"cpu"``, ``"gpu"``, ``"tpu"``)."""
    import jax

    return jax.default_backend()


@functools.cache
def _load(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def implementation(name: str, canonical: Callable, platform: str | None = None) -> Callable:
    """The function that models on ``platform`` run for the canonical function ``name``.

    Args:
      name: the canonical function's name, as ``replaceable`` was given it.
      canonical: the canonical function (what runs where no fast path is chosen).
      platform: a JAX platform; None: ``current_platform()``.

    Returns:
      The fast path that ``FAST_PATHS`` lists for ``name`` on ``platform``, else ``canonical``.
    """
    target = FAST_PATHS.get(platform or current_platform(), {}).get(name)
    return canonical if target is None else _load(target)


def replaceable(name: str) -> Callable[[Callable], Callable]:
    """Marks a model file's canonical function as one that a fast path may replace.

    The decorated function keeps its name, signature and docstring; each call
    (a trace, under ``jit``) runs ``implementation(name, canonical)``. The
    canonical body stays reachable as ``.canonical``, for tests.

    Args:
      name: the key of the function in ``FAST_PATHS``.
    """

    def mark(canonical: Callable) -> Callable:
        @functools.wraps(canonical)
        def chosen(*args, **kwargs):
            return implementation(name, canonical)(*args, **kwargs)

        chosen.canonical = canonical
        chosen.fast_path_name = name
        return chosen

    return mark
