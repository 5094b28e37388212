"""The variational diffusion model: each term of its bound against closed forms, the bound
against exact entropies where the optimal noise predictor is known, its Monte-Carlo error,
ancestral sampling (the registry's contract tests cover training and the metrics)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench.inference.diffusion import (
    ancestral_step,
    diffuse,
    diffusion_term,
    discretised_log_probs,
    discretised_reconstruction,
    gaussian_reconstruction,
    level_centres,
    log_alpha_sigma,
    low_discrepancy_times,
    prior_kl,
)
from genbench.models.vdm import VDM

GAMMA_0, GAMMA_1 = -10.0, 4.0
N = 20_000  # Monte-Carlo draws of the checks below (each runs in well under a second)


def _mean_and_se(values):
    values = np.asarray(values, np.float64)
    return values.mean(), values.std(ddof=1) / math.sqrt(len(values))


def _alpha_sigma(gamma):
    return (float(jnp.exp(v)) for v in log_alpha_sigma(jnp.float32(gamma)))


def test_prior_kl_matches_its_monte_carlo_estimate():
    x = jnp.array([[0.7, -1.2, 0.1]])
    alpha, sigma = _alpha_sigma(1.5)

    @jax.jit
    def log_ratio(key):  # log q(z | x) - log N(z; 0, I) at z ~ q: the 2 pi terms cancel
        z = alpha * x + sigma * jax.random.normal(key, (N, 3))
        return jnp.sum(-0.5 * ((z - alpha * x) / sigma) ** 2 - math.log(sigma) + 0.5 * z**2, -1)

    mc, se = _mean_and_se(log_ratio(jax.random.key(0)))
    assert abs(float(prior_kl(x, 1.5)[0]) - mc) < 4 * se


def test_discretised_decoder_is_a_distribution_over_the_levels():
    levels = 17
    z_0 = jax.random.normal(jax.random.key(1), (5, 4))
    log_p = discretised_log_probs(z_0, -3.0, levels)
    assert log_p.shape == (5, 4, levels)
    np.testing.assert_allclose(jnp.exp(log_p).sum(-1), 1.0, rtol=1e-5)
    # at low noise the decoder returns the level whose centre alpha_0 z_0 sits on
    x = jnp.array([[0, 5, 16, 8]])
    alpha, _ = _alpha_sigma(GAMMA_0)
    z_exact = alpha * level_centres(levels)[x]
    assert float(discretised_reconstruction(x, z_exact, GAMMA_0, levels)[0]) < 1e-6
    np.testing.assert_array_equal(
        jnp.argmax(discretised_log_probs(z_exact, GAMMA_0, levels), -1), x
    )


def test_gaussian_reconstruction_matches_its_closed_form_expectation():
    x = jnp.array([0.3, -0.8])

    @jax.jit
    def values(key):
        return gaussian_reconstruction(x, diffuse(x, -6.0, jax.random.normal(key, (N, 2))), -6.0)

    mean, se = _mean_and_se(values(jax.random.key(2)))
    # E[-log N(x; z_0 / alpha_0, e^gamma_0)] = D/2 (1 + log 2 pi) + D gamma_0 / 2
    assert abs(mean - 2 * (0.5 * (1 + math.log(2 * math.pi)) - 3.0)) < 4 * se


def test_ancestral_step_is_the_gaussian_posterior_given_the_true_noise():
    x, eps = jnp.array([0.4, -1.1]), jnp.array([0.9, 0.2])
    gamma_s, gamma_t = jnp.float32(-2.0), jnp.float32(1.0)
    (a_s, s_s), (a_t, s_t) = _alpha_sigma(gamma_s), _alpha_sigma(gamma_t)
    z_t = a_t * x + s_t * eps
    # q(z_s | z_t, x), from the forward process z_t | z_s ~ N(a_ts z_s, s_ts^2)
    a_ts, var_ts = a_t / a_s, s_t**2 - (a_t / a_s) ** 2 * s_s**2
    mean = a_ts * s_s**2 / s_t**2 * z_t + a_s * var_ts / s_t**2 * x
    std = math.sqrt(var_ts * s_s**2 / s_t**2)
    zero, one = jnp.zeros(2), jnp.ones(2)
    np.testing.assert_allclose(ancestral_step(z_t, eps, gamma_s, gamma_t, zero), mean, rtol=1e-5)
    np.testing.assert_allclose(
        ancestral_step(z_t, eps, gamma_s, gamma_t, one), mean + std, rtol=1e-5
    )


def test_low_discrepancy_times_cover_the_unit_interval_evenly():
    t = np.sort(np.asarray(low_discrepancy_times(jax.random.key(3), 8)))
    assert t.min() >= 0 and t.max() < 1
    np.testing.assert_allclose(np.diff(t), 1 / 8, atol=1e-6)


class _OptimalVDM(VDM):
    """A VDM whose noise predictor is the exact E[eps | z_t] of known 1-D data: its bound
    exceeds the data's entropy only by the endpoints' gap (Gaussian data: 0.5 softplus(gamma_0))."""

    def __init__(self, data, levels, shift=0.0, scale=1.0, bound_samples=1):
        super().__init__(
            1, levels, "discrete" if levels else "continuous", (4,), "gelu", 2, GAMMA_0,
            GAMMA_1, False, 50, bound_samples, [shift], [scale], rngs=nnx.Rngs(0),
        )  # fmt: skip
        self.data = data

    def eps_hat(self, z_t, t, one_hot=None):  # unconditional: one_hot is None
        log_alpha, log_sigma = log_alpha_sigma(self.gamma(t)[:, None])
        alpha, sigma = jnp.exp(log_alpha), jnp.exp(log_sigma)
        if self.data == "gaussian":  # standardised N(0, 1) data: z_t ~ N(0, 1)
            return sigma * z_t
        # uniform over the level centres: E[x | z_t] under the posterior over levels
        centres = level_centres(self.levels)
        log_w = -0.5 * ((z_t - alpha * centres) / sigma) ** 2
        x_hat = jnp.sum(jax.nn.softmax(log_w, axis=-1) * centres, axis=-1, keepdims=True)
        return (z_t - alpha * x_hat) / sigma


def test_bound_of_the_optimal_model_on_gaussian_data_is_its_entropy_plus_the_gap():
    shift, scale = 3.0, 2.0
    model = _OptimalVDM("gaussian", 0, shift, scale)
    x = shift + scale * jax.random.normal(jax.random.key(4), (N, 1))
    bound, se = _mean_and_se(-jax.jit(model.vlb)(x, jax.random.key(5)))
    entropy = 0.5 * (1 + math.log(2 * math.pi)) + math.log(scale)
    gap = 0.5 * math.log1p(math.exp(GAMMA_0))
    assert abs(bound - (entropy + gap)) < 4 * se
    assert bound > entropy - 4 * se


def test_bound_of_the_optimal_model_on_uniform_levels_is_above_log_levels():
    levels = 5
    model = _OptimalVDM("uniform", levels)
    x = jax.random.randint(jax.random.key(6), (N, 1), 0, levels).astype(jnp.float32)
    terms = jax.jit(model.bound_terms)(
        x, jax.random.key(7), jax.random.uniform(jax.random.key(8), (N,))
    )
    bound, se = _mean_and_se(sum(terms.values()))
    # the discrete entropy log 5 = 1.609; the exact predictor leaves only the endpoints' gap
    assert math.log(levels) - 4 * se < bound < math.log(levels) + 0.05
    assert float(terms["reconstruction"].mean()) < 1e-3  # gamma_0 = -10 resolves 5 levels


def test_more_bound_samples_shrink_the_monte_carlo_error():
    x = jnp.full((1, 1), 0.5)
    spread = {}
    for k in (1, 16):
        model = _OptimalVDM("gaussian", 0, bound_samples=k)
        draws = jax.jit(jax.vmap(lambda key, m=model: m.vlb(x, key)))(
            jax.random.split(jax.random.key(9), 400)
        )
        spread[k] = float(jnp.std(draws))
    assert spread[16] < 0.4 * spread[1]  # sqrt(16) = 4 in expectation


@pytest.mark.parametrize("levels", [0, 3])
def test_samples_have_the_data_shape_and_depend_only_on_the_key(levels):
    model = VDM(
        2, levels, "discrete" if levels else "continuous", (8,), "gelu", 2, GAMMA_0, GAMMA_1,
        True, 20, 1, [1.0, -1.0], [2.0, 0.5], rngs=nnx.Rngs(0),
    )  # fmt: skip
    sample = jax.jit(lambda key: model.sample(key, 6))
    a, b, c = sample(jax.random.key(10)), sample(jax.random.key(10)), sample(jax.random.key(11))
    assert a.shape == (6, 2) and bool(jnp.all(jnp.isfinite(a)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    if levels:
        assert set(np.unique(a)) <= set(range(levels))


def test_fixed_schedule_endpoints_are_not_parameters():
    def endpoint_params(learn):
        model = VDM(1, 0, "continuous", (4,), "gelu", 2, GAMMA_0, GAMMA_1, learn, 5, 1, [0.0],
                    [1.0], rngs=nnx.Rngs(0))  # fmt: skip
        return {str(path[0]) for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}

    assert {"gamma_0", "gamma_width_raw"} <= endpoint_params(True)
    assert not {"gamma_0", "gamma_width_raw"} & endpoint_params(False)


def test_diffusion_term_weights_the_squared_error_by_the_schedule_rate():
    eps, eps_hat = jnp.array([[1.0, 2.0]]), jnp.array([[0.0, 0.0]])
    np.testing.assert_allclose(diffusion_term(eps, eps_hat, jnp.array([3.0])), [7.5])


def test_harness_reports_the_bound_as_nll_tagged_vlb():
    from genbench.config import EvalConfig
    from genbench.data.view import data_view
    from genbench.metrics.divergence import source_metrics
    from genbench.metrics.likelihood import likelihood_metrics
    from genbench.runner import build
    from genbench.spec import resolve

    overrides = {"model.hidden": (8,), "model.sample_steps": 2, "model.bound_samples": 2}
    overrides |= {"data.n_train": 64, "data.n_test": 32}
    eval_cfg = EvalConfig(max_examples=32, source_samples=32, batch_size=32)
    # linear_gaussian is a source with a closed-form density: its KL is a bound too
    dataset, model = build(resolve("vdm", "linear_gaussian", None, overrides))
    view = data_view(dataset, model.input_kind)
    metrics, estimators = likelihood_metrics(model, dataset, view, eval_cfg, jax.random.key(0))
    assert estimators["nll"] == estimators["bits_per_dim"] == "vlb"
    assert metrics["nll_se"] > 0
    metrics, estimators = source_metrics(model, dataset, view, eval_cfg, jax.random.key(1))
    assert estimators["kl_to_source"] == "vlb" and math.isfinite(metrics["kl_to_source"])


def test_the_reconstruction_term_is_the_decoders_log_probability_of_the_data():
    levels = 256  # CIFAR-10's: the term reduces over the levels without keeping them
    k_z, k_x = jax.random.split(jax.random.key(5))
    z_0, x = jax.random.normal(k_z, (3, 5)), jax.random.randint(k_x, (3, 5), 0, levels)
    log_p = discretised_log_probs(z_0, -4.0, levels)
    expected = -jnp.take_along_axis(log_p, x[..., None], axis=-1)[..., 0].sum(-1)
    np.testing.assert_allclose(
        discretised_reconstruction(x, z_0, -4.0, levels), expected, rtol=1e-5
    )


def test_the_cifar10_diffusion_suite_trains_the_vdm_and_reports_bits_per_dim(tmp_path, monkeypatch):
    """The shipped suite resolves, and its run trains and reports a vlb-tagged bits/dim on
    tiny files in CIFAR-10's format (sizes shrunk: this checks wiring, not quality)."""
    from genbench.cache import CACHE_ENV
    from genbench.runner import run
    from genbench.spec import load_suite
    from tests.image_files import cifar10_files

    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    cifar10_files(cache, monkeypatch, n_train=4, n_test=6)
    specs = load_suite("cifar10_diffusion")
    assert {(s.model, s.dataset) for s in specs} == {("vdm", "cifar10")}
    assert [s.config.model.conditional for s in specs] == [False, True]
    tiny = {
        "model.hidden": (8,),
        "model.sample_steps": 2,
        "model.bound_samples": 2,
        "train.steps": 4,
        "train.inner_steps": 2,
        "train.batch_size": 4,
        "train.warmup_steps": 0,
        "eval.batch_size": 6,
    }
    (spec, _) = load_suite("cifar10_diffusion", overrides=tiny)
    record = run(spec, devices=jax.devices()[:1], measure_throughput=False)
    assert record.status == "ok", record.error
    assert record.estimators["nll"] == record.estimators["bits_per_dim"] == "vlb"
    assert record.metrics["bits_per_dim"] == pytest.approx(
        record.metrics["nll"] / (3072 * math.log(2))
    )
