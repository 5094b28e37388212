"""One knob for a transformer's block on text, random training offsets, nanoGPT's val loss."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from genbench.config import EvalConfig
from genbench.data.base import Dataset
from genbench.data.text import text_dataset
from genbench.metrics.likelihood import block_windows, likelihood_metrics
from genbench.models.transformer import Transformer
from genbench.models.transformer import build as build_transformer
from genbench.runner import run
from genbench.spec import resolve
from genbench.train.feed import WindowFeeder, make_feeder
from genbench.train.mesh import data_mesh

LINES = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(LINES * 40, encoding="utf-8")  # 3,480 characters: a test split of 348
    return str(path)


def _tiny(vocab, block, seed=0):
    model = Transformer(
        vocab, 2 * block + 1, n_layer=1, n_head=2, n_embd=8, block_size=block, stride=block // 2,
        rngs=nnx.Rngs(seed),
    )  # fmt: skip
    model.first_logits[...] = jnp.linspace(-2.0, 2.0, vocab)  # a first-token term that matters
    return model


def test_data_block_follows_the_model_block_unless_set(text_file):
    data = {"data.path": text_file}
    spec = resolve("transformer", "text", None, data | {"model.block_size": 16})
    assert spec.config.data.block_size == 32  # twice the model's: random training offsets
    spec = resolve("transformer", "text", None, data | {"model.block_size": 16,
                                                        "data.block_size": 16})  # fmt: skip
    assert spec.config.data.block_size == 16  # set: kept
    assert resolve("transformer", "text", None, data).config.data.block_size == 128
    preset = resolve("transformer", "text", "shakespeare-char-cpu", data).config
    assert preset.data.block_size == 2 * preset.model.block_size
    assert resolve("hmm", "text", None, data).config.data.block_size == 128  # no model block


def test_preset_windows_are_drawn_at_random_offsets(tmp_path):
    """The preset's model windows are cut from the data's longer rows at uniformly random
    offsets (nanoGPT's get_batch): windows start at every position of the training text,
    not only at the multiples of the data's stride that fixed windows would start at."""
    letters = np.random.default_rng(0).choice(list("abcdefghijklmnopqrst"), 3000)
    path = tmp_path / "random.txt"
    path.write_text("".join(letters), encoding="utf-8")
    config = resolve("transformer", "text", "shakespeare-char-cpu", {"data.path": str(path)}).config
    dataset = text_dataset(config.data)
    window = build_transformer(config, dataset, nnx.Rngs(0)).train_window
    feeder = make_feeder(dataset, 64, 1, 0, data_mesh(jax.devices()[:1]), window=window)
    assert isinstance(feeder, WindowFeeder)
    drawn = np.concatenate(
        [np.asarray(feeder.batch(feeder.data, None, 0, jax.random.key(k))) for k in range(40)]
    )
    assert drawn.shape == (40 * 64, window)
    # Where each window starts in the training text (random letters: one place each).
    stride = config.data.block_size // 2
    text = np.concatenate([dataset.train[:, :stride].ravel(), dataset.train[-1, stride:]])
    places = np.lib.stride_tricks.sliding_window_view(text, window)
    starts = [int(np.flatnonzero((places == row).all(axis=1))[0]) for row in drawn]
    assert {s % stride for s in starts} == set(range(stride))


def test_next_token_xent_is_the_brute_force_cross_entropy_of_positions_1_to_b():
    vocab, block = 5, 4
    rows = np.random.default_rng(0).integers(0, vocab, (6, 2 * block + 1)).astype(np.int32)
    dataset = Dataset("r", rows, rows, "sequence", levels=vocab)
    model = _tiny(vocab, block)
    eval_cfg = EvalConfig(batch_size=4)
    metrics, estimators = likelihood_metrics(
        model, dataset, _identity_view(), eval_cfg, jax.random.key(0)
    )
    # Brute force: each row is two windows of B + 1 tokens (starts 0 and B); the model's
    # logits at positions 0..B-1 of a window predict its tokens 1..B.
    windows = np.concatenate([rows[:, : block + 1], rows[:, block : 2 * block + 1]])
    np.testing.assert_array_equal(block_windows(rows, block + 1), windows)
    logits = model(jnp.asarray(windows[:, :-1]))
    per_window = optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean(1)
    assert metrics["next_token_xent"] == pytest.approx(float(per_window.mean()), rel=1e-5)
    assert metrics["next_token_xent_se"] == pytest.approx(
        float(per_window.std(ddof=1) / np.sqrt(len(per_window))), rel=1e-4
    )
    assert estimators["next_token_xent"] == "exact"
    # nll per token includes the first-token term and a longer context: a different number.
    assert abs(metrics["nll"] - metrics["next_token_xent"]) > 1e-3


def _identity_view():
    from genbench.data.view import DataView

    return DataView(lambda x, r: x, 0.0, False)


def test_one_knob_run_with_a_larger_block(text_file):
    """``--set model.block_size=B`` alone works (it failed with 'lower the block' before)."""
    overrides = {
        "data.path": text_file,
        "model.block_size": 24,
        "model.n_layer": 1,
        "model.n_embd": 16,
        "train.steps": 4,
        "train.inner_steps": 2,
        "train.batch_size": 4,
        "eval.timing_calls": 1,
    }
    spec = resolve("transformer", "text", None, overrides)
    record = run(spec, devices=jax.devices()[:1], measure_throughput=False)
    assert record.status == "ok", record.error
    assert record.config["data"]["block_size"] == 48
    assert record.config["model"]["block_size"] == 24
    assert 0 < record.metrics["next_token_xent"] < 10
