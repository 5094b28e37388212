"""RealNVP and MAF: exact densities by the change of variables, checked by brute force."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench.inference.gaussian import standard_normal_log_prob
from genbench.metrics.likelihood import DEQUANTIZED_BOUND, likelihood_metrics
from genbench.models import maf, realnvp
from genbench.models.exact_configs import MAFConfig, RealNVPConfig
from genbench.models.flow import GaussianMixture
from genbench.runner import build
from genbench.spec import resolve
from tests.test_registry_contract import TINY_EVAL


class _Data:
    """The two fields a flow's ``build`` reads."""

    def __init__(self, dim):
        self.event_size, self.kind, self.name = dim, "continuous", "test"


class _Config:
    def __init__(self, model):
        self.model = model


# Each flow, small, built for ``dim`` variables on a base of ``components`` (0: N(0, I)).
FLOWS = {
    "realnvp": lambda dim, components=3: realnvp.build(
        _Config(RealNVPConfig(layers=4, hidden=(16,), base_components=components)),
        _Data(dim),
        nnx.Rngs(0),
    ),
    "maf": lambda dim, components=3: maf.build(
        _Config(MAFConfig(layers=3, hidden=(16,), base_components=components)),
        _Data(dim),
        nnx.Rngs(0),
    ),
}


def perturbed(flow, dim, scale=0.2):
    """``flow`` built for ``dim`` variables with every parameter set at random: flows start
    at the identity, whose density is N(0, I) and would test nothing."""
    model = FLOWS[flow](dim)
    params = nnx.state(model, nnx.Param)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    noisy = [scale * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves, strict=True)]
    nnx.update(model, jax.tree.unflatten(tree, noisy))
    return model


def test_the_mixture_base_is_a_normalised_mixture():
    base = GaussianMixture(1, 3, rngs=nnx.Rngs(0))
    edge = np.linspace(-12, 12, 4001, dtype=np.float32)[:, None]
    log_p = jax.jit(base.log_prob)(edge)
    integral = np.exp(np.asarray(log_p, np.float64)).sum() * (edge[1, 0] - edge[0, 0])
    assert abs(integral - 1) < 1e-4
    draws = np.asarray(jax.jit(base.sample, static_argnums=1)(jax.random.key(0), 20_000))
    means = np.asarray(base.means[...])[:, 0]
    assert abs(draws.mean() - means.mean()) < 0.05  # equal weights at initialisation


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_density_integrates_to_one_on_a_grid(flow):
    model = perturbed(flow, 2)
    edge = np.linspace(-10, 10, 501)
    step = edge[1] - edge[0]
    grid = np.stack(np.meshgrid(edge, edge), -1).reshape(-1, 2).astype(np.float32)
    density = np.exp(np.asarray(jax.jit(model.log_prob)(grid), np.float64))
    assert abs(density.sum() * step**2 - 1) < 2e-3


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_log_prob_is_the_change_of_variables_and_sampling_inverts(flow):
    model = perturbed(flow, 5)
    x = jax.random.normal(jax.random.key(2), (6, 5))

    @jax.jit
    def check(x):
        u, _ = model.to_noise(x)
        jacobians = jax.vmap(jax.jacfwd(lambda row: model.to_noise(row[None])[0][0]))(x)
        brute = model.base.log_prob(u) + jnp.linalg.slogdet(jacobians)[1]
        return model.log_prob(x), brute, model.to_data(u), model.sample(jax.random.key(3), 4)

    log_p, brute, x_again, samples = check(x)
    np.testing.assert_allclose(log_p, brute, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x_again, x, rtol=1e-4, atol=1e-4)
    assert samples.shape == (4, 5) and bool(jnp.all(jnp.isfinite(samples)))


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_a_fresh_flow_on_the_normal_base_is_the_standard_normal(flow):
    model = FLOWS[flow](3, components=0)
    x = jax.random.normal(jax.random.key(0), (4, 3))
    np.testing.assert_allclose(jax.jit(model.log_prob)(x), standard_normal_log_prob(x), rtol=1e-6)


def test_dequantised_digits_are_tagged_as_a_bound():
    spec = resolve("realnvp", "digits", None, {"model.layers": 2, "model.hidden": (8,)})
    dataset, model = build(spec)
    from genbench.data.view import data_view

    view = data_view(dataset, model.input_kind)
    metrics, estimators = likelihood_metrics(model, dataset, view, TINY_EVAL, jax.random.key(0))
    assert estimators["nll"] == estimators["bits_per_dim"] == DEQUANTIZED_BOUND
    assert np.isfinite(metrics["bits_per_dim"])
