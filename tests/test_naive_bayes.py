"""Naive Bayes against scikit-learn and brute force over every binary input."""

import itertools

import jax
import numpy as np
import pytest
from sklearn.naive_bayes import BernoulliNB, CategoricalNB, GaussianNB

from genbench.inference import naive_bayes as nb


def labelled(seed, n=400, d=12, c=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    probs = rng.uniform(0.05, 0.95, (c, d))
    x = (rng.random((n, d)) < probs[y]).astype(np.float32)
    return x, y


@pytest.mark.parametrize("alpha", [1.0, 0.5, 1e-3])
def test_bernoulli_matches_scikit_learn(alpha):
    x, y = labelled(0)
    params = jax.jit(nb.bernoulli_fit, static_argnums=2)(x, y, 4, alpha)
    ours = np.asarray(jax.jit(nb.bernoulli_log_joint)(params, x))
    ref = BernoulliNB(alpha=alpha, binarize=None, force_alpha=True).fit(x, y)
    np.testing.assert_allclose(ours, ref.predict_joint_log_proba(x), rtol=1e-4)
    np.testing.assert_allclose(
        np.asarray(nb.class_posterior(ours)), ref.predict_proba(x), atol=1e-4
    )


def test_categorical_matches_scikit_learn():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, (300, 6)), rng.integers(0, 3, 300)
    params = nb.categorical_fit(x, y, 3, 5, alpha=1.0)
    ref = CategoricalNB(alpha=1.0, min_categories=5).fit(x, y)
    np.testing.assert_allclose(
        nb.categorical_log_joint(params, x), ref.predict_joint_log_proba(x), rtol=1e-4
    )


def test_gaussian_matches_scikit_learn():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 500)
    x = (rng.normal(size=(500, 4)) + y[:, None]).astype(np.float32)
    params = nb.gaussian_fit(x, y, 3)
    ref = GaussianNB().fit(x, y)
    np.testing.assert_allclose(
        nb.gaussian_log_joint(params, x), ref.predict_joint_log_proba(x), rtol=1e-4
    )


@pytest.mark.parametrize("d", [1, 4, 10])
def test_marginal_sums_to_one_over_every_binary_input(d):
    x, y = labelled(d, d=d)
    params = nb.bernoulli_fit(x, y, 4, alpha=0.7)
    every = np.array(list(itertools.product([0.0, 1.0], repeat=d)), np.float32)
    total = np.exp(
        np.asarray(nb.log_marginal(nb.bernoulli_log_joint(params, every)), np.float64)
    ).sum()
    assert total == pytest.approx(1.0, abs=1e-4)


def test_fixed_class_prior_is_used():
    x, y = labelled(3)
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    params = nb.bernoulli_fit(x, y, 4, class_prior=prior)
    np.testing.assert_allclose(np.exp(params.log_prior), prior, rtol=1e-6)


def test_bad_arguments_raise_value_errors_naming_them():
    x, y = labelled(0)
    with pytest.raises(ValueError, match="x must be binary"):
        nb.bernoulli_fit(x * 2, y, 4)
    with pytest.raises(ValueError, match=r"y holds symbols outside \[0, 3\)"):
        nb.bernoulli_fit(x, y, 3)
    with pytest.raises(ValueError, match="num_classes=0"):
        nb.bernoulli_fit(x, y, 0)
    with pytest.raises(ValueError, match="x holds symbols"):
        nb.categorical_fit(x.astype(int) + 5, y, 4, 5)


def test_bernoulli_fit_and_score_split_over_devices_equal_one_device():
    """Rows split over a 4-device mesh (N not a multiple of 4: zero rows pad it).

    uint8 features and one compiled fit + score, as ``benchmarks/test_naive_bayes.py``
    times them against scikit-learn, which must give the same numbers.
    """
    from genbench.train.mesh import data_mesh

    assert jax.device_count() == 4
    rng = np.random.default_rng(5)
    x = (rng.random((1003, 12)) < 0.4).astype(np.uint8)
    y = rng.integers(0, 3, 1003).astype(np.int32)
    mesh = data_mesh(jax.devices()[:4])

    def fit_score(mesh):
        return jax.jit(
            lambda a, b: nb.bernoulli_log_joint(nb.bernoulli_fit(a, b, 3, 0.5, mesh=mesh), a, mesh)
        )(x, y)

    np.testing.assert_allclose(fit_score(mesh), fit_score(None), rtol=1e-6)
    ref = BernoulliNB(alpha=0.5, binarize=None, force_alpha=True).fit(x.astype(np.float64), y)
    np.testing.assert_allclose(
        fit_score(mesh), ref.predict_joint_log_proba(x.astype(np.float64)), rtol=1e-4
    )
    params = nb.bernoulli_fit(x, y, 3, 0.5, mesh=mesh)
    np.testing.assert_allclose(params.log_p, nb.bernoulli_fit(x, y, 3, 0.5).log_p, rtol=1e-6)
