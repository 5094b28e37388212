"""Sample quality of any model that can ``sample(rng, n)``: VAEs, autoencoders, GANs alike.

Metrics (DESIGN §5), each where the dataset supports it:

- Gaussian-mixture datasets (``ring8``, ``grid25``, any dataset that sets
  ``mode_means`` and ``mode_std``): ``modes_captured``,
  ``high_quality_frac`` (+ ``_se``), ``reverse_kl_modes`` on ``MODE_SAMPLES``
  = 2500 samples (``modes_n``); see ``genbench.metrics.modes``.
- Labelled datasets (features of a fixed cached classifier, see
  ``genbench.metrics.features``) and unlabelled continuous data of at most
  ``RAW_FEATURE_MAX_DIM`` dimensions (raw coordinates as features):
  ``frechet_distance`` and improved ``precision`` / ``recall`` (k = 3) of n
  samples against the n examples of the test split (capped by
  ``eval.max_examples``), with ``frechet_distance_n`` and ``precision_recall_n``
  = n, since both are biased in n.
- Non-sequence sources with an exact density: ``log_prob_source_of_samples``
  = (1/N) sum_i log p(x_i), x_i ~ q (the model), with its standard error over
  the N = ``eval.source_samples`` samples. It rewards precision only (a model
  stuck on one mode scores well); read it beside ``kl_to_source``.

Samples come in the model's view of the data; under a dequantising view
(x -> (x + u) / L) they are quantised back to data values, x = clip(floor(L s),
0, L - 1), before any metric, so every metric compares data-space examples.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genbench import contract
from genbench.metrics.batching import compiled, test_examples
from genbench.metrics.features import feature_extractor
from genbench.metrics.frechet import frechet_distance
from genbench.metrics.modes import MODE_SAMPLES, mixture_mode_metrics
from genbench.metrics.precision_recall import NEIGHBOURS, precision_recall
from genbench.stats import mean_and_se

RAW_FEATURE_MAX_DIM = 64  # unlabelled continuous data up to this size: raw coordinates as features


def draw_samples(model: nnx.Module, rng: jax.Array, n: int, batch_size: int) -> np.ndarray:
    """``n`` samples of ``model`` as a host array, drawn ``batch_size`` at a time (one program).

    Args:
      model: NNX module with ``sample(rng, n)``.
      rng: PRNG key; batch i uses ``fold_in(rng, i)``.
      n: number of samples.
      batch_size: samples per compiled call.

    Returns:
      ``[n, ...]`` samples in the model's view space.
    """
    graphdef, state = nnx.split(model)
    size = max(1, min(batch_size, n))
    sample = compiled(_sample, graphdef, lambda: jax.jit(_sample, static_argnums=(0, 3)), size)
    sample = functools.partial(sample, graphdef)
    parts = [sample(state, jax.random.fold_in(rng, i), size) for i in range(math.ceil(n / size))]
    return np.concatenate(jax.device_get(parts))[:n]


def _sample(graphdef, state, key: jax.Array, size: int) -> jax.Array:
    return nnx.merge(graphdef, state).sample(key, size)


def to_data_space(samples: np.ndarray, dataset, view) -> np.ndarray:
    """Maps model-view samples back to the dataset's values, flattened to ``[n, D]``.

    A dequantising view maps a data value x in {0..L-1} to (x + u) / L; its
    inverse on samples is floor(L s), clipped to the L levels. Other views are
    the identity.
    """
    flat = np.asarray(samples, np.float32).reshape(len(samples), -1)
    if not view.dequantized:
        return flat
    levels = 2 if dataset.kind == "binary" else dataset.levels
    return np.clip(np.floor(flat * levels), 0, levels - 1).astype(np.float32)


def _feature_map(dataset):
    """The feature map of FD and precision/recall for ``dataset``, or None where none applies."""
    if contract.is_labelled(dataset) and dataset.num_classes > 1:
        return feature_extractor(dataset)
    if dataset.kind == "continuous" and dataset.event_size <= RAW_FEATURE_MAX_DIM:
        return lambda x: np.asarray(x, np.float64).reshape(len(x), -1)
    return None


def sample_quality_metrics(model, dataset, view, eval_cfg, rng: jax.Array):
    """The sample-quality metric group: mode metrics, FD, precision/recall, source log-density.

    Args:
      model: NNX module; measured only if it has ``sample(rng, n)``.
      dataset: the ``Dataset`` (or ``Source``).
      view: the model's ``DataView`` of the dataset.
      eval_cfg: the ``eval`` section (``batch_size``, ``max_examples``, ``source_samples``).
      rng: PRNG key.

    Returns:
      ``(metrics, estimators)``; empty for a model without ``sample`` or a
      dataset none of the metrics applies to (sequences).
    """
    if not contract.has(model, "sample") or dataset.kind == "sequence":
        return {}, {}
    mixture = "mode_mixture" in contract.dataset_capabilities(dataset)
    features = _feature_map(dataset)
    reference = test_examples(dataset, eval_cfg).reshape(-1, dataset.event_size)
    if features is not None and len(reference) <= NEIGHBOURS:
        features = None
    source = contract.is_source(dataset)
    sizes = [
        MODE_SAMPLES if mixture else 0,
        len(reference) if features is not None else 0,
        eval_cfg.source_samples if source else 0,
    ]
    n = max(sizes)
    if n == 0:
        return {}, {}
    samples = to_data_space(draw_samples(model, rng, n, eval_cfg.batch_size), dataset, view)
    if samples.shape[1] != dataset.event_size:
        raise ValueError(
            f"{type(model).__name__}.sample gives examples of size {samples.shape[1]}, "
            f"but dataset {dataset.name!r} has examples of size {dataset.event_size}"
        )
    metrics: dict[str, float | None] = {}
    estimators: dict[str, str] = {}
    if mixture:
        metrics |= mixture_mode_metrics(samples[:MODE_SAMPLES], dataset)
    if features is not None:
        m = len(reference)
        fake, real = features(samples[:m]), features(reference)
        metrics["frechet_distance"] = frechet_distance(fake, real)
        metrics["frechet_distance_n"] = float(m)
        metrics["precision"], metrics["recall"] = precision_recall(real, fake)
        metrics["precision_recall_n"] = float(m)
    if source:
        x = samples[: eval_cfg.source_samples].reshape(-1, *dataset.event_shape)
        log_p = np.asarray(jax.jit(dataset.log_prob)(jnp.asarray(x)), np.float64)
        mean, se = mean_and_se(log_p)
        metrics["log_prob_source_of_samples"] = mean
        metrics["log_prob_source_of_samples_se"] = se
        estimators["log_prob_source_of_samples"] = "exact"
    return metrics, estimators
