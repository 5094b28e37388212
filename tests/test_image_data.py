"""Image datasets in their published formats: IDX gzip, .amat, CIFAR-10 pickles in a tar.gz.

Each test writes tiny files in the real format into a temporary cache, with the digests
the loaders check replaced by the files' own; no test downloads anything.
"""

import gzip
import os
import pickle

import jax
import numpy as np
import pytest

import genbench.data.images as images
from genbench import registry
from genbench.cli import main
from genbench.data.configs import DynamicMnistConfig, FixedSplitsConfig, MnistConfig
from genbench.data.download import CACHE_ENV
from genbench.data.view import data_view
from genbench.errors import UsageError
from tests.image_files import (
    amat_bytes,
    binarized_mnist_files,
    cifar10_files,
    cifar_batch,
    idx_bytes,
    install,
    mnist_files,
    tar_gz,
)

N_TRAIN, N_TEST = 12, 5


@pytest.fixture
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    directory.mkdir()
    monkeypatch.setenv(CACHE_ENV, str(directory))
    return directory


@pytest.mark.parametrize(
    ("attribute", "loader"),
    [("MNIST_FILES", images.mnist), ("FASHION_MNIST_FILES", images.fashion_mnist)],
)
def test_mnist_format_grey_levels_round_trip(cache, monkeypatch, attribute, loader):
    train, train_y, test, test_y = mnist_files(cache, monkeypatch, attribute)
    data = loader(MnistConfig())
    assert data.kind == "discrete" and data.levels == 256 and data.image_shape == (28, 28)
    assert data.train.shape == (N_TRAIN, 784) and data.train.dtype == np.float32
    np.testing.assert_array_equal(data.train, train.reshape(N_TRAIN, -1))
    np.testing.assert_array_equal(data.test, test.reshape(N_TEST, -1))
    np.testing.assert_array_equal(data.train_labels, train_y)
    np.testing.assert_array_equal(data.test_labels, test_y)
    assert data.train_labels.dtype == np.int32 and data.validation is None
    held = loader(MnistConfig(n_validation=3))  # the last 3 training images
    np.testing.assert_array_equal(held.train, data.train[:-3])
    np.testing.assert_array_equal(held.validation, data.train[-3:])
    np.testing.assert_array_equal(held.validation_labels, train_y[-3:])


def test_dynamic_binarization_draws_afresh_at_every_presentation(cache, monkeypatch):
    train, *_ = mnist_files(cache, monkeypatch)
    data = images.mnist_dynamic(DynamicMnistConfig(n_validation=4))
    assert data.kind == "binary" and len(data.train) == N_TRAIN - 4 and len(data.validation) == 4
    np.testing.assert_allclose(data.train, train[:-4].reshape(N_TRAIN - 4, -1) / 255, rtol=1e-6)
    assert registry.get_dataset("mnist_dynamic").version.endswith("dynamic-binarization")
    view = data_view(data, "binary")
    assert view.dequantized and view.log_jacobian == 0.0
    for split in (data.train, data.test):  # the test split too, as the IWAE code
        first = np.asarray(view.transform(split, jax.random.key(1)))
        second = np.asarray(view.transform(split, jax.random.key(2)))
        assert set(np.unique(first)) <= {0.0, 1.0} and (first != second).any()
    # x ~ Bernoulli(p): the mean of many draws is p.
    draws = np.asarray(view.transform(np.tile(data.test, (400, 1)), jax.random.key(3)))
    np.testing.assert_allclose(draws.reshape(400, *data.test.shape).mean(0), data.test, atol=0.1)
    continuous = data_view(data, "continuous")  # dequantised draws under a density
    assert continuous.log_jacobian == pytest.approx(-784 * np.log(2))
    assert float(continuous.transform(data.test, jax.random.key(0)).min()) >= 0


def test_fixed_binarized_mnist_round_trips_and_never_changes(cache, monkeypatch):
    splits = binarized_mnist_files(cache, monkeypatch)  # train, valid, test
    data = images.binarized_mnist(FixedSplitsConfig())
    for array, expected in zip((data.train, data.validation, data.test), splits, strict=True):
        assert array.dtype == np.float32
        np.testing.assert_array_equal(array, expected)
    assert data.kind == "binary" and not data.labelled
    assert registry.get_dataset("binarized_mnist").version.endswith("fixed-binarization")
    view = data_view(data, "binary")
    np.testing.assert_array_equal(  # every presentation is the same image
        view.transform(data.test, jax.random.key(1)), view.transform(data.test, jax.random.key(2))
    )
    # Other spacing (tabs, several spaces, CRLF) reads the same; other values do not.
    other = amat_bytes(splits[0]).replace(b" ", b"\t  ").replace(b"\n", b"\r\n")
    (cache / "other.amat").write_bytes(other)
    np.testing.assert_array_equal(images.read_amat(cache / "other.amat"), splits[0])
    (cache / "bad.amat").write_bytes(amat_bytes(splits[0]).replace(b"1", b"2", 1))
    with pytest.raises(UsageError, match="values other than 0 and 1"):
        images.read_amat(cache / "bad.amat")


def test_cifar10_pickles_round_trip_in_row_column_channel_order(cache, monkeypatch):
    batches = cifar10_files(cache, monkeypatch)
    data = images.cifar10(FixedSplitsConfig())
    assert data.train.shape == (10, 3072) and data.test.shape == (3, 3072)
    assert data.kind == "discrete" and data.levels == 256 and data.train.dtype == np.float32
    raw = np.concatenate([batches[f"data_batch_{i}"][1] for i in range(1, 6)])
    # Pixel (row r, column c, channel k) of image i is byte k * 1024 + r * 32 + c of its row.
    for i, r, c, k in [(0, 0, 0, 0), (3, 5, 7, 1), (9, 31, 30, 2)]:
        assert data.train[i, (r * 32 + c) * 3 + k] == raw[i, k * 1024 + r * 32 + c]
    np.testing.assert_array_equal(data.test_labels, batches["test_batch"][2])


def test_a_cifar_pickle_that_would_run_code_is_refused(cache, monkeypatch):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    members = {f"data_batch_{i}": cifar_batch(2, i)[0] for i in range(1, 6)}
    members["test_batch"] = pickle.dumps({b"data": Exploit(), b"labels": []})
    install(cache, monkeypatch, "CIFAR10", [tar_gz(members)])
    with pytest.raises(UsageError, match="test_batch is not a CIFAR-10 batch"):
        images.cifar10(FixedSplitsConfig())


def test_a_missing_file_offline_is_one_line_naming_it_and_where_to_put_it(
    cache, monkeypatch, capsys
):
    mnist_files(cache, monkeypatch)
    first = images.MNIST_FILES[0]
    (cache / first.filename).unlink()
    with pytest.raises(UsageError) as info:
        images.mnist(MnistConfig())
    message = str(info.value)
    assert "\n" not in message and f"cannot download {first.name}" in message
    assert f"put it at {cache / first.filename} (SHA-256 {first.sha256})" in message
    capsys.readouterr()
    assert main(["run", "vae", "mnist_dynamic", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and first.filename in err and "put it at" in err
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp")]


def test_idx_files_that_are_not_idx_are_usage_errors(tmp_path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + bytes(8)))
    with pytest.raises(UsageError, match="not an IDX file of unsigned bytes"):
        images.read_idx(tmp_path / "a.gz")
    (tmp_path / "b.gz").write_bytes(idx_bytes(np.zeros((2, 3), np.uint8))[:-4])
    with pytest.raises(UsageError, match="not a gzip file|values for the IDX shape"):
        images.read_idx(tmp_path / "b.gz")


def test_published_sources_are_the_canonical_ones():
    remotes = [
        *images.MNIST_FILES,
        *images.FASHION_MNIST_FILES,
        *images.BINARIZED_MNIST_FILES,
        images.CIFAR10,
    ]
    assert all(len(r.sha256) == 64 and r.url.startswith("http") for r in remotes)
    assert len({r.filename for r in remotes}) == len(remotes)  # one cache name per file
    assert images.CIFAR10.url.endswith("/~kriz/cifar-10-python.tar.gz")
    names = set(registry.datasets())
    assert {"mnist", "mnist_dynamic", "binarized_mnist", "fashion_mnist", "cifar10"} <= names
