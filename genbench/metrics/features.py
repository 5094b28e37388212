"""A fixed feature space for sample-quality metrics: a small classifier, trained once and cached.

Fréchet distance and precision/recall compare feature statistics, so the
features must be the same for every model and run. genbench trains a small
ReLU classifier D -> 128 -> 64 -> C (``FeatureClassifier``, built from
``genbench.models.nets.MLP``) on a labelled dataset's standardised training
split with the shared training step (``genbench.train.fit``): AdamW for
``STEPS`` steps of ``BATCH`` examples (the whole split when it is smaller, as
for digits), all in one compiled call on one local device, from a fixed seed,
so it is deterministic. Its penultimate layer (64 ReLU units) is the feature
map, as FID uses Inception-v3's pool features on images.

The parameters are cached on disk as an ``.npz`` (no pickles), keyed by the
dataset name, the classifier seed and a SHA-256 of the training data, labels
and classifier hyper-parameters, under ``genbench.cache.cache_dir("features")``.
The file is written atomically (``genbench.atomic``), and an unreadable or
inconsistent file is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from genbench import contract
from genbench.atomic import atomic_write
from genbench.cache import cache_dir
from genbench.config import TrainConfig
from genbench.data.base import Dataset
from genbench.models.nets import MLP, training_flops
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

# v2: trained by the shared step (v1: a hand-rolled loop and He-uniform initialisation).
FORMAT_VERSION = 2  # bump when training or the file layout changes (a new cache key)
HIDDEN = (128, 64)  # hidden widths; the last one is the feature dimension
STEPS = 500  # AdamW steps
BATCH = 2048  # examples per step: the full split when it is smaller (digits)
LR = 3e-3  # AdamW learning rate
WEIGHT_DECAY = 1e-4  # decoupled weight decay on the weight matrices
CLASSIFIER_SEED = 0  # the suite's fixed classifier seed (not the run seed)
_PARAM = "param/"  # prefix of the parameter arrays in the cache file


class FeatureClassifier(nnx.Module):
    """A ReLU MLP classifier whose last hidden layer is the feature map.

    Trained by the shared step on ``(x, labels)`` batches (``uses_labels``) with
    softmax cross-entropy.

    Args:
      dim: input size D (flat, standardised examples).
      num_classes: C.
      rngs: initialisation PRNGs.
    """

    uses_labels = True
    input_kind = "continuous"

    def __init__(self, dim: int, num_classes: int, *, rngs: nnx.Rngs):
        self.body = MLP((dim, *HIDDEN), "relu", rngs=rngs)
        self.head = nnx.Linear(HIDDEN[-1], num_classes, rngs=rngs)
        self.num_classes = num_classes

    def features(self, x: jax.Array) -> jax.Array:
        """The penultimate layer ``[N, HIDDEN[-1]]`` of inputs ``[N, D]``."""
        return jax.nn.relu(self.body(x))

    def logits(self, x: jax.Array) -> jax.Array:
        """Class logits ``[N, C]``."""
        return self.head(self.features(x))

    def loss(self, batch, rng: jax.Array):
        """Mean softmax cross-entropy of a ``(x, labels)`` batch, for the shared step."""
        del rng
        x, labels = batch
        loss = optax.softmax_cross_entropy_with_integer_labels(self.logits(x), labels).mean()
        return {"params": loss}, {}

    def flops_per_example(self) -> int:
        """Training FLOPs of one example (forward and backward)."""
        return training_flops(self.body.macs() + HIDDEN[-1] * self.num_classes)


@nnx.jit
def _features(model: FeatureClassifier, x: jax.Array) -> jax.Array:
    return model.features(x)


@nnx.jit
def _predict(model: FeatureClassifier, x: jax.Array) -> jax.Array:
    return jnp.argmax(model.logits(x), axis=-1)


@dataclass
class FeatureExtractor:
    """The penultimate layer of a trained classifier, as a map from data-space examples.

    Attributes:
      model: the trained ``FeatureClassifier``.
      shift, scale: input standardisation, x -> (x - shift) / scale.
      train_accuracy: the classifier's accuracy on its training split.
      path: the cache file (None for a classifier that is not cached).
      from_cache: whether the parameters were read from the cache (not trained now).
    """

    model: FeatureClassifier
    shift: np.ndarray
    scale: float
    train_accuracy: float
    path: Path | None
    from_cache: bool

    def _standardise(self, x: np.ndarray) -> jax.Array:
        return jnp.asarray(
            (np.asarray(x, np.float32).reshape(len(x), -1) - self.shift) / self.scale
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Features ``[N, 64]`` of flat data-space examples ``x`` ``[N, D]``."""
        return np.asarray(_features(self.model, self._standardise(x)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted classes ``[N]`` of data-space examples."""
        return np.asarray(_predict(self.model, self._standardise(x)))


def _named_params(state: nnx.State) -> dict[str, nnx.Variable]:
    """The parameters of ``state`` by name, ``param/<path>`` (e.g. ``param/head/kernel``)."""
    return {_PARAM + "/".join(map(str, p)): v for p, v in nnx.to_flat_state(state)}


def _flat_params(model: FeatureClassifier) -> dict[str, np.ndarray]:
    """The parameters as named host arrays (the cache file's layout)."""
    named = _named_params(nnx.state(model, nnx.Param))
    return {name: np.asarray(v.get_value()) for name, v in named.items()}


def _with_params(dim: int, num_classes: int, arrays: dict[str, np.ndarray]) -> FeatureClassifier:
    """A classifier holding the named parameter arrays of ``arrays``."""
    model = FeatureClassifier(dim, num_classes, rngs=nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    for name, variable in _named_params(state).items():
        variable.set_value(jnp.asarray(arrays[name]))
    nnx.update(model, state)
    return model


def _train(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int) -> dict[str, np.ndarray]:
    """Trains a ``FeatureClassifier`` on standardised ``x`` with the shared step.

    Args:
      x: ``[N, D]`` float32 standardised training examples.
      y: ``[N]`` integer labels.
      num_classes: C.
      seed: initialisation and data-order seed.

    Returns:
      The trained parameters (``_flat_params``).

    Raises:
      RuntimeError: the loss or a gradient became non-finite.
    """
    model = FeatureClassifier(x.shape[1], num_classes, rngs=nnx.Rngs(seed))
    labels = np.asarray(y, np.int32)
    data = Dataset("feature-classifier", x, x[:1], "continuous", 0, labels, labels[:1], num_classes)
    train = TrainConfig(
        steps=STEPS,
        batch_size=min(len(x), BATCH),
        inner_steps=STEPS,  # one compiled call
        optimizer="adamw",
        lr=LR,
        weight_decay=WEIGHT_DECAY,
    )
    # One local device: the same program, and so the same features, however a run is sharded.
    mesh = data_mesh(jax.local_devices()[:1])
    result = fit(model, data, lambda batch, rng: batch, train, seed, mesh)
    if result.failure is not None:
        raise RuntimeError(f"the feature classifier diverged: {result.failure}")
    return _flat_params(model)


def _cache_key(name: str, x: np.ndarray, y: np.ndarray, num_classes: int, seed: int) -> str:
    digest = hashlib.sha256()
    meta = dict(v=FORMAT_VERSION, hidden=HIDDEN, steps=STEPS, batch=BATCH, lr=LR, wd=WEIGHT_DECAY)
    meta["classes"] = num_classes
    digest.update(json.dumps(meta, sort_keys=True).encode())
    for array in (np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.int64)):
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return f"{safe}-seed{seed}-{digest.hexdigest()[:20]}.npz"


def _expected_shapes(dim: int, num_classes: int) -> dict[str, tuple[int, ...]]:
    """The shape of every array of a cache entry."""
    model = nnx.eval_shape(lambda: FeatureClassifier(dim, num_classes, rngs=nnx.Rngs(0)))
    named = _named_params(nnx.state(model, nnx.Param))
    shapes = {name: v.get_value().shape for name, v in named.items()}
    return shapes | {"shift": (dim,), "scale": (), "train_accuracy": (), "version": ()}


def _load(path: Path, dim: int, num_classes: int):
    """The cached entry at ``path``, or None when it is missing, unreadable or inconsistent."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except Exception:  # noqa: BLE001 - any unreadable file is rebuilt
        return None
    expected = _expected_shapes(dim, num_classes)
    if set(arrays) != set(expected) or any(arrays[k].shape != s for k, s in expected.items()):
        return None
    if int(arrays["version"]) != FORMAT_VERSION:
        return None
    if not all(np.all(np.isfinite(a)) for a in arrays.values()) or float(arrays["scale"]) <= 0:
        return None
    return arrays


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes ``arrays`` to ``path`` as an ``.npz``, atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue(), make_parents=True)


def feature_extractor(dataset, seed: int = CLASSIFIER_SEED) -> FeatureExtractor:
    """The cached classifier features of a labelled dataset, trained on its training split.

    Args:
      dataset: a ``Dataset`` with ``train_labels`` and ``num_classes``.
      seed: the classifier's initialisation seed (the suite uses ``CLASSIFIER_SEED``).

    Returns:
      a ``FeatureExtractor``; trained and written to the cache on a miss.

    Raises:
      ValueError: the dataset has no labels.
    """
    if not contract.is_labelled(dataset):
        raise ValueError(f"dataset {dataset.name!r} has no labels to train a feature classifier")
    x = np.asarray(dataset.train, np.float32).reshape(len(dataset.train), -1)
    y = np.asarray(dataset.train_labels)
    num_classes = int(dataset.num_classes)
    path = cache_dir("features") / _cache_key(dataset.name, x, y, num_classes, seed)
    arrays = _load(path, x.shape[1], num_classes)
    from_cache = arrays is not None
    if arrays is None:
        arrays = _fit_arrays(x, y, num_classes, seed)
        _save(path, arrays)
    return _extractor(arrays, x.shape[1], num_classes, path, from_cache)


def _fit_arrays(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int):
    """The classifier trained on standardised ``x [N, D]`` as a cache entry's arrays."""
    shift = x.mean(axis=0)
    scale = float(np.std(x - shift)) or 1.0
    standardised = ((x - shift) / scale).astype(np.float32)
    arrays = _train(standardised, y, num_classes, seed)
    model = _with_params(x.shape[1], num_classes, arrays)
    predicted = np.asarray(_predict(model, jnp.asarray(standardised)))
    arrays |= {"shift": shift, "scale": np.float32(scale)}
    arrays["version"] = np.int64(FORMAT_VERSION)
    arrays["train_accuracy"] = np.float64(np.mean(predicted == y))
    return arrays


def _extractor(arrays, dim: int, num_classes: int, path, from_cache: bool):
    return FeatureExtractor(
        _with_params(dim, num_classes, arrays),
        np.asarray(arrays["shift"], np.float32),
        float(arrays["scale"]),
        float(arrays["train_accuracy"]),
        path,
        from_cache,
    )


def train_classifier(
    x: np.ndarray, y: np.ndarray, num_classes: int, seed: int = CLASSIFIER_SEED
) -> FeatureExtractor:
    """The feature classifier trained now (not cached) on any labelled examples: the same
    architecture, standardisation and training as ``feature_extractor``'s (the
    classification accuracy score trains it on generated data).

    Args:
      x: data-space examples ``[N, ...]``.
      y: their labels ``[N]``.
      num_classes: C.
      seed: initialisation and data-order seed.

    Returns:
      a ``FeatureExtractor`` (``path`` None, ``from_cache`` False).
    """
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    arrays = _fit_arrays(x, np.asarray(y), num_classes, seed)
    return _extractor(arrays, x.shape[1], num_classes, None, False)
