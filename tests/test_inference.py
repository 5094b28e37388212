"""Closed forms and brute force for the pure inference functions."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genbench.inference.gaussian import (
    diag_normal_log_prob,
    kl_diag_normal_standard,
    mvn_log_prob,
    standard_normal_log_prob,
)
from genbench.inference.importance import chunked_iwae_bound, iwae_bound_from_log_weights


def test_diag_normal_matches_scipy():
    rng = np.random.default_rng(0)
    x, mean, log_std = rng.normal(size=(3, 5, 4)).astype(np.float32)
    expected = stats.norm.logpdf(x, mean, np.exp(log_std)).sum(-1)
    np.testing.assert_allclose(diag_normal_log_prob(x, mean, log_std), expected, rtol=1e-5)
    np.testing.assert_allclose(standard_normal_log_prob(x), stats.norm.logpdf(x).sum(-1), rtol=1e-5)


def test_full_covariance_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4))
    cov, mean = a @ a.T + np.eye(4), rng.normal(size=4)
    x = rng.normal(size=(7, 4))
    expected = stats.multivariate_normal(mean, cov).logpdf(x)
    got = mvn_log_prob(
        jnp.asarray(x, jnp.float32), jnp.asarray(mean, jnp.float32), jnp.asarray(cov, jnp.float32)
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_gaussian_kl_closed_form_matches_monte_carlo():
    mean, log_std = jnp.array([0.5, -1.0]), jnp.array([-0.3, 0.2])
    z = mean + jnp.exp(log_std) * jax.random.normal(jax.random.key(0), (400_000, 2))
    mc = jnp.mean(diag_normal_log_prob(z, mean, log_std) - standard_normal_log_prob(z))
    assert float(kl_diag_normal_standard(mean, log_std)) == pytest.approx(float(mc), abs=5e-3)


def test_iwae_bound_is_log_mean_exp_and_chunking_is_exact():
    w = jnp.asarray(np.random.default_rng(2).normal(size=(12, 3)), jnp.float32)
    expected = np.log(np.mean(np.exp(np.asarray(w, np.float64)), axis=0))
    np.testing.assert_allclose(iwae_bound_from_log_weights(w), expected, rtol=1e-5)
    # A log-weight function that ignores the key and returns the rows in a fixed order.
    draws = iter([w[0:5], w[5:10], w[10:12]])

    def log_weights(rng, n):
        del rng
        return next(draws)

    chunked = chunked_iwae_bound(log_weights, jax.random.key(0), 12, chunk=5)
    np.testing.assert_allclose(chunked, expected, rtol=1e-5)
    assert math.isclose(float(iwae_bound_from_log_weights(jnp.zeros((7, 1)))[0]), 0.0, abs_tol=1e-6)
