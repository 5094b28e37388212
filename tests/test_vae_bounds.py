"""The linear VAE: ELBO <= IWAE_10 <= IWAE_100 <= log p_theta(x), and Gibbs on the source.

The ``linear`` preset has a closed-form marginal likelihood, so the bounds are
checked against the truth, not against each other only. Monte-Carlo noise is
averaged over repeated draws and compared with its own standard error.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench.data.view import DataView
from genbench.metrics.divergence import source_metrics
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

REPEATS = 30
VIEW = DataView(lambda x, r: x, 0.0, False)


@pytest.fixture(scope="module")
def trained():
    spec = resolve(
        "vae",
        "linear_gaussian",
        "linear",
        {
            "train.steps": 1500,
            "train.inner_steps": 50,
            "train.lr": 1e-2,
            "data.dim": 6,
            "data.latent_dim": 2,
            "model.latent_dim": 2,
            "eval.nll_k": 500,
            "eval.source_samples": 2000,
        },
    )
    dataset, model = build(spec)
    fit(model, dataset, lambda x, r: x, spec.config.train, 0, data_mesh(jax.devices()[:1]))
    return spec, dataset, model


def _repeated(model, fn, x, k=None):
    graphdef, state = nnx.split(model)

    @jax.jit
    def one(state, key):
        m = nnx.merge(graphdef, state)
        return fn(m, x, key) if k is None else fn(m, x, key, k)

    keys = jax.random.split(jax.random.key(7), REPEATS)
    return np.stack([np.asarray(one(state, key)) for key in keys])  # [REPEATS, B]


def test_bounds_are_ordered_below_the_exact_likelihood_on_every_batch(trained):
    _, dataset, model = trained
    for start in range(0, 400, 100):
        x = jnp.asarray(dataset.test[start : start + 100])
        log_p = float(jnp.mean(model.log_prob(x)))
        means, ses = {}, {}
        for name, fn, k in [
            ("elbo", type(model).elbo, None),
            ("k10", type(model).iwae_bound, 10),
            ("k100", type(model).iwae_bound, 100),
        ]:
            per_draw = _repeated(model, fn, x, k).mean(axis=1)
            means[name], ses[name] = per_draw.mean(), per_draw.std(ddof=1) / np.sqrt(REPEATS)
        assert means["elbo"] <= means["k10"] + 3 * np.hypot(ses["elbo"], ses["k10"])
        assert means["k10"] <= means["k100"] + 3 * np.hypot(ses["k10"], ses["k100"])
        assert means["k100"] <= log_p + 3 * ses["k100"]
        assert means["elbo"] < log_p


def test_iwae_bound_approaches_the_exact_likelihood(trained):
    _, dataset, model = trained
    x = jnp.asarray(dataset.test[:200])
    log_p = float(jnp.mean(model.log_prob(x)))
    gaps = {}
    for k in (1, 10, 1000):
        bound = model.iwae_bound(x, jax.random.key(k), k)
        gaps[k] = log_p - float(jnp.mean(bound))
    assert gaps[1] > gaps[10] > gaps[1000] > -0.01
    assert gaps[1000] < 0.05


def test_gibbs_inequality_and_kl_to_source(trained):
    spec, dataset, model = trained
    metrics, estimators = source_metrics(model, dataset, VIEW, spec.config.eval, jax.random.key(0))
    assert estimators["kl_to_source"] == "exact"
    assert metrics["kl_to_source"] > -3 * metrics["kl_to_source_se"]
    x = dataset.sample(jax.random.key(11), 2000)
    bound = np.asarray(model.iwae_bound(x, jax.random.key(12), 100))
    se = bound.std(ddof=1) / np.sqrt(len(bound))
    assert bound.mean() <= -metrics["entropy_source"] + 3 * se
    # A trained PPCA model is close to its source.
    assert metrics["kl_to_source"] < 0.5


class BoundOnly(nnx.Module):
    """The same model seen through its IWAE bound only (no exact ``log_prob``)."""

    def __init__(self, inner):
        self.inner = inner

    def iwae_bound(self, x, rng, k):
        return self.inner.iwae_bound(x, rng, k)


def test_kl_to_source_is_an_upper_bound_without_exact_likelihood(trained):
    spec, dataset, model = trained
    exact, _ = source_metrics(model, dataset, VIEW, spec.config.eval, jax.random.key(0))
    bound, estimators = source_metrics(
        BoundOnly(model), dataset, VIEW, spec.config.eval, jax.random.key(0)
    )
    assert estimators["kl_to_source"] == f"iwae_k{spec.config.eval.nll_k}"
    # Same source samples (same key); E[L_K] <= log q, so the KL can only grow (up to MC noise).
    assert exact["kl_to_source"] - 2e-3 <= bound["kl_to_source"] < exact["kl_to_source"] + 0.05
