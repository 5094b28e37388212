"""Image datasets downloaded once into the cache: MNIST and Fashion-MNIST (IDX gzip), the
fixed binarized MNIST of Larochelle & Murray (``.amat``) and CIFAR-10 (python pickles).

The URLs and SHA-256 digests are the ones tensorflow_datasets records
(``tensorflow_datasets/url_checksums/``: ``mnist.txt``, ``fashion_mnist.txt``,
``binarized_mnist.txt``, and ``cifar10.csv`` for the python archive, which
``cifar10.txt`` replaced by the binary one); Keras's ``cifar10.load_data`` checks
the same digest. Offline, a missing file is a one-line error that names it and
where to put it (``genbench.data.download.fetch``).

Datasets (images flat, row-major; labels 0..9 where the files have them):

- ``mnist``, ``fashion_mnist``: grey levels 0..255 (``discrete``, 256 levels),
  ``[N, 784]``; 60,000 training images (the last ``data.n_validation`` held out
  as the validation split) and 10,000 test images.
- ``mnist_dynamic``: MNIST with dynamic binarization, as Burda et al.'s IWAE code:
  the split holds p = pixel / 255 and every presentation of an image (each
  training batch, each evaluation, the test split included) draws x ~ Bernoulli(p)
  afresh (``genbench.data.view``); 59,600 training images and the last 400 as
  the validation split (``datasets.py`` of yburda/iwae, unshuffled).
- ``binarized_mnist``: Larochelle & Murray's fixed binarization (one draw, stored
  in the files): 50,000 train, 10,000 validation, 10,000 test images in {0, 1}, no
  labels. Models score 1-2 nats apart on the two binarizations, so they are two
  datasets with different names and versions.
- ``cifar10``: 32x32 colour images, ``[N, 3072]`` in (row, column, channel)
  order, 256 levels; 50,000 train and 10,000 test images.

The arrays are float32 (CIFAR-10's training split takes 614 MB).
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from genbench.data.base import Dataset
from genbench.data.configs import FixedSplitsConfig, MnistConfig
from genbench.data.download import Remote, fetch
from genbench.errors import UsageError

IMAGE_SHAPE = (28, 28)
GREY_LEVELS = 256


def _idx(prefix: str, base: str, name: str, sha256: str) -> Remote:
    """An IDX file of an MNIST-format dataset, cached as ``<prefix>-<name>``."""
    return Remote(f"{prefix} {name}", f"{base}/{name}", f"{prefix}-{name}", sha256)


_MNIST = "https://storage.googleapis.com/cvdf-datasets/mnist"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
# (train images, train labels, test images, test labels) of each MNIST-format dataset.
MNIST_FILES = (
    _idx("mnist", _MNIST, "train-images-idx3-ubyte.gz",
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    _idx("mnist", _MNIST, "train-labels-idx1-ubyte.gz",
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    _idx("mnist", _MNIST, "t10k-images-idx3-ubyte.gz",
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    _idx("mnist", _MNIST, "t10k-labels-idx1-ubyte.gz",
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
)  # fmt: skip
FASHION_MNIST_FILES = (
    _idx("fashion-mnist", _FASHION, "train-images-idx3-ubyte.gz",
         "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    _idx("fashion-mnist", _FASHION, "train-labels-idx1-ubyte.gz",
         "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    _idx("fashion-mnist", _FASHION, "t10k-images-idx3-ubyte.gz",
         "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    _idx("fashion-mnist", _FASHION, "t10k-labels-idx1-ubyte.gz",
         "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
)  # fmt: skip
_LAROCHELLE = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist"
# (train, validation, test) of Larochelle & Murray's binarized MNIST.
BINARIZED_MNIST_FILES = tuple(
    Remote(f"binarized MNIST ({split})", f"{_LAROCHELLE}/binarized_mnist_{split}.amat",
           f"binarized_mnist_{split}.amat", digest)
    for split, digest in (
        ("train", "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"),
        ("valid", "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"),
        ("test", "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"),
    )
)  # fmt: skip
CIFAR10 = Remote(
    "CIFAR-10 (python version)",
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar-10-python.tar.gz",
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
)

# -- file formats ------------------------------------------------------------------------

_IDX_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array of a gzipped IDX file (LeCun's MNIST format).

    The header is two zero bytes, the type code (0x08: unsigned bytes), the number
    of dimensions d, then d big-endian uint32 sizes; the values follow.

    Raises:
      UsageError: not a gzipped IDX file of unsigned bytes, or a wrong length.
    """
    try:
        data = gzip.decompress(Path(path).read_bytes())
    except (OSError, EOFError) as error:
        raise UsageError(f"{path} is not a gzip file ({error})") from None
    if len(data) < 4 or data[0] or data[1] or data[2] != _IDX_UBYTE:
        raise UsageError(f"{path} is not an IDX file of unsigned bytes (header {data[:4]!r})")
    ndim = data[3]
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", ndim, offset=4))
    values = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(shape)):
        raise UsageError(f"{path}: {values.size} values for the IDX shape {shape}")
    return values.reshape(shape)


def read_amat(path: Path, width: int = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]) -> np.ndarray:
    """The ``[N, width]`` float32 0/1 rows of a ``.amat`` text file (Larochelle's format:
    one image per line, its pixels as ``0`` or ``1`` separated by single spaces).

    Raises:
      UsageError: a line with another number of values, or a value other than 0 or 1.
    """
    lines = [line for line in Path(path).read_bytes().splitlines() if line.strip()]
    span = 2 * width - 1  # "0 1 ... 0": one character per value, one space between
    raw = np.frombuffer(b"".join(lines), np.uint8) if lines else np.zeros(0, np.uint8)
    if lines and raw.size == len(lines) * span:
        raw = raw.reshape(len(lines), span)
        if (raw[:, 1::2] == ord(" ")).all():
            return _binary_values(raw[:, ::2], path)
    rows = [line.split() for line in lines]  # other spacing: slower, same result
    if not rows or any(len(row) != width for row in rows):
        counts = sorted({len(row) for row in rows})
        raise UsageError(f"{path}: lines must hold {width} values, found {counts[:3]}")
    tokens = np.array(rows)
    if tokens.dtype != np.dtype("S1"):  # a value of several characters
        raise UsageError(f"{path} holds values other than 0 and 1")
    return _binary_values(tokens.view(np.uint8), path)


def _binary_values(characters: np.ndarray, path: Path) -> np.ndarray:
    values = characters - np.uint8(ord("0"))  # anything but "0" or "1" wraps above 1
    if values.max(initial=0) > 1:
        raise UsageError(f"{path} holds values other than 0 and 1")
    return values.astype(np.float32)


# What the batches' pickles may name: numpy's array reconstruction, and ``_codecs.encode``,
# which protocol-2 pickles written by Python 3 use for bytes. Nothing that runs commands.
_CIFAR_CLASSES = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays only: a pickle cannot run other code."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _CIFAR_CLASSES:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _cifar_batch(archive: tarfile.TarFile, member: str, path: Path):
    """(images ``[n, 3072]`` uint8 in (row, column, channel) order, labels) of one batch."""
    try:
        handle = archive.extractfile(f"cifar-10-batches-py/{member}")
        batch = _ArrayUnpickler(io.BytesIO(handle.read()), encoding="bytes").load()
        planes = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"labels"], np.int32)
    except (KeyError, AttributeError, ValueError, pickle.UnpicklingError) as error:
        raise UsageError(f"{path}: {member} is not a CIFAR-10 batch ({error})") from None
    return planes.transpose(0, 2, 3, 1).reshape(len(planes), -1), labels


def read_cifar10(path: Path):
    """(train images, train labels, test images, test labels) of ``cifar-10-python.tar.gz``.

    Raises:
      UsageError: not a gzipped tar archive, or a batch is missing or malformed.
    """
    try:
        with tarfile.open(path, "r:gz") as archive:
            parts = [_cifar_batch(archive, f"data_batch_{i}", path) for i in range(1, 6)]
            test = _cifar_batch(archive, "test_batch", path)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise UsageError(f"{path} is not a tar.gz archive ({error})") from None
    train = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return train[0], train[1], test[0], test[1]


# -- datasets ----------------------------------------------------------------------------


def _mnist_format(files: tuple[Remote, ...]):
    """(train images ``[N, 784]`` uint8, train labels, test images, test labels)."""
    train_x, train_y, test_x, test_y = (read_idx(fetch(remote)) for remote in files)
    for images, labels, remote in ((train_x, train_y, files[0]), (test_x, test_y, files[2])):
        if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE or len(labels) != len(images):
            raise UsageError(
                f"{remote.filename}: expected {len(labels)} images of 28x28, got {images.shape}"
            )
    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    return flat(train_x), train_y.astype(np.int32), flat(test_x), test_y.astype(np.int32)


def _held_out(config: MnistConfig, train, labels):
    """(train, labels, validation, validation labels): the last ``n_validation`` images."""
    n = len(train) - config.n_validation
    if n < 1:
        raise UsageError(
            f"data.n_validation={config.n_validation} leaves no training image of {len(train)}"
        )
    if config.n_validation == 0:
        return train, labels, None, None
    return train[:n], labels[:n], train[n:], labels[n:]


def _grey(name: str, files: tuple[Remote, ...], config: MnistConfig) -> Dataset:
    train, train_y, test, test_y = _mnist_format(files)
    train, train_y, validation, validation_y = _held_out(config, train, train_y)
    return Dataset(
        name, train.astype(np.float32), test.astype(np.float32), "discrete",
        levels=GREY_LEVELS, train_labels=train_y, test_labels=test_y, num_classes=10,
        image_shape=IMAGE_SHAPE, validation=_float(validation), validation_labels=validation_y,
    )  # fmt: skip


def _float(images):
    return None if images is None else images.astype(np.float32)


def mnist(config: MnistConfig) -> Dataset:
    """MNIST grey levels 0..255."""
    return _grey("mnist", MNIST_FILES, config)


def fashion_mnist(config: MnistConfig) -> Dataset:
    """Fashion-MNIST grey levels 0..255 (Xiao et al. 2017)."""
    return _grey("fashion_mnist", FASHION_MNIST_FILES, config)


def mnist_dynamic(config: MnistConfig) -> Dataset:
    """MNIST as pixel probabilities p = value / 255, binarized afresh at every presentation."""
    train, train_y, test, test_y = _mnist_format(MNIST_FILES)
    train, train_y, validation, validation_y = _held_out(config, train, train_y)
    scale = lambda x: None if x is None else (x / np.float32(255)).astype(np.float32)  # noqa: E731
    dataset = Dataset(
        "mnist_dynamic", scale(train), scale(test), "binary", train_labels=train_y,
        test_labels=test_y, num_classes=10, image_shape=IMAGE_SHAPE,
        validation=scale(validation), validation_labels=validation_y,
    )  # fmt: skip
    dataset.dynamic_binarization = True  # the data view draws x ~ Bernoulli(p) each time
    return dataset


def binarized_mnist(config: FixedSplitsConfig) -> Dataset:
    """Larochelle & Murray's fixed binarization: 50,000 / 10,000 / 10,000 images in {0, 1}."""
    del config
    train, validation, test = (read_amat(fetch(remote)) for remote in BINARIZED_MNIST_FILES)
    return Dataset(
        "binarized_mnist", train, test, "binary", image_shape=IMAGE_SHAPE, validation=validation
    )


def cifar10(config: FixedSplitsConfig) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009): 32x32x3 levels 0..255, flat in (row, column, channel) order."""
    del config
    train, train_y, test, test_y = read_cifar10(fetch(CIFAR10))
    return Dataset(
        "cifar10", train.astype(np.float32), test.astype(np.float32), "discrete",
        levels=GREY_LEVELS, train_labels=train_y, test_labels=test_y, num_classes=10,
    )  # fmt: skip
