"""RealNVP and MAF: exact densities by the change of variables, checked by brute force."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench import contract
from genbench.data.view import data_view
from genbench.inference.gaussian import standard_normal_log_prob
from genbench.metrics.likelihood import DEQUANTIZED_BOUND, likelihood_metrics
from genbench.models import maf, realnvp
from genbench.models.exact_configs import MAFConfig, RealNVPConfig
from genbench.models.flow import GaussianMixture
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh
from tests.test_registry_contract import TINY_EVAL


class _Data:
    """The fields a flow's ``build`` reads: ``classes`` > 0 adds equally frequent labels."""

    def __init__(self, dim, classes=0):
        self.event_size, self.kind, self.name = dim, "continuous", "test"
        self.labelled, self.num_classes = classes > 0, classes
        self.train_labels = np.arange(4 * classes) % max(classes, 1)


class _Config:
    def __init__(self, model):
        self.model = model


def _small_flow(build, config, layers):
    """``(dim, components=3, classes=0) -> flow``: ``build`` of a small ``config``."""

    def make(dim, components=3, classes=0):
        model = config(
            layers=layers,
            hidden=(16,),
            base_components=components,
            conditional=classes > 0,
            affine_layer=True,
        )
        return build(_Config(model), _Data(dim, classes), nnx.Rngs(0))

    return make


# Each flow, small, built for ``dim`` variables on a base of ``components`` (0: N(0, I));
# class-conditional for ``classes`` > 0.
FLOWS = {
    "realnvp": _small_flow(realnvp.build, RealNVPConfig, layers=4),
    "maf": _small_flow(maf.build, MAFConfig, layers=3),
}


def perturbed(flow, dim, scale=0.2, classes=0):
    """``flow`` built for ``dim`` variables with every parameter set at random: flows start
    at the identity, whose density is N(0, I) and would test nothing."""
    model = FLOWS[flow](dim, classes=classes)
    params = nnx.state(model, nnx.Param)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    noisy = [scale * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves, strict=True)]
    nnx.update(model, jax.tree.unflatten(tree, noisy))
    return model


def grid_2d(half_width=10.0, points=501):
    """A square grid ``[points**2, 2]`` over ``[-half_width, half_width]^2`` and its cell area."""
    edge = np.linspace(-half_width, half_width, points)
    grid = np.stack(np.meshgrid(edge, edge), -1).reshape(-1, 2).astype(np.float32)
    return grid, (edge[1] - edge[0]) ** 2


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
    grid, cell = grid_2d()
    density = np.exp(np.asarray(jax.jit(model.log_prob)(grid), np.float64))
    assert abs(density.sum() * cell - 1) < 2e-3


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_each_class_density_of_a_conditional_flow_integrates_to_one(flow):
    model = perturbed(flow, 2, classes=3)
    grid, cell = grid_2d()
    log_joint, log_p = jax.jit(lambda x: (model.log_joint(x), model.log_prob(x)))(grid)
    log_given = np.asarray(log_joint, np.float64) - np.array(model.class_log_prior)
    integrals = np.exp(log_given).sum(0) * cell
    np.testing.assert_allclose(integrals, 1, atol=2e-3)
    # The label matters (the classes' densities differ), and p(x) sums the joint.
    assert np.abs(log_given[:, 0] - log_given[:, 1]).max() > 0.1
    np.testing.assert_allclose(log_p, jax.nn.logsumexp(log_joint, -1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_samples_of_a_class_follow_that_class(flow):
    """Each class weighs its own base component (far apart): the flow's samples of a
    class are classified as that class by its own joint."""
    model = perturbed(flow, 2, classes=2)
    model.base.means[...] = jnp.array([[-4.0, -4.0], [4.0, 4.0]] + [[0.0, 0.0]])
    model.base.log_stds[...] = jnp.full((3, 2), -1.0)
    model.base.logits[...] = jnp.array([[8.0, -8.0, -8.0], [-8.0, 8.0, -8.0]])
    labels = jnp.repeat(jnp.arange(2), 200)

    @jax.jit
    def classified(key):
        return jnp.argmax(model.log_joint(model.sample_class(key, labels)), -1)

    assert np.mean(np.asarray(classified(jax.random.key(5))) == np.asarray(labels)) > 0.97


@pytest.mark.parametrize("classes", [0, 3], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_log_prob_is_the_change_of_variables_and_sampling_inverts(flow, classes):
    model = perturbed(flow, 5, classes=classes)
    x = jax.random.normal(jax.random.key(2), (6, 5))
    labels = jnp.arange(6) % 3
    one_hot = jax.nn.one_hot(labels, 3) if classes else None

    def log_p(x):
        """log p(x), or log p(x | y) of each row's label for a conditional flow."""
        if not classes:
            return model.log_prob(x)
        joint = jnp.take_along_axis(model.log_joint(x), labels[:, None], axis=1)[:, 0]
        return joint - jnp.asarray(model.class_log_prior)[labels]

    @jax.jit
    def check(x):
        u, _ = model.to_noise(x, one_hot)

        def jacobian(row, label):
            label = None if label is None else label[None]
            return jax.jacfwd(lambda r: model.to_noise(r[None], label)[0][0])(row)

        log_det = jnp.linalg.slogdet(jax.vmap(jacobian)(x, one_hot))[1]
        brute = model.base.log_prob(u, one_hot) + log_det
        return log_p(x), brute, model.to_data(u, one_hot), model.sample(jax.random.key(3), 4)

    log_p_x, brute, x_again, samples = check(x)
    np.testing.assert_allclose(log_p_x, brute, rtol=1e-4, atol=1e-4)
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
    view = data_view(dataset, model.input_kind)
    metrics, estimators = likelihood_metrics(model, dataset, view, TINY_EVAL, jax.random.key(0))
    assert estimators["nll"] == estimators["bits_per_dim"] == DEQUANTIZED_BOUND
    assert np.isfinite(metrics["bits_per_dim"])


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_a_conditional_flow_learns_from_labelled_batches_of_the_shared_step(flow):
    overrides = {
        "model.conditional": True,
        "model.layers": 2,
        "model.hidden": (8,),
        "model.base_components": 2,
        "train.steps": 40,
        "train.inner_steps": 40,
        "train.lr": 1e-2,
    }
    spec = resolve(flow, "digits_binary", None, overrides)
    dataset, model = build(spec)
    assert contract.uses_labels(model)
    assert {"sample_class", "log_joint", "log_prob"} <= contract.capabilities(model)
    view = data_view(dataset, model.input_kind)
    x = view.transform(jnp.asarray(dataset.test[:200]), jax.random.key(0))
    y = jnp.asarray(dataset.test_labels[:200])
    prior = jnp.asarray(model.class_log_prior)

    def held_out_log_p_given_class(model):
        joint = jnp.take_along_axis(model.log_joint(x), y[:, None], axis=1)[:, 0]
        return jnp.mean(joint - prior[y])

    before = nnx.jit(held_out_log_p_given_class)(model)
    fit(model, dataset, view.transform, spec.config.train, 0, data_mesh(jax.devices()[:1]))
    assert float(nnx.jit(held_out_log_p_given_class)(model)) > float(before) + 1.0


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_the_weight_penalty_counts_the_network_weights_only(flow):
    model = perturbed(flow, 3)
    x = jax.random.normal(jax.random.key(0), (8, 3))
    model.weight_penalty = model.base_penalty = 0.0
    unpenalised = float(model.loss(x, None)[0]["params"])
    model.weight_penalty = 0.5
    kernels = sum(
        float(jnp.sum(layer.net.layers[i].kernel[...] ** 2))
        for layer in model.layers[1:]
        for i in range(len(layer.net.layers))
    )
    # The affine layer's matrix and the base's parameters are not penalised.
    assert float(model.loss(x, None)[0]["params"]) == pytest.approx(
        unpenalised + 0.5 * kernels, rel=1e-5
    )


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_the_base_penalty_is_zero_at_n01_and_off_on_fresh_sources(flow):
    model = perturbed(flow, 3)
    x = jax.random.normal(jax.random.key(0), (8, 3))
    model.weight_penalty = model.base_penalty = 0.0
    unpenalised = float(model.loss(x, None)[0]["params"])
    model.base_penalty = 0.5
    squares = float(jnp.sum(model.base.means[...] ** 2) + jnp.sum(model.base.log_stds[...] ** 2))
    assert squares > 0
    assert float(model.loss(x, None)[0]["params"]) == pytest.approx(
        unpenalised + 0.5 * squares, rel=1e-5
    )
    # Every component N(0, I): the mixture is N(0, I) whatever its weights, unpenalised.
    nnx.update(model.base, {"means": jnp.zeros_like(model.base.means[...])})
    nnx.update(model.base, {"log_stds": jnp.zeros_like(model.base.log_stds[...])})
    assert float(model.base.penalty()) == 0.0
    # The default penalty holds on a fixed training set, and is off on a fresh source.
    fixed = build(resolve(flow, "linear_gaussian"))[1]
    fresh = build(resolve(flow, "linear_gaussian", overrides={"data.fresh": True}))[1]
    assert (fixed.base_penalty, fresh.base_penalty) == (0.01, 0.0)
