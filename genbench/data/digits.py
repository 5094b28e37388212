"""scikit-learn's 8x8 handwritten digits (installed with scikit-learn; no download)."""

from __future__ import annotations

import numpy as np

from genbench.data.base import Dataset
from genbench.data.configs import DigitsConfig

GREY_LEVELS = 17  # pixel values are the integers 0..16
BINARY_THRESHOLD = 7  # binarized pixel = value > 7


def _split(config: DigitsConfig) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    images = load_digits().data.astype(np.float32)
    order = np.random.default_rng(config.split_seed).permutation(len(images))
    n_test = int(round(config.test_fraction * len(images)))
    return images[order[n_test:]], images[order[:n_test]]


def digits_grey(config: DigitsConfig) -> Dataset:
    """Grey-level digits, values 0..16, a fixed seeded split (80/20 by default)."""
    train, test = _split(config)
    return Dataset("digits", train, test, "discrete", levels=GREY_LEVELS)


def digits_binary(config: DigitsConfig) -> Dataset:
    """Digits binarized at > 7, the same split as the grey version."""
    train, test = _split(config)
    binarize = lambda x: (x > BINARY_THRESHOLD).astype(np.float32)  # noqa: E731
    return Dataset("digits_binary", binarize(train), binarize(test), "binary")
