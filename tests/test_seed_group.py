"""Seeds in parallel at the fit level: each seed of a group trains as it would alone."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genbench.config import TrainConfig
from genbench.data.base import Dataset
from genbench.models.gan import GAN
from genbench.models.gan_nets import MaxoutDiscriminator, MLPGenerator
from genbench.models.vae import VAE
from genbench.train.fit import fit, fit_seeds
from genbench.train.mesh import data_mesh

SEEDS = (3, 0, 5)


def identity(x, rng):
    del rng
    return x


def small_binary(n=64, dim=6):
    x = (np.random.default_rng(0).random((n, dim)) > 0.5).astype(np.float32)
    return Dataset("toy", x, x[:16], "binary")


def make_vae(seed):
    return VAE(6, 2, (8,), "tanh", "bernoulli", 1e-3, rngs=nnx.Rngs(seed))


def assert_same_params(a, b, rtol=1e-4, atol=1e-6, skip=()):
    """Every state array of ``a`` equals ``b``'s, except those whose path contains ``skip``."""
    flat_a, flat_b = nnx.to_flat_state(nnx.state(a)), nnx.to_flat_state(nnx.state(b))
    for (path, x), (_, y) in zip(flat_a, flat_b, strict=True):
        if all(part in path for part in skip) and skip:
            continue
        np.testing.assert_allclose(np.asarray(x[...]), np.asarray(y[...]), rtol=rtol, atol=atol)


def test_each_seed_of_a_group_equals_its_run_alone(inner_steps=4):
    """Same initialisation, same epoch orders and keys: the same parameters and history."""
    train = TrainConfig(steps=24, batch_size=16, inner_steps=inner_steps, lr=1e-2)
    mesh = data_mesh(jax.devices()[:1])
    data = small_binary()
    grouped = [make_vae(s) for s in SEEDS]
    results = fit_seeds(grouped, data, identity, train, SEEDS, mesh)
    assert results[0].step_fn.traces == 1  # one program for the group, traced once
    for seed, model, result in zip(SEEDS, grouped, results, strict=True):
        alone = make_vae(seed)
        reference = fit(alone, data, identity, train, seed, mesh)
        assert_same_params(model, alone)
        assert [h["step"] for h in result.history] == [h["step"] for h in reference.history]
        np.testing.assert_allclose(
            [h["loss"] for h in result.history], [h["loss"] for h in reference.history], rtol=1e-4
        )
        assert result.failure is None and result.seed_index == SEEDS.index(seed)


def ring(n=512):
    angle = np.random.default_rng(1).uniform(0, 2 * np.pi, n)
    x = np.stack([np.cos(angle), np.sin(angle)], 1).astype(np.float32)
    return Dataset("ring", x, x[:64], "continuous")


def make_gan(seed, batchnorm, pack=2):
    """A PacGAN2; with BatchNorm in G its batch statistics are per-seed state too."""
    rngs = nnx.Rngs(seed)
    return GAN(
        MLPGenerator(2, (16, 16), 2, batchnorm=batchnorm, squash=False, rngs=rngs),
        MaxoutDiscriminator(2 * pack, (16,), 3, rngs=rngs),
        noise_dim=2,
        loss="non_saturating",
        pack=pack,
        n_critic=1,
        gp_weight=10.0,
    )


def test_a_group_of_a_two_group_model_trains_each_seed_as_alone(batchnorm=False):
    """The GAN's generator and discriminator phases run per seed inside the vmapped step.

    Without BatchNorm, so that every parameter must agree: the generator's biases before a
    BatchNorm have a zero gradient up to rounding, which Adam scales up to full steps, so
    they differ between a batched and an unbatched program without changing what the
    network computes (``test_parallel_seeds``' GAN, with BatchNorm, compares metrics).
    """
    train = TrainConfig(steps=8, batch_size=32, inner_steps=4, lr=1e-3)
    mesh = data_mesh(jax.devices()[:1])
    grouped = [make_gan(s, batchnorm) for s in SEEDS[:2]]
    fit_seeds(grouped, ring(), identity, train, SEEDS[:2], mesh)
    for seed, model in zip(SEEDS[:2], grouped, strict=True):
        alone = make_gan(seed, batchnorm)
        fit(alone, ring(), identity, train, seed, mesh)
        assert_same_params(model, alone)
        key = jax.random.key(9)
        np.testing.assert_allclose(model.sample(key, 64), alone.sample(key, 64), atol=1e-5)


class Sqrt(nnx.Module):
    """loss = sqrt(w) * mean(x): non-finite from the first step when w starts below 0."""

    def __init__(self, w):
        self.w = nnx.Param(jnp.asarray(w, jnp.float32))

    def loss(self, batch, rng):
        del rng
        return {"params": jnp.sqrt(self.w[...]) * (1.0 + jnp.mean(batch))}, {}


def test_a_seed_that_diverges_fails_at_its_step_and_the_others_go_on():
    train = TrainConfig(steps=12, batch_size=16, inner_steps=4, lr=1e-2)
    mesh = data_mesh(jax.devices()[:1])
    data = small_binary()
    starts = (1.0, -1.0, 2.0)  # the middle seed's sqrt is NaN from step 0
    grouped = [Sqrt(w) for w in starts]
    results = fit_seeds(grouped, data, identity, train, (0, 1, 2), mesh)
    failure = {"step": 0, "group": "params", "reason": "non-finite loss or gradient"}
    assert results[1].failure == failure
    assert results[1].history[-1]["step"] == 0
    assert float(grouped[1].w[...]) == -1.0 or not np.isfinite(float(grouped[1].w[...]))
    for index in (0, 2):
        alone = Sqrt(starts[index])
        reference = fit(alone, data, identity, train, index, mesh)
        assert results[index].failure is None
        assert [h["step"] for h in results[index].history] == [h["step"] for h in reference.history]
        np.testing.assert_allclose(float(grouped[index].w[...]), float(alone.w[...]), rtol=1e-6)


def test_a_group_resumed_from_its_checkpoint_ends_where_it_would_have(tmp_path):
    """The group's checkpoint holds every seed's state and history: a re-started group
    continues from it to the same parameters and the same histories."""
    from genbench.train.checkpoint import Checkpointer

    train = TrainConfig(steps=20, batch_size=16, inner_steps=5, lr=1e-2, checkpoint_every=10)
    mesh = data_mesh(jax.devices()[:1])
    seeds = SEEDS[:2]
    first = [make_vae(s) for s in seeds]
    whole = fit_seeds(
        first, small_binary(), identity, train, seeds, mesh, None, Checkpointer(tmp_path, 10)
    )
    again = [make_vae(s) for s in seeds]
    resumed = fit_seeds(
        again, small_binary(), identity, train, seeds, mesh, None, Checkpointer(tmp_path, 10)
    )
    assert resumed[0].resumed_from == 10
    for a, b, x, y in zip(first, again, whole, resumed, strict=True):
        assert_same_params(a, b, rtol=0, atol=0)
        untimed = [{k: v for k, v in h.items() if k != "time"} for h in x.history]
        assert untimed == [{k: v for k, v in h.items() if k != "time"} for h in y.history]
