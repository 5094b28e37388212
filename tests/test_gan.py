"""The GAN family: its losses in closed form, its schedule inside the shared step, packing,
BatchNorm state, non-finite runs, and the CLI's checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench.cli import main
from genbench.config import GroupOverride, TrainConfig
from genbench.models.gan import GAN, adversarial_losses, calibrated, gradient_penalty
from genbench.models.gan_nets import MaxoutDiscriminator, MLPGenerator
from genbench.results import validate_record
from genbench.runner import build, existing_records, run, run_suite
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

SMALL = {
    "model.generator_hidden": (16, 16),
    "model.discriminator_hidden": (16,),
    "model.maxout": 2,
    "train.batch_size": 40,
    "train.steps": 20,
    "train.inner_steps": 10,
    "eval.timing_calls": 2,
    "eval.source_samples": 100,
}


def identity(x, rng):
    del rng
    return x


@pytest.mark.parametrize("kind", ["non_saturating", "minimax"])
def test_losses_match_their_closed_forms(kind):
    r, f = jnp.array([0.3, -1.2]), jnp.array([2.0, -0.5])
    sigmoid = jax.nn.sigmoid
    d_loss, g_loss = adversarial_losses(kind, r, f)
    expected_d = -jnp.mean(jnp.log(sigmoid(r)) + jnp.log(1 - sigmoid(f)))
    np.testing.assert_allclose(d_loss, expected_d, rtol=1e-6)
    expected_g = (
        jnp.mean(jnp.log(1 - sigmoid(f))) if kind == "minimax" else -jnp.mean(jnp.log(sigmoid(f)))
    )
    np.testing.assert_allclose(g_loss, expected_g, rtol=1e-6)


def test_wasserstein_losses_and_gradient_penalty_of_a_linear_critic():
    d_loss, g_loss = adversarial_losses("wgan_gp", jnp.array([1.0, 3.0]), jnp.array([0.5, 0.5]))
    assert float(d_loss) == pytest.approx(0.5 - 2.0) and float(g_loss) == pytest.approx(-0.5)
    w = jnp.array([3.0, 4.0])  # |grad D| = 5 everywhere: the penalty is (5 - 1)^2
    real, fake = jnp.ones((6, 2)), jnp.zeros((6, 2))
    penalty = gradient_penalty(lambda x, labels: x @ w, real, fake, jax.random.key(0))
    assert float(penalty) == pytest.approx(16.0, rel=1e-5)


def small_gan(pack=1, n_critic=1, loss="non_saturating", seed=0, simultaneous=False):
    rngs = nnx.Rngs(seed)
    return GAN(
        MLPGenerator(2, (16, 16), 2, batchnorm=True, squash=False, rngs=rngs),
        MaxoutDiscriminator(2 * pack, (16,), 3, rngs=rngs),
        noise_dim=2,
        loss=loss,
        pack=pack,
        n_critic=n_critic,
        gp_weight=10.0,
        simultaneous=simultaneous,
    )


def test_packing_concatenates_consecutive_samples_for_the_discriminator():
    gan = small_gan(pack=3)
    x = jnp.arange(24.0).reshape(12, 2)
    packed = gan._packed(x)
    assert packed.shape == (4, 6)
    np.testing.assert_array_equal(packed[1], jnp.concatenate([x[3], x[4], x[5]]))
    # The discriminator takes 3 x 2 inputs: an unpacked batch would not fit it.
    losses, _ = gan.loss(x, jax.random.key(0))
    assert all(np.isfinite(float(v)) for v in losses.values())


@pytest.fixture(scope="module")
def ring8():
    spec = resolve("gan", "ring8", "pacgan", {**SMALL, "model.n_critic": 3})
    return build(spec)[0]


def test_schedule_runs_n_critic_discriminator_phases_then_the_generator_in_one_call(ring8):
    gan = small_gan(n_critic=3)
    train = TrainConfig(steps=4, batch_size=40, inner_steps=2, lr=1e-3)
    result = fit(gan, ring8, identity, train, 0, data_mesh(jax.devices()[:1]))
    assert result.failure is None and result.step_fn.traces == 1
    assert result.step_fn.schedule == [(("discriminator",), 3), (("generator",), 1)]
    adam = {g: result.state["opt"][g] for g in ("generator", "discriminator")}
    counts = {g: int(s[0].count) for g, s in adam.items()}  # (adam, schedule) chain
    assert counts == {"discriminator": 3 * 4, "generator": 4}
    # BatchNorm statistics are state carried by the step, not parameters.
    assert not np.allclose(np.asarray(gan.generator.norms[0].mean[...]), 0.0)


def _players_after_one_step(ring8, simultaneous: bool, d_lr: float, g_lr: float):
    gan = small_gan(seed=1, simultaneous=simultaneous)
    groups = {"discriminator": GroupOverride(lr=d_lr), "generator": GroupOverride(lr=g_lr)}
    train = TrainConfig(
        steps=1, batch_size=40, inner_steps=1, optimizer="sgd", b1=0.0, groups=groups
    )
    result = fit(gan, ring8, identity, train, 0, data_mesh(jax.devices()[:1]))
    assert result.failure is None
    params = {
        g: jax.tree.leaves(nnx.state(getattr(gan, g), nnx.Param))
        for g in ("generator", "discriminator")
    }
    return result.step_fn.schedule, params


def test_simultaneous_updates_take_both_gradients_at_the_same_point(ring8):
    """PacGAN's (ALI's) updates: G's step does not see D's step of the same iteration, nor
    D's G's, so changing one player's learning rate leaves the other's update unchanged."""
    schedule, base = _players_after_one_step(ring8, True, d_lr=0.05, g_lr=0.05)
    assert schedule == [(("discriminator", "generator"), 1)]
    _, frozen_d = _players_after_one_step(ring8, True, d_lr=0.0, g_lr=0.05)
    _, frozen_g = _players_after_one_step(ring8, True, d_lr=0.05, g_lr=0.0)
    for a, b in zip(base["generator"], frozen_d["generator"], strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(base["discriminator"], frozen_g["discriminator"], strict=True):
        np.testing.assert_array_equal(a, b)
    # Alternating: G steps against the updated D, so D's learning rate moves G's update.
    _, moved = _players_after_one_step(ring8, False, d_lr=0.05, g_lr=0.05)
    _, still = _players_after_one_step(ring8, False, d_lr=0.0, g_lr=0.05)
    pairs = zip(moved["generator"], still["generator"], strict=True)
    assert any(not np.array_equal(a, b) for a, b in pairs)


def test_normal_initialisation_draws_weights_of_the_given_std():
    spec = resolve("gan", "ring8", "pacgan-paper", {"model.init_std": 0.02})
    gan = build(spec)[1]
    for path, variable in nnx.iter_graph(gan):
        if isinstance(variable, nnx.Param) and path[-1] == "kernel" and variable.size > 1000:
            assert np.std(variable.get_value()) == pytest.approx(0.02, rel=0.1), path
        elif isinstance(variable, nnx.Param) and path[-1] == "bias":
            assert not np.any(variable.get_value()), path
    default = build(resolve("gan", "ring8", "pacgan-paper", {"model.init_std": 0.0}))[1]
    kernel = default.generator.layers[1].kernel.get_value()  # LeCun normal: std 1/sqrt(400)
    assert np.std(kernel) == pytest.approx(400**-0.5, rel=0.1)


def test_one_and_four_devices_agree(ring8):
    results = []
    for devices in (jax.devices()[:1], jax.devices()[:4]):
        gan = small_gan(pack=2)
        # SGD: Adam's first steps are ~lr * sign(gradient), which turns float
        # reassociation across devices in near-zero gradients into lr-sized differences.
        train = TrainConfig(steps=4, batch_size=40, inner_steps=2, optimizer="sgd", b1=0.0, lr=0.05)
        fit(gan, ring8, identity, train, 0, data_mesh(devices))
        results.append(np.asarray(gan.sample(jax.random.key(3), 64)))
    np.testing.assert_allclose(results[0], results[1], rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("loss", ["minimax", "wgan_gp"])
def test_every_loss_trains_through_the_runner(loss):
    spec = resolve("gan", "ring8", "pacgan", {**SMALL, "model.loss": loss, "model.pack": 2})
    record = run(spec, devices=jax.devices()[:1])
    validate_record(record)
    assert record.status == "ok", record.error
    assert {"loss_generator", "loss_discriminator"} <= set(record.history[-1])
    metrics = record.metrics
    assert 0 <= metrics["modes_captured"] <= 8 and 0 <= metrics["high_quality_frac"] <= 1
    assert record.throughput["mfu"] > 0 and record.throughput["flops_per_step"] > 0


def test_conv_gan_on_digits_samples_images():
    spec = resolve(
        "gan",
        "digits",
        "digits",
        {"train.steps": 20, "train.inner_steps": 10, "eval.timing_calls": 2},
    )
    record = run(spec, devices=jax.devices()[:1])
    assert record.status == "ok", record.error
    assert {"frechet_distance", "precision", "recall"} <= set(record.metrics)


def test_diverging_gan_is_recorded_as_failed_and_the_suite_goes_on(tmp_path):
    diverging = resolve("gan", "ring8", "pacgan", {**SMALL, "train.lr": 1e30})
    fine = resolve("gan", "ring8", "pacgan", SMALL)
    run_suite([diverging, fine], tmp_path)
    records = {r["config"]["train"]["lr"]: r for r in existing_records(tmp_path)}
    failed = records[1e30]
    assert failed["status"] == "failed"
    assert failed["error"]["step"] is not None and "non-finite" in failed["error"]["message"]
    assert records[SMALL.get("train.lr", 1e-4)]["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--set", "model.pack=5"], "model.pack=5 must lie in 1..4"),
        (["--set", "model.pack=3", "--set", "train.batch_size=100"], "multiple of model.pack=3"),
        (["--set", "model.loss=hinge"], "model.loss"),
        (["--set", "model.architecture=conv"], "needs image data"),
        (["--set", "model.updates=simultaneous", "--set", "model.n_critic=5"], "must be 1"),
        (["--set", "model.init_std=-0.1"], "model.init_std=-0.1 must be >= 0"),
        (["--set", "model.batchnorm_statistics=pack"], "model.batchnorm_statistics"),
        (["--set", "model.batchnorm_epsilon=0"], "model.batchnorm_epsilon=0.0 must be > 0"),
    ],
    ids=[
        "pack-range",
        "pack-batch",
        "loss-name",
        "conv-on-2d",
        "simultaneous",
        "init-std",
        "bn-statistics",
        "bn-epsilon",
    ],
)
def test_bad_gan_settings_are_one_line_exit_2(args, fragment, tmp_path, capsys):
    assert main(["run", "gan", "ring8", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err
    assert not any(tmp_path.iterdir())


def test_a_batchnorm_generator_samples_with_statistics_at_its_current_weights():
    generator = MLPGenerator(2, (8, 8), 2, batchnorm=True, squash=False, rngs=nnx.Rngs(0))
    # Running averages far from the weights' own statistics, as after a fast-moving run.
    generator(3.0 + jax.random.normal(jax.random.key(1), (64, 2)), train=True)
    running = jax.tree.map(jnp.copy, nnx.state(generator, nnx.BatchStat))
    z = jax.random.normal(jax.random.key(2), (256, 2))
    copy = calibrated(generator, z)
    # The copy normalises with the calibration batch's own statistics ...
    np.testing.assert_allclose(copy(z, train=False), nnx.clone(generator)(z, train=True), atol=1e-5)
    assert not np.allclose(copy(z, train=False), generator(z, train=False), atol=1e-2)
    # ... and the generator's running statistics are left as they were.
    jax.tree.map(np.testing.assert_array_equal, running, nnx.state(generator, nnx.BatchStat))
    plain = MLPGenerator(2, (8,), 2, batchnorm=False, squash=False, rngs=nnx.Rngs(0))
    assert calibrated(plain, z) is plain


def test_every_sampling_call_at_the_same_weights_uses_one_set_of_statistics():
    """An evaluation draws its samples in batches (eval.batch_size): all of them must come
    from one generator, as PacGAN's 2,500 do, not one calibration per batch."""
    gan = small_gan()
    sample = nnx.jit(lambda m, k: m.sample(k, 64))
    fixed = nnx.jit(lambda m, z: m.calibrated_generator()(z, train=False))
    for seed in (1, 2):
        rng = jax.random.key(seed)
        z = jax.random.normal(rng, (64, 2))
        np.testing.assert_allclose(sample(gan, rng), fixed(gan, z), rtol=1e-5, atol=1e-6)
    # the statistics are the current weights': a step of training moves them
    before = fixed(gan, z)
    last = [m for _, m in nnx.iter_modules(gan.generator) if isinstance(m, nnx.Linear)][-1]
    last.kernel[...] = 2.0 * last.kernel[...]
    assert not np.allclose(fixed(gan, z), before, atol=1e-3)


@pytest.mark.parametrize("slots", [1, 2])
def test_batchnorm_epsilon_is_added_to_the_variance_with_either_statistics(slots):
    """PacGAN's code normalises with Blocks' epsilon of 1e-4 (Flax's is 1e-5): the GAN's
    ``model.batchnorm_epsilon`` reaches every generator BatchNorm, whole-batch or per slot."""
    epsilon = 0.5  # large enough to move the output far beyond float rounding
    generator = MLPGenerator(
        2, (8,), 2, batchnorm=True, batchnorm_epsilon=epsilon, squash=False, rngs=nnx.Rngs(0)
    )
    z = jax.random.normal(jax.random.key(1), (12, 2))
    h = np.asarray(generator.layers[0](z)).reshape(-1, slots, 8)
    normed = (h - h.mean(0)) / np.sqrt(h.var(0) + epsilon)
    expected = generator.out(jax.nn.relu(normed.reshape(12, 8)))  # scale 1, bias 0 at init
    # Compiled, as the training step calls it.
    trained = nnx.jit(lambda g, x: g(x, train=True, slots=slots))(generator, z)
    np.testing.assert_allclose(trained, expected, atol=1e-5)
    spec = resolve("gan", "ring8", "pacgan-paper", {"model.batchnorm_epsilon": 1e-4})
    _, model = build(spec)
    assert {norm.epsilon for norm in model.generator.norms} == {1e-4}


def test_slot_statistics_are_the_generator_run_once_per_slot():
    """PacGAN's code runs G on each pack slot's noise separately: with
    ``batchnorm_statistics=slot`` one call on the packed layout (row r in slot r mod m)
    gives the same samples, and running statistics moved by the slots' mean statistics."""
    slots = 3
    generator = MLPGenerator(2, (8, 8), 2, batchnorm=True, squash=False, rngs=nnx.Rngs(0))
    z = 0.5 + jax.random.normal(jax.random.key(1), (30, 2))
    alone = [nnx.clone(generator) for _ in range(slots)]
    expected = np.empty((30, 2), np.float32)
    for j, copy in enumerate(alone):
        expected[j::slots] = copy(z[j::slots], train=True)
    # Compiled, as the training step calls it (it updates the running statistics in place).
    packed = nnx.jit(lambda g, x: g(x, train=True, slots=slots))(generator, z)
    np.testing.assert_allclose(packed, expected, atol=1e-5)
    slot_means = [nnx.state(copy, nnx.BatchStat) for copy in alone]
    mean_of_slots = jax.tree.map(lambda *s: sum(s) / slots, *slot_means)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
        nnx.state(generator, nnx.BatchStat),
        mean_of_slots,
    )
    # Whole-batch statistics differ: the slots see different batches.
    whole = nnx.clone(generator)
    assert not np.allclose(whole(z, train=True), expected, atol=1e-3)


def test_slot_statistics_train_a_packed_gan_and_leave_pack_one_unchanged():
    slot = {"model.batchnorm_statistics": "slot"}
    one = [
        run(resolve("gan", "ring8", "pacgan", SMALL | extra), devices=jax.devices()[:1])
        for extra in ({}, slot)
    ]
    assert one[0].metrics == one[1].metrics
    packed = run(
        resolve("gan", "ring8", "pacgan", SMALL | slot | {"model.pack": 2}),
        devices=jax.devices()[:1],
    )
    assert packed.status == "ok", packed.error
    assert packed.metrics["modes_captured"] >= 1


def test_slot_statistics_with_the_conv_generator_is_one_line_exit_2(tmp_path, capsys):
    argv = ["run", "gan", "digits", "--set", "model.batchnorm_statistics=slot"]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "batchnorm_statistics=slot needs the MLP generator" in err
    assert not any(tmp_path.iterdir())
