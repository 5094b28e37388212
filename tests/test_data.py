"""Datasets and sources: densities that integrate to one, entropies, splits, dequantisation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genbench.data.configs import DigitsConfig, Grid25Config, LinearGaussianConfig, Ring8Config
from genbench.data.digits import digits_binary, digits_grey
from genbench.data.linear_gaussian import linear_gaussian
from genbench.data.sources import GaussianMixtureSource, grid25, ring8
from genbench.data.view import data_view
from genbench.errors import UsageError


def test_ring8_and_grid25_have_the_published_modes():
    ring = ring8(Ring8Config(n_train=10, n_test=10))
    np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 1.0, rtol=1e-6)
    assert ring.std == 0.01 and ring.num_modes == 8
    grid = grid25(Grid25Config(n_train=10, n_test=10))
    assert sorted(set(grid.means[:, 0])) == [-4, -2, 0, 2, 4] and grid.std == 0.05
    # At a mode, the density is that of one component divided by the number of modes.
    peak = float(ring.log_prob(jnp.asarray(ring.means[:1]))[0])
    assert peak == pytest.approx(-math.log(8) - math.log(2 * math.pi * 0.01**2), abs=1e-4)


def test_mixture_density_integrates_to_one():
    source = GaussianMixtureSource("toy", np.array([[0.0, 0.0], [1.0, 0.5]]), 0.3, 10, 10, False)
    axis = np.linspace(-2.5, 3.5, 301)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2).astype(np.float32)
    cell = (axis[1] - axis[0]) ** 2
    total = float(jnp.sum(jnp.exp(source.log_prob(jnp.asarray(grid))))) * cell
    assert total == pytest.approx(1.0, abs=1e-3)


def test_mixture_entropy_of_separated_modes():
    ring = ring8(Ring8Config(n_train=10, n_test=10))
    estimate = ring.entropy(jax.random.key(0), 50_000)
    expected = math.log(8) + math.log(2 * math.pi * math.e * 0.01**2)
    assert abs(estimate.value - expected) < 4 * estimate.se + 1e-3


def test_linear_gaussian_density_and_entropy_match_scipy():
    source = linear_gaussian(LinearGaussianConfig(dim=5, latent_dim=2, n_train=50, n_test=20))
    truth = stats.multivariate_normal(source.mean, source.covariance)
    x = source.test
    np.testing.assert_allclose(source.log_prob(jnp.asarray(x)), truth.logpdf(x), rtol=1e-4)
    assert source.entropy().value == pytest.approx(truth.entropy(), rel=1e-6)
    assert source.entropy().se == 0.0
    samples = np.asarray(source.sample(jax.random.key(3), 200_000))
    np.testing.assert_allclose(np.cov(samples.T), source.covariance, atol=0.1)


def test_digits_splits_are_fixed_disjoint_and_binarized():
    grey, binary = digits_grey(DigitsConfig()), digits_binary(DigitsConfig())
    assert grey.train.shape == (1438, 64) and grey.test.shape == (359, 64)
    assert grey.kind == "discrete" and grey.levels == 17 and grey.train.max() == 16
    np.testing.assert_array_equal(binary.train, (grey.train > 7).astype(np.float32))
    assert set(np.unique(binary.train)) == {0.0, 1.0}
    again = digits_grey(DigitsConfig())
    np.testing.assert_array_equal(again.test, grey.test)
    rows = {r.tobytes() for r in grey.train}
    # Duplicated images exist in digits; most test rows must not be in train.
    assert sum(r.tobytes() in rows for r in grey.test) < 5


def test_dequantization_of_grey_levels():
    grey = digits_grey(DigitsConfig())
    view = data_view(grey, "continuous")
    assert view.dequantized and view.log_jacobian == pytest.approx(-64 * math.log(17))
    x = jnp.asarray(grey.test[:50])
    y = view.transform(x, jax.random.key(0))
    assert float(y.min()) >= 0 and float(y.max()) < 1
    np.testing.assert_array_equal(np.floor(np.asarray(y) * 17), np.asarray(x))
    assert not data_view(digits_binary(DigitsConfig()), "binary").dequantized
    with pytest.raises(UsageError, match="cannot model discrete"):
        data_view(grey, "binary")


@pytest.mark.parametrize(
    ("train", "test", "kind", "fragment"),
    [
        ([[1.0, 2.0]], np.zeros((1, 2)), "continuous", "numeric numpy array"),
        (np.zeros(5), np.zeros(5), "continuous", "shape [examples, ...]"),
        (np.zeros((3, 2)), np.zeros((3, 4)), "continuous", "event shapes differ"),
        (np.zeros((3, 2)), np.zeros((3, 2)), "pixels", "is not one of"),
        (np.array([["a", "b"]]), np.zeros((1, 2)), "binary", "numeric numpy array"),
    ],
)
def test_python_api_checks_arrays(train, test, kind, fragment):
    from genbench.data.base import Dataset

    with pytest.raises(UsageError, match=None) as info:
        Dataset("mine", train, test, kind)
    assert fragment in str(info.value)
