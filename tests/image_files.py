"""Tiny image-dataset files in the published formats (IDX gzip, .amat, CIFAR-10 pickles in a
tar.gz), installed into a test's cache with the loaders' digests replaced by their own."""

import dataclasses
import gzip
import hashlib
import io
import pickle
import tarfile

import numpy as np

import genbench.data.images as images
from genbench.data.download import Remote


def install(cache, monkeypatch, attribute: str, contents: list[bytes]) -> None:
    """Writes ``contents`` under the file names of ``images.<attribute>`` (a Remote or a tuple
    of them) and makes the loader expect their digests; the URLs lead nowhere."""
    remotes = getattr(images, attribute)
    single = isinstance(remotes, Remote)
    cache.mkdir(parents=True, exist_ok=True)
    fixed = []
    for remote, content in zip([remotes] if single else remotes, contents, strict=True):
        (cache / remote.filename).write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        nowhere = (cache.parent / "nowhere" / remote.filename).as_uri()
        fixed.append(dataclasses.replace(remote, sha256=digest, url=nowhere))
    monkeypatch.setattr(images, attribute, fixed[0] if single else tuple(fixed))


def idx_bytes(array: np.ndarray) -> bytes:
    """A gzipped IDX file of unsigned bytes: 0, 0, 0x08, ndim, big-endian sizes, values."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return gzip.compress(header + np.ascontiguousarray(array, np.uint8).tobytes())


def mnist_files(cache, monkeypatch, attribute="MNIST_FILES", n_train=12, n_test=5, seed=0):
    """Writes MNIST-format files; returns (train, train labels, test, test labels) uint8."""
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    train_y = rng.integers(0, 10, n_train, dtype=np.uint8)
    test_y = rng.integers(0, 10, n_test, dtype=np.uint8)
    install(cache, monkeypatch, attribute, [idx_bytes(a) for a in (train, train_y, test, test_y)])
    return train, train_y, test, test_y


def amat_bytes(rows: np.ndarray) -> bytes:
    """Larochelle's .amat text: one image per line, 0 or 1 separated by spaces."""
    return "".join(" ".join(str(int(v)) for v in row) + "\n" for row in rows).encode()


def binarized_mnist_files(cache, monkeypatch, sizes=(6, 3, 4), seed=0) -> list[np.ndarray]:
    """Writes the train, valid and test .amat files; returns their 0/1 arrays."""
    rng = np.random.default_rng(seed)
    splits = [rng.integers(0, 2, (n, 784)) for n in sizes]
    install(cache, monkeypatch, "BINARIZED_MNIST_FILES", [amat_bytes(s) for s in splits])
    return splits


def cifar_batch(n: int, seed: int) -> tuple[bytes, np.ndarray, list[int]]:
    """(pickle of a CIFAR-10 batch, its data [n, 3072] uint8 (R, G, B planes), its labels)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    return pickle.dumps({b"data": data, b"labels": labels}, protocol=2), data, labels


def tar_gz(members: dict[str, bytes]) -> bytes:
    """A tar.gz with each member under ``cifar-10-batches-py/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def cifar10_files(cache, monkeypatch, n_train=2, n_test=3) -> dict:
    """Writes cifar-10-python.tar.gz; returns member -> (pickle, data, labels)."""
    batches = {f"data_batch_{i}": cifar_batch(n_train, i) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(n_test, 9)
    install(cache, monkeypatch, "CIFAR10", [tar_gz({k: v[0] for k, v in batches.items()})])
    return batches


def all_image_files(cache, monkeypatch) -> None:
    """Tiny files for every image dataset (410 MNIST training images: mnist_dynamic's
    default holds out 400)."""
    mnist_files(cache, monkeypatch, n_train=410)
    mnist_files(cache, monkeypatch, "FASHION_MNIST_FILES", n_train=410)
    binarized_mnist_files(cache, monkeypatch)
    cifar10_files(cache, monkeypatch)
