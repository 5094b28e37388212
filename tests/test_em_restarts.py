"""EM restarts as one vmapped program equal the sequential loop, restart by restart."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench.data.view import data_view
from genbench.runner import build, build_model
from genbench.spec import resolve
from genbench.train.fits import RESTART_SEED_STRIDE, FitJob, em_fit
from genbench.train.restarts import sequential_restarts, vmapped_restarts

RESTARTS, STEPS, SEED = 4, 12, 3
TINY = {
    "casino": {"data.num_sequences": 3, "data.num_steps": 300, "data.n_test": 2},
    "hmm_gaussian": {"data.num_sequences": 20, "data.num_steps": 30, "data.n_test": 2},
}


def _problem(dataset_name: str):
    """(spec, dataset, training data) of a tiny EM run on ``dataset_name``."""
    overrides = TINY[dataset_name] | {"train.steps": STEPS, "train.restarts": RESTARTS}
    spec = resolve("hmm", dataset_name, overrides=overrides, seed=SEED)
    dataset, _ = build(spec)
    return spec, dataset, jnp.asarray(dataset.train)


def _models(spec, dataset):
    """The R models of the fit's restarts, initialised from the seeds ``em_fit`` uses."""
    seeds = [SEED] + [SEED * RESTART_SEED_STRIDE + r for r in range(1, RESTARTS)]
    return [build_model(spec, dataset, seed) for seed in seeds]


@pytest.fixture(scope="module", params=sorted(TINY))
def both(request):
    """(vmapped, sequential) ``RestartRun`` of the same restarts, and the problem."""
    spec, dataset, data = _problem(request.param)
    vmapped = vmapped_restarts(_models(spec, dataset), data, STEPS)
    sequential = sequential_restarts(_models(spec, dataset), data, STEPS)
    return vmapped, sequential, (spec, dataset, data)


def test_vmapped_restarts_equal_the_sequential_loop(both):
    vmapped, sequential, _ = both
    assert vmapped.log_likelihoods.shape == (RESTARTS, STEPS)
    # The restarts start apart: otherwise the test could not tell them apart.
    assert np.ptp(sequential.log_likelihoods[:, 0]) > 1.0
    np.testing.assert_allclose(vmapped.log_likelihoods, sequential.log_likelihoods, rtol=1e-5)
    np.testing.assert_allclose(vmapped.final, sequential.final, rtol=1e-5)
    best = sequential.best()
    assert vmapped.best() == best
    assert vmapped.final[best] == pytest.approx(sequential.final[best], rel=1e-6)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4),
        vmapped.state_of(best),
        sequential.state_of(best),
    )


def test_em_never_lowers_the_likelihood_of_a_restart(both):
    vmapped, _, _ = both
    path = np.concatenate([vmapped.log_likelihoods, vmapped.final[:, None]], axis=1)
    rise = np.diff(path, axis=1)
    assert np.all(rise >= -1e-5 * np.abs(path[:, 1:])), rise.min()
    assert np.all(path[:, -1] > path[:, 0])  # and it climbs


def _job(spec, dataset, rebuild=None):
    model = build_model(spec, dataset, SEED)
    rebuild = rebuild or (lambda seed: build_model(spec, dataset, seed))
    view = data_view(dataset, model.input_kind)
    return FitJob(model, dataset, view, spec.config.train, SEED, rebuild=rebuild)


def test_em_fit_keeps_the_best_restart_and_its_history(both):
    _, sequential, (spec, dataset, data) = both
    job = _job(spec, dataset)
    outcome = em_fit(job)
    best = sequential.best()
    assert outcome.failure is None
    assert outcome.compile_s > 0 and outcome.fit_s > 0
    assert [h["restart"] for h in outcome.history] == [best] * STEPS
    per = len(data) * job.model.num_steps
    losses = [h["loss"] for h in outcome.history]
    np.testing.assert_allclose(losses, -sequential.log_likelihoods[best] / per, rtol=1e-5)
    final = float(jnp.sum(job.model.log_prob(data)))
    assert final == pytest.approx(float(sequential.final[best]), rel=1e-5)


def test_a_non_finite_restart_fails_the_fit_at_its_first_iteration(both):
    _, _, (spec, dataset, _) = both

    def rebuild(seed):
        model = build_model(spec, dataset, seed)
        if seed == SEED * RESTART_SEED_STRIDE + 2:  # restart 2 starts from NaN
            nnx.update(model, jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), nnx.state(model)))
        return model

    outcome = em_fit(_job(spec, dataset, rebuild))
    assert outcome.failure == {"step": 0, "group": "params", "reason": "non-finite likelihood"}
    assert [h["restart"] for h in outcome.history] == [2]


def test_a_single_restart_runs_unbatched_and_equals_the_loop(both):
    _, sequential, (spec, dataset, data) = both
    alone = vmapped_restarts([build_model(spec, dataset, SEED)], data, STEPS)
    assert alone.log_likelihoods.shape == (1, STEPS)
    np.testing.assert_allclose(alone.log_likelihoods[0], sequential.log_likelihoods[0], rtol=1e-5)
    assert alone.final[0] == pytest.approx(sequential.final[0], rel=1e-5)
    assert alone.best() == 0
