"""Class-conditional models and the augmentation metrics (CAS, the augmentation score).

The metric is checked where its value is known: a generator that hands back real
training examples of the requested class scores about the real-data accuracy, one
that ignores the label scores about chance. The conditional models are checked by
their samples: a briefly trained conditional VAE's samples are recognised as the
requested digits by the harness's classifier, and a conditional GAN's and a conditional
VDM's samples and losses change with the label.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench import contract
from genbench.config import EvalConfig
from genbench.data.base import Dataset
from genbench.data.configs import DigitsConfig
from genbench.data.digits import digits_binary
from genbench.data.view import data_view
from genbench.errors import UsageError
from genbench.metrics.augmentation import augmentation_metrics, draw_class_samples
from genbench.metrics.features import feature_extractor
from genbench.models.conditional import class_marginal_bound
from genbench.results.records import run_key
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

EVAL = EvalConfig()
CHANCE = 0.1  # ten digit classes, about equally frequent
SMALL_MLP = {"model.generator_hidden": (16,), "model.discriminator_hidden": (16,)}


@pytest.fixture(scope="module")
def digits():
    return digits_binary(DigitsConfig())


class ExampleBank(nnx.Module):
    """A fake generator that draws real training examples: of the requested class, or
    (``ignore_labels``) of any class."""

    input_kind = "binary"

    def __init__(self, dataset, ignore_labels: bool):
        y = np.asarray(dataset.train_labels)
        per_class = min(np.bincount(y))
        bank = np.stack([dataset.train[y == c][:per_class] for c in range(dataset.num_classes)])
        self.bank = nnx.Variable(jnp.asarray(bank, jnp.float32))  # [C, M, D]
        self.ignore_labels = ignore_labels

    def sample_class(self, rng, labels):
        bank = self.bank[...]
        k_class, k_index = jax.random.split(rng)
        if self.ignore_labels:
            labels = jax.random.randint(k_class, labels.shape, 0, bank.shape[0])
        index = jax.random.randint(k_index, labels.shape, 0, bank.shape[1])
        return bank[labels, index]


def _metrics(model, dataset):
    view = data_view(dataset, model.input_kind)
    return augmentation_metrics(model, dataset, view, EVAL, jax.random.key(0))[0]


def test_real_examples_of_the_requested_class_score_about_the_real_accuracy(digits):
    metrics = _metrics(ExampleBank(digits, ignore_labels=False), digits)
    assert metrics["real_accuracy"] > 0.85
    assert metrics["cas_accuracy"] == pytest.approx(metrics["real_accuracy"], abs=0.06)
    assert metrics["cas_n"] == len(digits.train)
    # Real data twice over (with resampled copies) neither helps nor hurts much.
    assert abs(metrics["augmentation_gain"]) < 0.05
    gain = metrics["augmented_accuracy"] - metrics["real_accuracy"]
    assert metrics["augmentation_gain"] == pytest.approx(gain)
    assert 0 < metrics["cas_accuracy_se"] < 0.05


def test_a_generator_that_ignores_the_label_scores_about_chance(digits):
    metrics = _metrics(ExampleBank(digits, ignore_labels=True), digits)
    assert metrics["cas_accuracy"] < CHANCE + 0.1
    assert metrics["real_accuracy"] > 0.85
    # Half the training data mislabelled at random costs accuracy.
    assert metrics["augmentation_gain"] < 0


def test_an_unconditional_model_or_unlabelled_data_gets_no_augmentation_metrics(digits):
    spec = resolve("vae", "digits_binary", overrides={"model.hidden": (8,)})
    _, vae = build(spec)
    assert not contract.has(vae, "sample_class")
    assert _metrics(vae, digits) == {}
    unlabelled = Dataset("unlabelled-digits", digits.train, digits.test, "binary")
    assert _metrics(ExampleBank(digits, ignore_labels=False), unlabelled) == {}


def test_a_conditional_vae_samples_the_requested_digits(digits):
    overrides = {
        "model.conditional": True,
        "model.hidden": (64,),
        "model.latent_dim": 4,
        "train.steps": 400,
        "train.inner_steps": 400,
        "train.batch_size": 128,
        "train.lr": 3e-3,
    }
    spec = resolve("vae", "digits_binary", overrides=overrides)
    dataset, cvae = build(spec)
    assert {"sample_class", "loss", "elbo"} <= contract.capabilities(cvae)
    assert contract.uses_labels(cvae) and not contract.has(cvae, "kl_posterior_prior")
    view = data_view(dataset, cvae.input_kind)
    fit(cvae, dataset, view.transform, spec.config.train, 0, data_mesh(jax.devices()[:1]))
    labels = np.repeat(np.arange(10), 30)
    samples = draw_class_samples(cvae, jax.random.key(1), labels, 100)
    assert samples.shape == (300, 64)
    recognised = np.mean(feature_extractor(dataset).predict(samples) == labels)
    assert recognised > 0.6  # chance: 0.1


def test_the_class_marginal_bound_of_a_conditional_vae_is_below_each_class_bound(digits):
    overrides = {"model.conditional": True, "model.hidden": (16,)}
    _, cvae = build(resolve("vae", "digits_binary", overrides=overrides))
    x = jnp.asarray(digits.test[:8])

    @nnx.jit
    def bounds(model, key):
        return model._bound_per_class(x, key, 20), model.iwae_bound(x, key, 20)

    per_class, bound = bounds(cvae, jax.random.key(0))  # [C, B], [B]
    prior = jnp.asarray(cvae.class_log_prior)[:, None]
    # log sum_y p(y) exp(L_y) lies between max_y (log p(y) + L_y) and max_y L_y.
    assert jnp.all(bound >= jnp.max(prior + per_class, axis=0) - 1e-4)
    assert jnp.all(bound <= jnp.max(per_class, axis=0) + 1e-4)


@pytest.mark.parametrize(
    "overrides",
    [
        {"model.architecture": "mlp", "model.pack": 2, **SMALL_MLP},
        {"model.architecture": "conv", "model.pack": 2, "model.channels": 4},
        {"model.architecture": "mlp", "model.loss": "wgan_gp", **SMALL_MLP},
    ],
    ids=["mlp-pack2", "conv-pack2", "wgan-gp"],
)
def test_a_conditional_gan_sees_the_label(digits, overrides):
    spec = resolve("gan", "digits_binary", overrides={"model.conditional": True, **overrides})
    _, gan = build(spec)
    assert contract.has(gan, "sample_class") and contract.uses_labels(gan)
    key = jax.random.key(0)
    sample = nnx.jit(lambda model, labels: model.sample_class(key, labels))
    loss = nnx.jit(lambda model, batch: model.loss(batch, key)[0])
    zeros, ones = jnp.zeros(6, jnp.int32), jnp.ones(6, jnp.int32)
    assert not jnp.allclose(sample(gan, zeros), sample(gan, ones))
    # The same noise and label give the same sample.
    np.testing.assert_array_equal(sample(gan, zeros), sample(gan, zeros))
    x = jnp.asarray(digits.train[:8])
    losses_a = loss(gan, (x, jnp.zeros(8, jnp.int32)))
    losses_b = loss(gan, (x, jnp.full(8, 3, jnp.int32)))
    assert losses_a["discriminator"] != losses_b["discriminator"]
    assert all(jnp.isfinite(v) for v in losses_a.values())


def test_a_conditional_vdm_sees_the_label(digits):
    overrides = {"model.conditional": True, "model.hidden": (16,), "model.sample_steps": 4}
    _, vdm = build(resolve("vdm", "digits", overrides=overrides))  # 17 levels: fine-grained
    assert {"sample_class", "vlb", "loss"} <= contract.capabilities(vdm)
    assert contract.uses_labels(vdm)
    key = jax.random.key(0)
    sample = nnx.jit(lambda model, labels: model.sample_class(key, labels))
    loss = nnx.jit(lambda model, batch: model.loss(batch, key)[0]["params"])
    zeros, ones = jnp.zeros(6, jnp.int32), jnp.ones(6, jnp.int32)
    # Ancestral sampling from the same noise: the label alone moves the samples.
    assert sample(vdm, zeros).shape == (6, 64)
    assert not jnp.array_equal(sample(vdm, zeros), sample(vdm, ones))
    x = jnp.asarray(digits.train[:8])
    assert loss(vdm, (x, jnp.zeros(8, jnp.int32))) != loss(vdm, (x, jnp.full(8, 3, jnp.int32)))
    bound = nnx.jit(lambda model: model.vlb(x, key))(vdm)
    assert bound.shape == (8,) and jnp.all(jnp.isfinite(bound))


def test_the_class_marginal_bound_is_tight_at_the_class_posterior():
    k_prior, k_scores, k_other = jax.random.split(jax.random.key(1), 3)
    log_prior = jax.nn.log_softmax(jax.random.normal(k_prior, (4,)))
    scores = 5.0 * jax.random.normal(k_scores, (4, 7))  # per-class bounds, 7 examples
    exact = jax.nn.logsumexp(log_prior[:, None] + scores, axis=0)  # log sum_y p(y) e^L_y
    # q = p(y | x) under the scores themselves attains log sum_y p(y) exp(L_y) ...
    np.testing.assert_allclose(class_marginal_bound(log_prior, scores, scores), exact, rtol=1e-5)
    # ... and any other q lies below it (by KL(q || p(y | x))).
    other = class_marginal_bound(log_prior, jax.random.normal(k_other, (4, 7)), scores)
    assert jnp.all(other < exact)
    # The bound is linear in the scores at a fixed q: noisy scores average out.
    shifted = class_marginal_bound(log_prior, scores, scores + 2.0)
    np.testing.assert_allclose(shifted, exact + 2.0, rtol=1e-5)


def test_conditional_models_need_labelled_data():
    for model in ("vae", "gan", "realnvp", "maf", "vdm"):
        spec = resolve(model, "ring8", overrides={"model.conditional": True})
        with pytest.raises(UsageError, match="labelled"):
            build(spec)
    with pytest.raises(UsageError, match="linear"):
        resolve("vae", "digits", overrides={"model.conditional": True, "model.linear": True})


def test_naive_bayes_samples_a_given_class_and_its_samples_are_unchanged(digits):
    spec = resolve("naive_bayes", "digits_binary")
    dataset, nb = build(spec)
    nb.fit_exact(jnp.asarray(dataset.train), jnp.asarray(dataset.train_labels))
    assert contract.has(nb, "sample_class")
    params = nb.params()
    # ``sample`` draws the class, then the features, as before ``sample_class`` existed.
    key = jax.random.key(3)
    k_y, k_x = jax.random.split(key)
    y = jax.random.categorical(k_y, params.log_prior, shape=(50,))
    expected = jax.random.bernoulli(k_x, jnp.exp(params.log_p[y])).astype(jnp.float32)
    np.testing.assert_array_equal(nb.sample(key, 50), expected)
    # Many samples of one class have that class's pixel frequencies.
    samples = nnx.jit(lambda m: m.sample_class(jax.random.key(4), jnp.full(4000, 7)))(nb)
    np.testing.assert_allclose(samples.mean(0), np.exp(params.log_p[7]), atol=0.04)


def test_an_unconditional_run_keeps_its_run_key():
    config = {"model": {"latent_dim": 8}, "train": {"steps": 10}}
    unconditional = {**config, "model": {**config["model"], "conditional": False}}
    conditional = {**config, "model": {**config["model"], "conditional": True}}
    key = functools.partial(run_key, "vae", "digits", "1")
    assert key(unconditional, 0) == key(config, 0) != key(conditional, 0)
