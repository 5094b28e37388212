"""The order-k Markov source: exact window probabilities, entropy rate, stationarity."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import genbench.data.markov as markov_module
from genbench.config import EvalConfig
from genbench.data.configs import MarkovConfig
from genbench.data.markov import MarkovSource, markov
from genbench.data.view import data_view
from genbench.errors import UsageError


def _source(order, vocab, steps=8, **kw):
    return markov(MarkovConfig(order=order, vocab_size=vocab, num_steps=steps, **kw))


@pytest.mark.parametrize(("order", "vocab", "steps"), [(2, 3, 5), (1, 2, 7), (0, 3, 3), (3, 2, 2)])
def test_window_log_prob_sums_to_one(order, vocab, steps):
    source = _source(order, vocab, steps, n_train=4, n_test=4)
    windows = np.array(list(itertools.product(range(vocab), repeat=steps)), np.int32)
    total = float(np.exp(np.asarray(source.log_prob(jnp.asarray(windows)), np.float64)).sum())
    assert total == pytest.approx(1.0, abs=2e-6)


def test_window_log_prob_matches_the_chain_rule():
    source = _source(2, 3, 6, n_train=4, n_test=4)
    x = np.asarray(source.test[:3])
    for row, lp in zip(x, np.asarray(source.log_prob(jnp.asarray(x))), strict=True):
        expected = math.log(source.stationary[row[0] * 3 + row[1]])
        for t in range(2, 6):
            expected += math.log(source.table[row[t - 2] * 3 + row[t - 1], row[t]])
        assert lp == pytest.approx(expected, abs=1e-5)


def test_entropy_rate_matches_monte_carlo_on_long_windows():
    source = _source(2, 4, concentration=0.3, n_train=4, n_test=4)
    exact = source.entropy()
    assert exact.se == 0.0 and 0 < exact.value < math.log(4)
    n, steps = 400, 2000
    x = jax.jit(source.sample, static_argnums=(1, 2))(jax.random.key(7), n, steps)
    per_step = -np.asarray(jax.jit(source.log_prob)(x), np.float64) / steps
    se = per_step.std(ddof=1) / math.sqrt(n)
    # -E[log p(x_{0:T})] / T = H + (H(first k symbols) - k H) / T: the bias is O(k / T).
    assert abs(per_step.mean() - exact.value) < 4 * se + 2 * math.log(4) / steps


def test_order_one_entropy_rate_in_closed_form():
    source = _source(1, 2, n_train=4, n_test=4)
    (a, b) = source.table[0, 1], source.table[1, 0]
    pi = np.array([b, a]) / (a + b)  # the two-state chain's stationary distribution
    np.testing.assert_allclose(source.stationary, pi, rtol=1e-12)
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    assert source.entropy().value == pytest.approx(pi[0] * h(a) + pi[1] * h(b), rel=1e-12)


def test_windows_are_stationary():
    source = _source(2, 3, 12, concentration=0.4, n_train=4, n_test=4)
    x = np.asarray(jax.jit(source.sample, static_argnums=1)(jax.random.key(1), 40_000))
    n = len(x)
    for start in (0, 5, 10):  # the k-gram at positions start, start + 1
        grams = x[:, start] * 3 + x[:, start + 1]
        freq = np.bincount(grams, minlength=9) / n
        sigma = np.sqrt(source.stationary * (1 - source.stationary) / n)
        assert np.all(np.abs(freq - source.stationary) < 5 * sigma + 1e-4), start
    first, later = np.bincount(x[:, 0], minlength=3), np.bincount(x[:, 11], minlength=3)
    assert np.all(np.abs(first - later) / n < 0.02)


def test_power_iteration_agrees_with_the_dense_solve(monkeypatch):
    source = _source(2, 5, n_train=4, n_test=4)
    pi = markov_module.stationary_distribution(source.table)
    np.testing.assert_allclose(pi @ markov_module.context_matrix(source.table), pi, atol=1e-14)
    monkeypatch.setattr(markov_module, "DENSE_MAX_STATES", 0)
    np.testing.assert_allclose(markov_module.stationary_distribution(source.table), pi, atol=1e-12)


def test_default_source_is_order_two_over_sixteen_symbols():
    config = MarkovConfig()
    assert (config.order, config.vocab_size, config.num_steps) == (2, 16, 65)
    source = markov(MarkovConfig(n_train=200, n_test=50))
    assert isinstance(source, MarkovSource) and source.kind == "sequence"
    assert source.levels == 16 and source.table.shape == (256, 16)
    assert source.train.shape == (200, 65) and source.train.dtype == np.int32
    assert source.test.shape == (50, 65) and source.train.min() >= 0 and source.train.max() < 16
    assert 0 < source.entropy().value < math.log(16)
    # Fixed splits: the test set does not depend on n_train, the rows on n.
    again = markov(MarkovConfig(n_train=20, n_test=50))
    np.testing.assert_array_equal(again.test, source.test)
    np.testing.assert_array_equal(again.train, source.train[:20])
    # jit-able, of any length, and contexts index the last k symbols.
    x = jax.jit(source.sample, static_argnums=(1, 2))(jax.random.key(0), 3, 300)
    assert x.shape == (3, 300) and x.dtype == jnp.int32
    states, y = source.sample_with_states(jax.random.key(0), 3, 300)
    np.testing.assert_array_equal(np.asarray(states[:, 5]), np.asarray(y[:, 4] * 16 + y[:, 5]))


def test_kl_rate_of_an_exact_hmm_is_zero_and_viterbi_is_skipped():
    """An order-1 chain is a categorical HMM with A = Theta, B = I: KL rate 0, no viterbi."""
    from flax import nnx

    from genbench.metrics.divergence import source_metrics
    from genbench.models.hmm import CategoricalHMM

    source = _source(1, 4, 20, n_train=4, n_test=4)
    model = CategoricalHMM(4, 4, 20, rngs=nnx.Rngs(0))
    model._set_chain(jnp.asarray(source.stationary), jnp.asarray(source.table))
    model.emission_logits[...] = jnp.log(jnp.eye(4) + 1e-30)
    eval_cfg = EvalConfig(source_samples=100, source_steps=50)
    view = data_view(source, model.input_kind)
    metrics, estimators = source_metrics(model, source, view, eval_cfg, jax.random.key(0))
    assert abs(metrics["kl_rate_to_source"]) < 1e-5
    assert metrics["entropy_rate_source"] == source.entropy().value
    assert estimators["entropy_rate_source"] == "closed_form"
    assert "viterbi_accuracy" not in metrics


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"order": -1}, "data.order >= 0"),
        ({"vocab_size": 1}, "data.vocab_size >= 2"),
        ({"concentration": 0.0}, "data.concentration > 0"),
        ({"order": 6, "vocab_size": 16}, "transition entries exceeds"),
        ({"num_steps": 0}, "data.num_steps=0"),
        ({"n_test": 0}, "must be >= 1"),
    ],
)
def test_bad_config_is_a_usage_error(fields, fragment):
    with pytest.raises(UsageError, match=None) as info:
        MarkovConfig(**fields).validate()
    assert fragment in str(info.value)
