"""A seed group's models measured at once (vmapped) give each seed its own evaluation."""

import jax
import pytest

from genbench import registry
from genbench.data.view import data_view
from genbench.metrics import batching
from genbench.metrics.evaluate import evaluate, evaluate_seeds
from genbench.metrics.likelihood import likelihood_metrics, likelihood_metrics_seeds
from genbench.runner import build, build_model
from genbench.spec import resolve

FAST_EVAL = {"eval.nll_k": 8, "eval.iwae_k": (2,), "eval.max_examples": 70, "eval.batch_size": 32}


@pytest.fixture(scope="module")
def vae_seeds():
    """Three untrained VAEs of three seeds (different parameters, one structure)."""
    spec = resolve("vae", "digits_binary", None, FAST_EVAL, 0)
    dataset, first = build(spec)
    models = [first] + [build_model(spec, dataset, seed) for seed in (1, 2)]
    return spec, dataset, data_view(dataset, first.input_kind), models


def test_vmapped_likelihood_equals_each_models_alone(vae_seeds):
    spec, dataset, view, models = vae_seeds
    keys = [jax.random.key(10 + i) for i in range(len(models))]
    together = likelihood_metrics_seeds(models, dataset, view, spec.config.eval, keys)
    for model, key, (metrics, estimators) in zip(models, keys, together, strict=True):
        alone, alone_estimators = likelihood_metrics(model, dataset, view, spec.config.eval, key)
        assert estimators == alone_estimators
        assert metrics.keys() == alone.keys() and "nll_iwae_k8" in metrics
        for name, value in alone.items():
            assert metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert together[0][0]["elbo"] != together[1][0]["elbo"]  # three models, three values


def test_evaluate_seeds_equals_evaluate_for_every_group(vae_seeds):
    """Groups without a seeds variant (reconstruction, sample quality) are looped."""
    spec, dataset, view, models = vae_seeds
    seeds = [0, 1, 2]
    assert registry.metrics()["likelihood"].seeds_factory is not None
    together = evaluate_seeds(models, dataset, view, spec.config.eval, seeds)
    for model, seed, (metrics, _) in zip(models, seeds, together, strict=True):
        alone, _ = evaluate(model, dataset, view, spec.config.eval, seed)
        assert metrics.keys() == alone.keys()
        for name, value in alone.items():
            assert metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


def test_the_vmapped_function_compiles_once_for_every_batch(vae_seeds):
    spec, dataset, view, models = vae_seeds
    batching.clear_compiled()
    function = batching.SeedsFunction(models, lambda m, x, r: m.elbo(x, r), batch_size=32)
    keys = jax.random.split(jax.random.key(0), len(models))
    values = function.map(dataset.test[:70], keys)  # two full batches and a padded one
    assert values.shape == (3, 70)
    assert function._jitted._cache_size() == 1
