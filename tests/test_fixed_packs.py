"""Fixed packs (``train.fixed_packs``): PacGAN's authors' training data, each run's own
points, N packs whose slots are bootstrap resamples drawn once, reordered each epoch."""

import dataclasses

import jax
import numpy as np
import pytest

from genbench.cli import main
from genbench.errors import UsageError
from genbench.runner import build, run
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh
from genbench.train.packs import PackFeeder, fixed_packs_of, training_points

SMALL_GAN = {
    "data.fresh": False,
    "data.n_train": 600,
    "model.generator_hidden": (16, 16),
    "model.discriminator_hidden": (16,),
    "train.steps": 40,
    "train.inner_steps": 20,
    "eval.timing_calls": 1,
}
PACK3 = {"model.pack": 3, "train.batch_size": 30}


def one_device():
    return data_mesh(jax.devices()[:1])


def test_each_slot_is_a_bootstrap_resample_fixed_by_the_seed():
    n, pack = 20_000, 3
    packs = fixed_packs_of.__wrapped__(n, pack, 7)
    assert packs.shape == (n, pack) and packs.min() >= 0 and packs.max() < n
    np.testing.assert_array_equal(packs, fixed_packs_of.__wrapped__(n, pack, 7))
    assert not np.array_equal(packs, fixed_packs_of.__wrapped__(n, pack, 8))
    for slot in range(pack):
        # with replacement: a resample of n holds 1 - (1 - 1/n)^n ~ 1 - 1/e of the examples
        unique = len(np.unique(packs[:, slot])) / n
        assert unique == pytest.approx(1 - np.exp(-1), abs=0.01)
    # the slots are drawn independently of each other
    assert np.mean(packs[:, 0] == packs[:, 1]) < 0.01


def _packs_by_epoch(feeder, pack, steps, calls=5, seed_index=None):
    """The packs (as tuples of row values) of each epoch's batches, gathered as the compiled
    step gathers them (``seed_index``: that seed's batches of a seed group's feeder)."""

    def gather(data, inputs, step):
        if seed_index is not None:
            perms, base = inputs
            inputs = (perms[seed_index], base)
        return feeder.batch(data, inputs, step, None)

    gather = jax.jit(gather)
    epochs = {}
    for first in range(0, steps, calls):
        inputs = feeder.call_inputs(first)
        for s in range(first, first + calls):
            rows = np.asarray(gather(feeder.data, inputs, s))[:, 0]
            packs = map(tuple, rows.reshape(-1, pack))
            epochs.setdefault(s // feeder.steps_per_epoch, []).extend(packs)
    return epochs


def test_every_epoch_is_the_same_packs_in_a_new_order():
    n, pack, seed = 12, 3, 5
    data = np.arange(n, dtype=np.float32)[:, None]
    feeder = PackFeeder(data, pack, 6, 5, seed, one_device())
    assert feeder.steps_per_epoch == n * pack // 6  # N packs per epoch, 2 per step
    epochs = _packs_by_epoch(feeder, pack, 20)
    fixed = sorted(map(tuple, fixed_packs_of(n, pack, seed).astype(np.float32)))
    for epoch in (0, 1, 2):
        assert sorted(epochs[epoch]) == fixed, epoch
    assert epochs[0] != epochs[1]


def test_each_seed_of_a_group_gets_its_own_points_and_the_packs_it_gets_alone():
    n, pack = 10, 2
    train = {s: (100 * s + np.arange(n, dtype=np.float32))[:, None] for s in (3, 4)}
    group = PackFeeder(train, pack, 4, 5, 3, one_device(), seeds=(3, 4))
    for index, seed in enumerate((3, 4)):
        alone = PackFeeder({seed: train[seed]}, pack, 4, 5, seed, one_device())
        grouped = _packs_by_epoch(group, pack, 15, seed_index=index)
        assert grouped == _packs_by_epoch(alone, pack, 15)
        assert {v for p in grouped[0] for v in p} <= set(train[seed][:, 0])


def test_a_source_gives_each_run_its_own_points():
    spec = resolve("gan", "ring8", "pacgan-paper", SMALL_GAN | {"train.fixed_packs": True})
    dataset, _ = build(spec)
    points = training_points(dataset, (0, 1))
    assert np.array_equal(points[1], training_points(dataset, (1,))[1])
    assert points[0].shape == points[1].shape == np.asarray(dataset.train).shape
    assert not np.allclose(points[0], points[1])
    assert not np.allclose(points[0], dataset.train)  # not the split every run shares
    # each run's points are a draw of the mixture: all within 6 std of a mode
    distances = np.linalg.norm(points[0][:, None] - dataset.mode_means[None], axis=-1)
    assert distances.min(axis=1).max() < 6 * dataset.mode_std * np.sqrt(2)


def test_a_batch_of_part_of_a_pack_is_refused():
    with pytest.raises(UsageError, match="whole packs of 3"):
        PackFeeder(np.zeros((12, 1), np.float32), 3, 4, 1, 0, one_device())


@pytest.mark.parametrize("pack", [PACK3, {"model.pack": 1, "train.batch_size": 30}])
def test_a_gan_trains_on_fixed_packs_with_one_compile_and_its_own_key(pack):
    shuffled = resolve("gan", "ring8", "pacgan-paper", SMALL_GAN | pack, 0)
    fixed = dataclasses.replace(shuffled.config.train, fixed_packs=True)
    histories = []
    for train in (shuffled.config.train, fixed):
        dataset, model = build(shuffled)
        result = fit(model, dataset, lambda x, rng: x, train, 0, one_device())
        assert result.step_fn.traces == 1
        histories.append([h["loss"] for h in result.history])
    # the same model and seed on other data: the training losses part
    assert histories[0] != histories[1]


def test_a_fixed_packs_run_is_recorded_under_its_own_key():
    devices = jax.devices()[:1]
    specs = [
        resolve("gan", "ring8", "pacgan-paper", SMALL_GAN | PACK3 | extra, 0)
        for extra in ({}, {"train.fixed_packs": True})
    ]
    record = run(specs[1], devices=devices, measure_throughput=False)
    assert record.status == "ok", record.error
    assert record.config["train"]["fixed_packs"] is True
    assert record.run_key == specs[1].run_key != specs[0].run_key


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["ring8", "--set", "data.fresh=true"], "train.fixed_packs needs a fixed training set"),
        (["digits", "--set", "model.conditional=true"], "whole, unlabelled examples"),
    ],
    ids=["fresh-data", "labels"],
)
def test_fixed_packs_bad_input_is_one_line_exit_2(argv, fragment, tmp_path, capsys):
    argv = ["run", "gan", *argv, "--set", "train.fixed_packs=true", "--set", "train.steps=20"]
    assert main([*argv, "--set", "train.inner_steps=10", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err
    assert not any(tmp_path.iterdir())
