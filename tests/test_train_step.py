"""The shared training step: one compile, phases in order, data feeding, devices, non-finite."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from genbench.config import TrainConfig
from genbench.data.base import Dataset
from genbench.models.vae import VAE
from genbench.train.feed import ArrayFeeder
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh
from genbench.train.step import TrainStep


def identity(x, rng):
    del rng
    return x


class GroupA(nnx.Param):
    pass


class GroupB(nnx.Param):
    pass


class TwoGroups(nnx.Module):
    """a chases the batch mean twice per step, then b chases the updated a."""

    def __init__(self):
        self.a = GroupA(jnp.array(0.0))
        self.b = GroupB(jnp.array(0.0))

    def param_groups(self):
        return {"a": GroupA, "b": GroupB}

    def update_schedule(self):
        return [("a", 2), ("b", 1)]

    def loss(self, batch, rng):
        del rng
        a, b = self.a[...], self.b[...]
        return {"a": (a - jnp.mean(batch)) ** 2, "b": (b - a) ** 2}, {}


def small_binary(n=64, dim=6, seed=0):
    x = (np.random.default_rng(seed).random((n, dim)) > 0.5).astype(np.float32)
    return Dataset("toy", x, x[:16], "binary")


def make_vae(seed=0):
    return VAE(6, 2, (8,), "tanh", "bernoulli", 1e-3, rngs=nnx.Rngs(seed))


def test_phases_run_in_order_with_updated_parameters():
    lr, x = 0.1, np.full((4, 1), 2.0, np.float32)
    model = TwoGroups()
    mesh = data_mesh(jax.devices()[:1])
    feeder = ArrayFeeder(x, 4, 1, 0, mesh)
    tx = {"a": optax.sgd(lr), "b": optax.sgd(lr)}
    step = TrainStep(model, tx, feeder=feeder, transform=identity, mesh=mesh, inner_steps=1, seed=0)
    state, _ = step(step.init_state(model), 0)
    step.write_back(model, state)
    a = 0.0
    for _ in range(2):
        a -= lr * 2 * (a - 2.0)
    b = 0.0 - lr * 2 * (0.0 - a)
    np.testing.assert_allclose(float(model.a[...]), a, rtol=1e-6)
    np.testing.assert_allclose(float(model.b[...]), b, rtol=1e-6)


def test_each_epoch_visits_every_example_once_across_calls():
    mesh = data_mesh(jax.devices()[:1])
    data = np.arange(10, dtype=np.float32)[:, None]
    feeder = ArrayFeeder(data, 3, 7, seed=5, mesh=mesh)
    assert feeder.epochs_per_call == 3
    gather = jax.jit(lambda d, inputs, s: feeder.batch(d, inputs, s, None))
    seen = {}
    for first in range(0, 21, 7):
        inputs = feeder.call_inputs(first)
        for s in range(first, first + 7):
            seen.setdefault(s // 3, []).extend(np.asarray(gather(feeder.data, inputs, s))[:, 0])
    for epoch, values in seen.items():
        assert len(set(values)) == len(values) == 9, epoch
    assert seen[0] != seen[1]


def test_fit_compiles_once_and_is_reproducible():
    train = TrainConfig(steps=40, batch_size=16, inner_steps=10, lr=1e-2)
    runs = []
    for _ in range(2):
        model = make_vae()
        result = fit(model, small_binary(), identity, train, 3, data_mesh(jax.devices()[:1]))
        assert result.step_fn.traces == 1
        runs.append((result.history, jax.tree.leaves(nnx.state(model, nnx.Param))))
    assert [h["loss"] for h in runs[0][0]] == [h["loss"] for h in runs[1][0]]
    for p, q in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_array_equal(p, q)


def test_model_loss_is_traced_once_per_compile():
    class CountedVAE(VAE):
        @chex.assert_max_traces(n=1)
        def loss(self, batch, rng):
            return super().loss(batch, rng)

    model = CountedVAE(6, 2, (8,), "tanh", "bernoulli", 1e-3, rngs=nnx.Rngs(0))
    train = TrainConfig(steps=20, batch_size=16, inner_steps=5)
    fit(model, small_binary(), identity, train, 0, data_mesh(jax.devices()[:1]))


def test_one_device_and_four_devices_agree():
    assert jax.device_count() == 4
    train = TrainConfig(steps=20, batch_size=16, inner_steps=5, lr=1e-2)
    losses = []
    for devices in (jax.devices()[:1], jax.devices()[:4]):
        model = make_vae(1)
        mesh = data_mesh(devices)
        feeder = ArrayFeeder(small_binary().train, 16, 5, 0, mesh)
        from genbench.train.optim import make_optimizer

        step = TrainStep(
            model,
            {"params": make_optimizer(train, "params")},
            feeder=feeder,
            transform=identity,
            mesh=mesh,
            inner_steps=5,
            seed=0,
        )
        state = step.init_state(model)
        per_step = []
        for first in range(0, 20, 5):
            state, out = step(state, first)
            per_step.extend(np.asarray(out["loss"]["params"]))
        losses.append(np.array(per_step))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)


def test_batch_must_split_over_devices():
    from genbench.errors import UsageError

    train = TrainConfig(steps=10, batch_size=10)
    with pytest.raises(UsageError, match="multiple of the 4 devices"):
        fit(make_vae(), small_binary(), identity, train, 0, data_mesh())


class Quadratic(nnx.Module):
    def __init__(self):
        self.a = nnx.Param(jnp.array(1.0))

    def loss(self, batch, rng):
        del batch, rng
        return {"params": self.a[...] ** 2}, {}


def test_first_non_finite_step_is_reported():
    lr = 10.0
    a, first_bad = np.float32(1.0), None
    with np.errstate(over="ignore"):
        for step in range(100):
            if not np.isfinite(a * a):
                first_bad = step
                break
            a = np.float32(a - np.float32(lr * 2) * a)
    train = TrainConfig(steps=60, batch_size=4, inner_steps=6, optimizer="sgd", b1=0.0, lr=lr)
    result = fit(Quadratic(), small_binary(), identity, train, 0, data_mesh(jax.devices()[:1]))
    assert result.failure == {
        "step": first_bad,
        "group": "params",
        "reason": "non-finite loss or gradient",
    }
    assert result.history[-1]["step"] == first_bad


class SqrtAtZero(nnx.Module):
    """loss sqrt|a| at a = 0: a finite loss with an infinite gradient; SGD makes a = -inf.

    ``hide``: the loss is 0 wherever a is not finite, so no later loss shows it.
    """

    def __init__(self, hide: bool):
        self.a = nnx.Param(jnp.array(0.0))
        self.hide = hide

    def loss(self, batch, rng):
        del batch, rng
        a = self.a[...]
        loss = jnp.sqrt(jnp.abs(a))
        return {"params": jnp.where(jnp.isfinite(a), loss, 0.0) if self.hide else loss}, {}


@pytest.mark.parametrize(("hide", "reported"), [(False, 1), (True, 4)], ids=["shown", "hidden"])
def test_a_non_finite_gradient_is_reported(hide, reported):
    """Step 0's gradient is infinite: step 1's loss shows it, or else the call's parameters."""
    train = TrainConfig(steps=10, batch_size=4, inner_steps=5, optimizer="sgd", b1=0.0, lr=0.1)
    result = fit(SqrtAtZero(hide), small_binary(), identity, train, 0, data_mesh(jax.devices()[:1]))
    assert result.failure == {
        "step": reported,
        "group": "params",
        "reason": "non-finite loss or gradient",
    }


class CulpritOfTwo(nnx.Module):
    """Groups a then b; ``culprit``'s loss is sqrt|p| at p = 0 (finite, infinite gradient).

    b's loss reads a, so a non-finite a shows in b's loss of the same step.
    """

    def __init__(self, culprit: str):
        self.a = GroupA(jnp.array(0.0 if culprit == "a" else 1.0))
        self.b = GroupB(jnp.array(0.0 if culprit == "b" else 1.0))
        self.culprit = culprit

    def param_groups(self):
        return {"a": GroupA, "b": GroupB}

    def update_schedule(self):
        return [("a", 1), ("b", 1)]

    def loss(self, batch, rng):
        del batch, rng
        a, b = self.a[...], self.b[...]
        loss_a = jnp.sqrt(jnp.abs(a)) if self.culprit == "a" else (a - 1.0) ** 2
        loss_b = jnp.sqrt(jnp.abs(b)) if self.culprit == "b" else (b - 1.0) ** 2
        return {"a": loss_a, "b": loss_b + 0.0 * a}, {}


@pytest.mark.parametrize("culprit", ["a", "b"])
def test_with_several_groups_the_failure_names_the_group_whose_gradient_failed(culprit):
    train = TrainConfig(steps=10, batch_size=4, inner_steps=5, optimizer="sgd", b1=0.0, lr=0.1)
    mesh = data_mesh(jax.devices()[:1])
    result = fit(CulpritOfTwo(culprit), small_binary(), identity, train, 0, mesh)
    assert result.failure == {
        "step": 0,
        "group": culprit,
        "reason": "non-finite loss or gradient",
    }


def test_step_keys_are_the_per_step_derivation():
    """Keys derived for a whole call equal fold_in(key(seed), s), split in 3, phase folds."""
    model = TwoGroups()
    mesh = data_mesh(jax.devices()[:1])
    feeder = ArrayFeeder(np.zeros((4, 1), np.float32), 4, 1, 0, mesh)
    tx = {"a": optax.sgd(0.1), "b": optax.sgd(0.1)}
    step = TrainStep(model, tx, feeder=feeder, transform=identity, mesh=mesh, inner_steps=1, seed=7)
    steps = jnp.arange(1000, 1004, dtype=jnp.int32)
    keys = step._step_keys(steps, step.base_key)
    folds = [0, 1, 1024]  # phase 0 repeats 0 and 1, phase 1 repeat 0
    for i, s in enumerate(steps):
        k_data, k_view, k_model = jax.random.split(jax.random.fold_in(jax.random.key(7), s), 3)
        expected = [k_data, k_view] + [jax.random.fold_in(k_model, f) for f in folds]
        got = [keys["data"][i], keys["view"][i], *keys["phase"][i]]
        for want, have in zip(expected, got, strict=True):
            np.testing.assert_array_equal(jax.random.key_data(want), jax.random.key_data(have))


def test_cpu_dots_picks_the_matmul_library_of_the_compiled_step():
    programs = {}
    for library in ("ynnpack", "eigen"):
        train = TrainConfig(steps=2, batch_size=16, inner_steps=2, cpu_dots=library)
        result = fit(make_vae(), small_binary(), identity, train, 0, data_mesh(jax.devices()[:1]))
        programs[library] = result.step_fn._compiled.as_text()
    assert "ynn_fusion" not in programs["eigen"]
    assert programs["eigen"] != programs["ynnpack"]


def test_a_jaxlib_without_the_dot_option_compiles_with_xla_defaults(monkeypatch):
    import genbench.models.fast.cpu_dots as cpu_dots

    unknown = {"ynnpack": {}, "eigen": {"xla_cpu_no_such_option": ""}}
    monkeypatch.setattr(cpu_dots, "CPU_DOT_OPTIONS", unknown)
    train = TrainConfig(steps=2, batch_size=16, inner_steps=2, cpu_dots="eigen")
    with pytest.warns(UserWarning, match="XLA's default dot library"):
        result = fit(make_vae(), small_binary(), identity, train, 0, data_mesh(jax.devices()[:1]))
    assert result.failure is None and np.isfinite(result.history[-1]["loss"])


def test_non_parameter_state_is_carried_by_the_step():
    from genbench.models.autoencoder import Autoencoder

    model = Autoencoder(6, 2, (8,), "relu", "bce", "none", 0.0, 0.5, rngs=nnx.Rngs(0))
    train = TrainConfig(steps=10, batch_size=16, inner_steps=5)
    fit(model, small_binary(), identity, train, 0, data_mesh(jax.devices()[:1]))
    assert not np.allclose(model.code_var[...], 1.0)
