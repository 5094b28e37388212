"""How a model sees a dataset: dequantisation of discrete data under a continuous density.

A model declares ``input_kind``: ``"binary"`` (a Bernoulli likelihood) or
``"continuous"`` (a density on R^D). Discrete data with L levels under a
continuous density is dequantised, x -> (x + u) / L with u ~ U[0, 1)^D, and
the log-Jacobian -D log L is added to log-densities so that the reported
likelihood is a (stochastic lower bound on the) probability of the discrete
data, as in the flow literature (Theis et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax

from genbench import contract
from genbench.data.base import Dataset
from genbench.errors import UsageError


@dataclass(frozen=True)
class DataView:
    """The transform from a dataset's values to a model's inputs.

    Attributes:
      transform: ``(x, rng) -> model input``, traced inside compiled code.
      log_jacobian: nats to add to a model's log-density of the transformed
        example to get the log-probability of the original example.
      dequantized: whether ``transform`` is random: it adds uniform noise, or draws a
        fresh binarization (``dynamic_binarization``).
    """

    transform: Callable[[jax.Array, jax.Array], jax.Array]
    log_jacobian: float
    dequantized: bool


def _identity(x: jax.Array, rng: jax.Array) -> jax.Array:
    del rng
    return x


def _binarize(p: jax.Array, rng: jax.Array) -> jax.Array:
    """x ~ Bernoulli(p), elementwise: a fresh binarization of probabilities ``p``."""
    return (jax.random.uniform(rng, p.shape, p.dtype) < p).astype(p.dtype)


def _dynamic_binary_view(dataset: Dataset, input_kind: str) -> DataView:
    """The view of a dataset of pixel probabilities that each presentation binarizes afresh.

    A binary model reads the draw; a continuous density reads it dequantised,
    (x + u) / 2, with the log-Jacobian -D log 2 (two levels).
    """
    if input_kind == "binary":
        return DataView(_binarize, 0.0, True)
    if input_kind == "continuous":

        def binarize_and_dequantize(p: jax.Array, rng: jax.Array) -> jax.Array:
            k_draw, k_noise = jax.random.split(rng)
            x = _binarize(p, k_draw)
            return (x + jax.random.uniform(k_noise, x.shape, x.dtype)) / 2

        return DataView(binarize_and_dequantize, -dataset.event_size * math.log(2), True)
    raise UsageError(
        f"a model with {input_kind} inputs cannot model binary dataset {dataset.name!r}"
    )


def data_view(dataset: Dataset, input_kind: str) -> DataView:
    """The view of ``dataset`` for a model whose inputs are of ``input_kind``.

    Raises:
      UsageError: the model cannot model this kind of data.
    """
    kind = dataset.kind
    if kind == "binary" and contract.binarizes_dynamically(dataset):
        return _dynamic_binary_view(dataset, input_kind)
    if input_kind == kind or (input_kind == "continuous" and kind == "continuous"):
        return DataView(_identity, 0.0, False)
    if input_kind == "continuous" and kind in ("binary", "discrete"):
        levels = 2 if kind == "binary" else dataset.levels

        def dequantize(x: jax.Array, rng: jax.Array) -> jax.Array:
            return (x + jax.random.uniform(rng, x.shape, x.dtype)) / levels

        return DataView(dequantize, -dataset.event_size * math.log(levels), True)
    raise UsageError(
        f"a model with {input_kind} inputs cannot model {kind} dataset {dataset.name!r}"
        + (
            "; binarize it (e.g. digits_binary) or use continuous inputs"
            if input_kind == "binary"
            else ""
        )
    )
