"""The built-in image datasets, downloaded once into the cache; how MNIST is binarized is
part of the name and the version (dynamic and fixed binarization differ by 1-2 nats)."""

from __future__ import annotations

from genbench.data import configs as data_configs
from genbench.registry import DatasetEntry, register_dataset


def register_image_datasets() -> None:
    """Registers ``mnist``, ``mnist_dynamic``, ``binarized_mnist``, ``fashion_mnist`` and
    ``cifar10`` (``genbench.data.images``)."""
    for name, config, version, description in (
        (
            "mnist",
            data_configs.MnistConfig,
            "1",
            "MNIST digits 28x28, grey levels 0..255 (download)",
        ),
        (
            "mnist_dynamic",
            data_configs.DynamicMnistConfig,
            "1-dynamic-binarization",
            "MNIST binarized afresh at every presentation (IWAE: 59,600 train, 400 validation)",
        ),
        (
            "binarized_mnist",
            data_configs.FixedSplitsConfig,
            "1-fixed-binarization",
            "MNIST binarized once, Larochelle & Murray's files (50,000 / 10,000 / 10,000)",
        ),
        ("fashion_mnist", data_configs.MnistConfig, "1", "Fashion-MNIST 28x28, grey levels 0..255"),
        ("cifar10", data_configs.FixedSplitsConfig, "1", "CIFAR-10 32x32 colour, levels 0..255"),
    ):
        register_dataset(
            DatasetEntry(name, config, f"genbench.data.images:{name}", description, version=version)
        )
