"""Fixed packs (``train.fixed_packs``): PacGAN's authors' training data, N packs whose
slots are bootstrap resamples drawn once per run, reordered as whole packs each epoch."""

import jax
import numpy as np
import pytest

from genbench.cli import main
from genbench.runner import run
from genbench.spec import resolve
from genbench.train.feed import ArrayFeeder, fixed_packs_of
from genbench.train.mesh import data_mesh

SMALL_GAN = {
    "data.fresh": False,
    "data.n_train": 600,
    "model.pack": 3,
    "model.generator_hidden": (16, 16),
    "model.discriminator_hidden": (16,),
    "train.batch_size": 30,
    "train.steps": 40,
    "train.inner_steps": 20,
    "eval.timing_calls": 1,
}


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


def _epochs_of_packs(feeder, pack, steps):
    """The packs of each epoch's batches, as the compiled step gathers them."""
    gather = jax.jit(lambda d, inputs, s: feeder.batch(d, inputs, s, None))
    epochs = {}
    for first in range(0, steps, 5):
        inputs = feeder.call_inputs(first)
        for s in range(first, first + 5):
            rows = np.asarray(gather(feeder.data, inputs, s))[:, 0].astype(int)
            epochs.setdefault(s // feeder.steps_per_epoch, []).extend(
                map(tuple, rows.reshape(-1, pack))
            )
    return epochs


def test_every_epoch_is_the_same_packs_in_a_new_order():
    n, pack, seed = 12, 3, 5
    data = np.arange(n, dtype=np.float32)[:, None]
    feeder = ArrayFeeder(data, 6, 5, seed, data_mesh(jax.devices()[:1]), fixed_packs=pack)
    assert feeder.steps_per_epoch == n * pack // 6  # N packs per epoch, 2 per step
    epochs = _epochs_of_packs(feeder, pack, 20)
    fixed = sorted(map(tuple, fixed_packs_of(n, pack, seed)))
    for epoch in (0, 1, 2):
        assert sorted(epochs[epoch]) == fixed, epoch
    assert epochs[0] != epochs[1]


def test_a_batch_of_part_of_a_pack_is_refused():
    from genbench.errors import UsageError

    with pytest.raises(UsageError, match="whole packs of 3"):
        ArrayFeeder(
            np.zeros((12, 1), np.float32), 4, 1, 0, data_mesh(jax.devices()[:1]), fixed_packs=3
        )


def test_a_gan_trains_on_fixed_packs_with_one_compile_and_its_own_key():
    devices = jax.devices()[:1]
    shuffled = resolve("gan", "ring8", "pacgan-paper", SMALL_GAN, 0)
    fixed = resolve("gan", "ring8", "pacgan-paper", SMALL_GAN | {"train.fixed_packs": True}, 0)
    records = [run(spec, devices=devices, measure_throughput=False) for spec in (shuffled, fixed)]
    assert [r.status for r in records] == ["ok", "ok"], [r.error for r in records]
    assert records[0].run_key != records[1].run_key
    assert records[1].config["train"]["fixed_packs"] is True
    # the same model and seed on different data: the training losses part
    assert [h["loss"] for h in records[0].history] != [h["loss"] for h in records[1].history]


def test_fixed_packs_with_fresh_data_is_one_line_exit_2(tmp_path, capsys):
    argv = ["run", "gan", "ring8", "--set", "data.fresh=true", "--set", "train.fixed_packs=true"]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.fixed_packs needs a fixed training set" in err
    assert not any(tmp_path.iterdir())
