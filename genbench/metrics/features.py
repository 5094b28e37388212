"""A fixed feature space for sample-quality metrics: a small classifier, trained once and cached.

Fréchet distance and precision/recall compare feature statistics, so the
features must be the same for every model and run. genbench trains a small
ReLU MLP classifier D -> 128 -> 64 -> C on a labelled dataset's training
split, deterministically (fixed seed; AdamW for a fixed number of full-batch
steps, or random batches of 2048 on larger splits; one compiled program: a
few seconds on CPU), and uses its penultimate layer (64 ReLU units) as the
feature map, as FID uses Inception-v3's pool features on images.

The parameters are cached on disk, keyed by the dataset name, the classifier
seed and a SHA-256 of the training data, labels and classifier
hyper-parameters, under ``$GENBENCH_CACHE/features/`` (default
``~/.cache/genbench/features/``). The file is written atomically (temp file +
rename), and an unreadable or inconsistent file is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genbench import contract

FORMAT_VERSION = 1  # bump when training or the file layout changes (a new cache key)
HIDDEN = (128, 64)  # hidden widths; the last one is the feature dimension
STEPS = 500  # Adam steps
BATCH = 2048  # examples per step: the full split when it is smaller (digits), else drawn at random
LR = 3e-3  # Adam learning rate
WEIGHT_DECAY = 1e-4  # decoupled weight decay on the weight matrices
CLASSIFIER_SEED = 0  # the suite's fixed classifier seed (not the run seed)


def cache_dir() -> Path:
    """``$GENBENCH_CACHE/features``, or ``~/.cache/genbench/features`` when that is unset."""
    root = os.environ.get("GENBENCH_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "genbench"
    return base / "features"


@dataclass
class FeatureExtractor:
    """The penultimate layer of a trained classifier, as a map from data-space examples.

    Attributes:
      params: ``{"w0", "b0", "w1", "b1", "w2", "b2"}`` float32 arrays.
      shift, scale: input standardisation, x -> (x - shift) / scale.
      train_accuracy: the classifier's accuracy on its training split.
      path: the cache file.
      from_cache: whether the parameters were read from the cache (not trained now).
    """

    params: dict[str, np.ndarray]
    shift: np.ndarray
    scale: float
    train_accuracy: float
    path: Path
    from_cache: bool

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Features ``[N, 64]`` of flat data-space examples ``x`` ``[N, D]``."""
        x = (np.asarray(x, np.float32).reshape(len(x), -1) - self.shift) / self.scale
        return np.asarray(_features(self.params, jnp.asarray(x)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted classes ``[N]`` of data-space examples."""
        x = (np.asarray(x, np.float32).reshape(len(x), -1) - self.shift) / self.scale
        return np.asarray(jnp.argmax(_logits(self.params, jnp.asarray(x)), axis=-1))


def _features(params, x):
    h = jax.nn.relu(x @ params["w0"] + params["b0"])
    return jax.nn.relu(h @ params["w1"] + params["b1"])


def _logits(params, x):
    return _features(params, x) @ params["w2"] + params["b2"]


_features = jax.jit(_features)


def _init(key, sizes):
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        key, sub = jax.random.split(key)
        bound = np.sqrt(6.0 / fan_in)  # He-uniform
        params[f"w{i}"] = jax.random.uniform(sub, (fan_in, fan_out), jnp.float32, -bound, bound)
        params[f"b{i}"] = jnp.zeros((fan_out,), jnp.float32)
    return params


def _train(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int) -> dict[str, np.ndarray]:
    """AdamW on softmax cross-entropy, full-batch up to ``BATCH``; one compiled ``fori_loop``."""
    sizes = (x.shape[1], *HIDDEN, num_classes)
    key, init_key = jax.random.split(jax.random.key(seed))
    params = _init(init_key, sizes)
    mask = {k: k.startswith("w") for k in params}
    opt = optax.adamw(LR, weight_decay=WEIGHT_DECAY, mask=mask)

    def loss(p, xs, ys):
        return optax.softmax_cross_entropy_with_integer_labels(_logits(p, xs), ys).mean()

    @jax.jit
    def run(params, xs, ys):
        def step(i, carry):
            p, state = carry
            if len(x) <= BATCH:
                bx, by = xs, ys
            else:
                idx = jax.random.randint(jax.random.fold_in(key, i), (BATCH,), 0, len(x))
                bx, by = xs[idx], ys[idx]
            grads = jax.grad(loss)(p, bx, by)
            updates, state = opt.update(grads, state, p)
            return optax.apply_updates(p, updates), state

        return jax.lax.fori_loop(0, STEPS, step, (params, opt.init(params)))[0]

    out = run(params, jnp.asarray(x), jnp.asarray(y, jnp.int32))
    return {k: np.asarray(v) for k, v in out.items()}


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


def _load(path: Path, dim: int, num_classes: int):
    """The cached entry at ``path``, or None when it is missing, unreadable or inconsistent."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except Exception:  # noqa: BLE001 - any unreadable file is rebuilt
        return None
    sizes = (dim, *HIDDEN, num_classes)
    expected = {f"w{i}": (a, b) for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))}
    expected |= {f"b{i}": (b,) for i, b in enumerate(sizes[1:])}
    expected |= {"shift": (dim,), "scale": (), "train_accuracy": (), "version": ()}
    if set(arrays) != set(expected) or any(arrays[k].shape != s for k, s in expected.items()):
        return None
    if int(arrays["version"]) != FORMAT_VERSION:
        return None
    if not all(np.all(np.isfinite(a)) for a in arrays.values()) or float(arrays["scale"]) <= 0:
        return None
    return arrays


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes ``arrays`` to ``path`` atomically (temp file in the same directory + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    path = cache_dir() / _cache_key(dataset.name, x, y, num_classes, seed)
    arrays = _load(path, x.shape[1], num_classes)
    from_cache = arrays is not None
    if arrays is None:
        shift = x.mean(axis=0)
        scale = float(np.std(x - shift)) or 1.0
        params = _train((x - shift) / scale, y, num_classes, seed)
        arrays = dict(params, shift=shift, scale=np.float32(scale))
        arrays["version"] = np.int64(FORMAT_VERSION)
        logits = _logits(params, jnp.asarray((x - shift) / scale))
        arrays["train_accuracy"] = np.float64(np.mean(np.asarray(jnp.argmax(logits, -1)) == y))
        _save(path, arrays)
    params = {k: jnp.asarray(v) for k, v in arrays.items() if k[0] in "wb"}
    return FeatureExtractor(
        params,
        np.asarray(arrays["shift"], np.float32),
        float(arrays["scale"]),
        float(arrays["train_accuracy"]),
        path,
        from_cache,
    )
