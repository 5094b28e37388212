"""scikit-learn's 8x8 handwritten digits (installed with scikit-learn; no download)."""

from __future__ import annotations

import numpy as np

from genbench.data.base import Dataset
from genbench.data.configs import DigitsConfig

GREY_LEVELS = 17  # pixel values are the integers 0..16
BINARY_THRESHOLD = 7  # binarized pixel = value > 7
IMAGE_SHAPE = (8, 8)


def _split(config: DigitsConfig):
    """(train, test, train_labels, test_labels) of a fixed seeded split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.data.astype(np.float32), digits.target.astype(np.int32)
    order = np.random.default_rng(config.split_seed).permutation(len(images))
    n_test = int(round(config.test_fraction * len(images)))
    test, train = order[:n_test], order[n_test:]
    return images[train], images[test], labels[train], labels[test]


def digits_grey(config: DigitsConfig) -> Dataset:
    """Grey-level digits, values 0..16, a fixed seeded split (80/20 by default)."""
    train, test, train_y, test_y = _split(config)
    return Dataset(
        "digits",
        train,
        test,
        "discrete",
        levels=GREY_LEVELS,
        train_labels=train_y,
        test_labels=test_y,
        num_classes=10,
        image_shape=IMAGE_SHAPE,
    )


def digits_binary(config: DigitsConfig) -> Dataset:
    """Digits binarized at > 7, the same split as the grey version."""
    train, test, train_y, test_y = _split(config)
    binarize = lambda x: (x > BINARY_THRESHOLD).astype(np.float32)  # noqa: E731
    return Dataset(
        "digits_binary",
        binarize(train),
        binarize(test),
        "binary",
        train_labels=train_y,
        test_labels=test_y,
        num_classes=10,
        image_shape=IMAGE_SHAPE,
    )
