"""Dataset and source base classes.

A ``Dataset`` holds train/test splits as host arrays ``[N, *event_shape]`` and
a ``kind``: ``continuous``, ``binary`` (values in {0, 1}), ``discrete``
(integers in {0, ..., levels - 1}, e.g. grey levels), ``categorical`` or
``sequence``. A ``Source`` is a dataset whose distribution is known: it can
draw fresh samples inside a compiled step and evaluate the exact log-density.
"""

from __future__ import annotations

import abc
import copy
from dataclasses import dataclass
from typing import Literal

import jax
import numpy as np

from genbench.errors import UsageError
from genbench.stats import mean_and_se

Kind = Literal["continuous", "binary", "discrete", "categorical", "sequence"]


@dataclass(frozen=True)
class Estimate:
    """A number with its standard error (0 for closed forms)."""

    value: float
    se: float = 0.0


class Dataset:
    """Train/test splits with an event shape and a kind.

    Args:
      name: registry name.
      train: host array ``[N_train, *event_shape]``.
      test: host array ``[N_test, *event_shape]``.
      kind: what the values are (see the module docstring).
      levels: number of distinct values of a ``discrete`` dataset.
      train_labels, test_labels: optional integer class labels ``[N]``.
      num_classes: number of classes of a labelled dataset.
      image_shape: (rows, columns) of flat image examples, for models that read
        an image as a sequence of rows.
      vocabulary: optional tokens of a ``sequence`` dataset of symbols, one
        string per symbol (``vocabulary[i]`` decodes symbol ``i``; ``levels``
        entries), for decoding samples.
      validation: optional host array ``[N_validation, *event_shape]`` held out of
        training, on which periodic evaluations (``eval.every``) measure the model
        (the test split otherwise); ``validation_labels`` its labels.

    Attributes:
      mode_means, mode_std: set by a dataset that is an equal-weight mixture of
        isotropic Gaussians ``N(mode_means[m], mode_std^2 I)`` (``[M, D]`` and
        a float), which opts it into the mode-collapse metrics
        (``modes_captured``, ``high_quality_frac``, ``reverse_kl_modes``);
        ``None`` otherwise.
    """

    mode_means: np.ndarray | None = None
    mode_std: float | None = None

    def __init__(
        self,
        name: str,
        train: np.ndarray,
        test: np.ndarray,
        kind: Kind,
        levels: int = 0,
        train_labels=None,
        test_labels=None,
        num_classes: int = 0,
        image_shape: tuple[int, int] | None = None,
        vocabulary: list[str] | None = None,
        validation: np.ndarray | None = None,
        validation_labels=None,
    ):
        _check_arrays(name, train, test, kind, levels)
        if validation is not None:
            _check_arrays(name, train, validation, kind, levels)
            if train_labels is not None:
                _check_labels(name, train, train_labels, validation, validation_labels, num_classes)
        _check_vocabulary(name, kind, levels, vocabulary)
        _check_labels(name, train, train_labels, test, test_labels, num_classes)
        self.name = name
        self.train = train
        self.test = test
        self.kind = kind
        self.levels = levels
        self.train_labels, self.test_labels = train_labels, test_labels
        self.num_classes = num_classes
        self.image_shape = image_shape
        self.vocabulary = list(vocabulary) if vocabulary is not None else None
        self.validation, self.validation_labels = validation, validation_labels

    @property
    def labelled(self) -> bool:
        return self.train_labels is not None

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    @property
    def event_size(self) -> int:
        return int(np.prod(self.event_shape))

    @property
    def is_source(self) -> bool:
        return isinstance(self, Source)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, kind={self.kind}, "
            f"event_shape={self.event_shape}, train={len(self.train)}, test={len(self.test)})"
        )


KINDS = ("continuous", "binary", "discrete", "categorical", "sequence")


def _check_arrays(name, train, test, kind, levels) -> None:
    """Validates the splits given through the Python API (one-line ``UsageError``)."""
    for split, array in (("train", train), ("test", test)):
        if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
            raise UsageError(
                f"dataset {name!r}: {split} must be a numeric numpy array, "
                f"got {type(array).__name__} {getattr(array, 'dtype', '')}"
            )
        if array.ndim < 2 or len(array) == 0:
            raise UsageError(
                f"dataset {name!r}: {split} must have shape [examples, ...] with "
                f"at least one example, got {array.shape}"
            )
    if train.shape[1:] != test.shape[1:]:
        raise UsageError(
            f"dataset {name!r}: train {train.shape} and test {test.shape} event shapes differ"
        )
    if kind not in KINDS:
        raise UsageError(f"dataset {name!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "discrete" and levels < 2:
        raise UsageError(f"dataset {name!r}: a discrete dataset needs levels >= 2")


def _check_vocabulary(name, kind, levels, vocabulary) -> None:
    if vocabulary is None:
        return
    if kind != "sequence" or len(vocabulary) != levels or len(set(vocabulary)) != levels:
        raise UsageError(
            f"dataset {name!r}: a vocabulary needs a sequence dataset and {levels} distinct "
            f"tokens (one per symbol), got {len(vocabulary)} for kind {kind}"
        )


def _check_labels(name, train, train_labels, test, test_labels, num_classes) -> None:
    if train_labels is None and test_labels is None:
        return
    for split, x, y in (("train", train, train_labels), ("test", test, test_labels)):
        y = np.asarray(y) if y is not None else None
        if y is None or y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise UsageError(f"dataset {name!r}: {split}_labels must be integers [{len(x)}]")
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise UsageError(f"dataset {name!r}: {split}_labels must lie in [0, {num_classes})")


class Source(Dataset, abc.ABC):
    """A dataset with a known distribution p: fresh samples, exact log p, entropy.

    Subclasses implement ``sample`` and ``log_prob`` with jax so that both run
    inside compiled code (the training step draws fresh batches from a source
    when ``fresh`` is true), and ``entropy``.
    """

    fresh: bool = False

    @abc.abstractmethod
    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws ``n`` samples ``[n, *event_shape]``."""

    @abc.abstractmethod
    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log-density (nats) of each example, ``[n]``."""

    def entropy(self, rng: jax.Array, n: int = 100_000) -> Estimate:
        """Differential (or discrete) entropy in nats; Monte Carlo unless overridden."""
        log_p = jax.jit(self.log_prob)(self.sample(rng, n))
        return Estimate(*mean_and_se(-np.asarray(log_p)))


def held_out(dataset: Dataset) -> tuple[Dataset, str]:
    """The dataset that periodic evaluations measure, and the name of its split.

    Returns:
      ``(a shallow copy of dataset whose test split is its validation split,
      "validation")`` where the dataset has one, else ``(dataset, "test")``:
      the metrics always read the test split.
    """
    if dataset.validation is None:
        return dataset, "test"
    view = copy.copy(dataset)
    view.test, view.test_labels = dataset.validation, dataset.validation_labels
    return view, "validation"


def fixed_splits(source: Source, seed: int, n_train: int, n_test: int) -> tuple[np.ndarray, ...]:
    """Draws a source's fixed train and test sets from a seed (the same for every run)."""
    key_train, key_test = jax.random.split(jax.random.key(seed))
    train = np.asarray(source.sample(key_train, n_train))
    test = np.asarray(source.sample(key_test, n_test))
    return train, test
