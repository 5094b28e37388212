"""The transformer: exact window likelihood, causality, KV-cache sampling, training, devices."""

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench import registry
from genbench.cli import main
from genbench.config import TrainConfig
from genbench.data.base import Dataset
from genbench.models.transformer import Transformer, context_start
from genbench.models.transformer_sampling import generate, last_logits, recompute_tokens
from genbench.results import validate_record
from genbench.runner import run
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

V = 4


def tiny(vocab=V, length=12, block=4, stride=2, seed=0, **kw):
    kw = {"n_layer": 1, "n_head": 2, "n_embd": 8} | kw
    model = Transformer(vocab, length, block_size=block, stride=stride, rngs=nnx.Rngs(seed), **kw)
    # Non-uniform first-token logits, so the first factor is exercised too.
    model.first_logits[...] = jnp.linspace(-0.5, 0.5, vocab)
    return model


def cycle_sequences(n, length, seed):
    """x_{t+1} = x_t + 1 (mod V) with probability 0.9, else uniform: unigram entropy log V."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, length), np.int32)
    x[:, 0] = rng.integers(0, V, n)
    for t in range(1, length):
        jump = rng.random(n) < 0.1
        x[:, t] = np.where(jump, rng.integers(0, V, n), (x[:, t - 1] + 1) % V)
    return x


@dataclasses.dataclass(frozen=True)
class CycleConfig:
    """A test dataset: noisy cycles through V symbols."""

    length: int = 17  # tokens per sequence


def cycle_dataset(config):
    data = Dataset(
        "cycle",
        cycle_sequences(64, config.length, 0),
        cycle_sequences(16, config.length, 1),
        "sequence",
        levels=V,
    )
    data.char_level = True
    return data


@pytest.fixture(scope="module")
def cycle_registered():
    entry = registry.DatasetEntry("cycle", CycleConfig, cycle_dataset, "test: noisy cycles")
    registry.register_dataset(entry)
    yield "cycle"
    registry._DATASETS.pop("cycle")


@pytest.mark.parametrize(("block", "stride", "length"), [(3, 1, 3), (2, 1, 5), (3, 2, 6)])
def test_log_prob_sums_to_one_over_all_windows(block, stride, length):
    """Brute force over all V^L windows (V = 3), within and beyond the context."""
    model = tiny(vocab=3, length=length, block=block, stride=stride)
    windows = jnp.array(list(itertools.product(range(3), repeat=length)), jnp.float32)
    log_p = nnx.jit(lambda m, x: m.log_prob(x))(model, windows)
    np.testing.assert_allclose(float(jax.scipy.special.logsumexp(log_p)), 0.0, atol=1e-5)


def test_log_prob_is_the_sum_of_the_documented_conditionals():
    model = tiny(length=9, block=4, stride=2)
    graphdef, state = nnx.split(model)
    x = jnp.asarray(cycle_sequences(3, 9, 2))
    expected = jax.nn.log_softmax(model.first_logits[...])[x[:, 0]]
    for p in range(1, 9):
        start = context_start(p, 4, 2)
        logits = last_logits(graphdef, state, x[:, start:p])
        expected += jax.nn.log_softmax(logits)[jnp.arange(3), x[:, p]]
    log_p = nnx.jit(lambda m, x: m.log_prob(x))(model, x)
    np.testing.assert_allclose(log_p, expected, rtol=1e-5)


def test_future_tokens_do_not_change_earlier_logits():
    model = tiny(block=8)
    x = jnp.asarray(cycle_sequences(2, 8, 3))
    changed = x.at[:, 5].set((x[:, 5] + 1) % V)
    a, b = nnx.jit(lambda m, x, y: (m(x), m(y)))(model, x, changed)
    np.testing.assert_array_equal(a[:, :5], b[:, :5])
    assert not np.allclose(a[:, 5:], b[:, 5:])


@pytest.mark.parametrize(
    ("temperature", "top_k", "prompt"),
    [(1.0, None, None), (0.7, 2, [[1, 2, 3], [0, 0, 0], [3, 1, 2]])],
    ids=["t1", "top2-prompt"],
)
def test_kv_cache_sampling_equals_full_recomputation(temperature, top_k, prompt):
    """Token for token, beyond the context (12 tokens, B = 4, S = 2)."""
    model = tiny(length=12, block=4, stride=2, n_layer=2)
    key = jax.random.key(7)
    prompt = jnp.zeros((3, 0), jnp.int32) if prompt is None else jnp.array(prompt, jnp.int32)
    given = prompt.shape[1]
    cached = generate(model, key, prompt, 12 - given, temperature, top_k)
    reference = recompute_tokens(model, key, prompt, 12, temperature, top_k)
    np.testing.assert_array_equal(cached, reference)
    np.testing.assert_array_equal(cached[:, :given], prompt)
    if top_k is not None:  # every drawn token is among the top k of its conditional
        graphdef, state = nnx.split(model)
        x = np.asarray(cached)
        for p in range(given, 12):
            start = context_start(p, 4, 2)
            logits = np.asarray(last_logits(graphdef, state, jnp.asarray(x[:, start:p])))
            rank = (logits > logits[np.arange(3), x[:, p]][:, None]).sum(-1)
            assert (rank < top_k).all()


def test_sample_has_the_dataset_length():
    model = tiny(length=11)
    x = nnx.jit(lambda m, k: m.sample(k, 5))(model, jax.random.key(0))
    assert x.shape == (5, 11) and x.dtype == jnp.int32
    assert int(x.min()) >= 0 and int(x.max()) < V


def test_flop_count():
    model = tiny(block=4, n_layer=2, n_embd=8, n_head=2)
    n = 2 * (8 * 24 + 8 * 8 + 8 * 32 + 32 * 8 + 2 * 8) + V * 8  # blocks (LN gains) + head
    assert model.matmul_params() == n
    assert model.analytic_flops_per_token() == 6 * n + 12 * 2 * 2 * 4 * 4
    assert model.flops_per_example() == 4 * model.analytic_flops_per_token()


def test_training_run_beats_the_unigram_entropy(cycle_registered):
    overrides = {
        "model.block_size": 8,
        "model.n_layer": 1,
        "model.n_embd": 8,
        "train.steps": 60,
        "train.inner_steps": 20,
        "train.batch_size": 16,
        "train.lr": 1e-2,
        "eval.timing_calls": 2,
    }
    record = run(
        resolve("transformer", cycle_registered, None, overrides), devices=jax.devices()[:1]
    )
    validate_record(record)
    assert record.status == "ok", record.error
    m, t = record.metrics, record.throughput
    assert m["nll"] < math.log(V) - 0.4  # unigram entropy: log V; conditional entropy ~0.4 nats
    assert m["perplexity"] == pytest.approx(math.exp(m["nll"]))
    assert m["bits_per_char"] == pytest.approx(m["nll"] / math.log(2))
    assert record.estimators["nll"] == "exact"
    # model.stride=0 (auto) is recorded as the stride it stood for: block_size // 2
    assert record.config["model"]["stride"] == 4
    assert t["train_tokens_per_s"] == pytest.approx(t["train_examples_per_s"] * 8)
    assert t["sample_tokens_per_s"] > 0 and t["analytic_flops_per_token"] > 0


def test_one_device_and_four_devices_agree_and_compile_once():
    """Windows cut from 33-token sequences, with dropout: the same losses on 1 and 4 devices."""
    assert jax.device_count() == 4
    data = Dataset("c", cycle_sequences(32, 33, 0), cycle_sequences(4, 33, 1), "sequence", V)
    train = TrainConfig(steps=10, batch_size=8, inner_steps=5, lr=1e-2, log_every=5)
    histories = []
    for devices in (jax.devices()[:1], jax.devices()[:4]):
        model = tiny(length=33, block=8, stride=4, dropout=0.1, seed=1)
        result = fit(model, data, lambda x, r: x, train, 0, data_mesh(devices))
        assert result.step_fn.traces == 1
        assert type(result.step_fn.feeder).__name__ == "WindowFeeder"
        histories.append([h["loss"] for h in result.history])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-4)


def test_block_size_longer_than_the_window_is_a_usage_error(cycle_registered, capsys):
    assert main(["run", "transformer", cycle_registered, "--set", "model.block_size=17"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "model.block_size=17 needs windows of 18 tokens" in err


def test_kl_rate_to_an_order_two_markov_source_is_small_and_not_negative():
    """The short version of the issue's check (V = 16, 2 layers, < 0.02 nats per token):
    V = 4, windows of 17 tokens fresh from the source, 800 steps."""
    overrides = {
        "data.vocab_size": 4,
        "data.num_steps": 17,
        "data.fresh": True,
        "model.n_embd": 32,
        "train.steps": 800,
        "train.inner_steps": 200,
        "train.lr": 1e-2,
        "train.schedule": "cosine",
        "train.warmup_steps": 50,
        "eval.source_samples": 200,
        "eval.source_steps": 200,
        "eval.timing_calls": 2,
        "eval.groups": ("source",),
    }
    record = run(resolve("transformer", "markov", None, overrides), devices=jax.devices()[:1])
    assert record.status == "ok", record.error
    model = record.config["model"]
    assert model["n_layer"] == 2 and model["block_size"] >= 8
    m = record.metrics
    assert -3 * m["kl_rate_to_source_se"] < m["kl_rate_to_source"] < 0.02
    assert record.estimators["kl_rate_to_source"] == "exact"
