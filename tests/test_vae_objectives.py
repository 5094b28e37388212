"""The VAE's k-sample training objectives (Burda et al. 2016, section 5.1) and the staged
learning-rate schedule (3^i passes at 0.001 * 10^(-i/7)), against hand-written formulas."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench.cli import main
from genbench.config import TrainConfig, to_dict
from genbench.models.vae import VAE, TrainingObjective
from genbench.reproduce import load, rows_records
from genbench.reproduce.matching import row_spec, runnable_rows
from genbench.results.records import run_key
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.optim import learning_rate_schedule, make_optimizer, stage_boundaries

K = 5
X = jnp.asarray(np.random.default_rng(0).integers(0, 2, (4, 6)), jnp.float32)
KEY = jax.random.key(3)


def _vae(objective="elbo", k=1, kl="analytic"):
    return VAE(
        6,
        2,
        (8,),
        "tanh",
        "bernoulli",
        1e-3,
        rngs=nnx.Rngs(0),
        objective=TrainingObjective(objective, k, kl),
    )


def _by_hand(model, k):
    """Per posterior sample of the draw ``normal(KEY, (k, B, L))``: log p(x | z), log p(z),
    log q(z | x) and the closed-form KL, each written out here, ``[k, B]`` (KL ``[B]``)."""
    mean, log_std = model.encode(X)
    std = jnp.exp(log_std)
    z = mean + std * jax.random.normal(KEY, (k, *mean.shape))
    logits = model.decoder(z)
    log_px = jnp.sum(X * jax.nn.log_sigmoid(logits) + (1 - X) * jax.nn.log_sigmoid(-logits), -1)
    log_norm = 0.5 * math.log(2 * math.pi)
    log_pz = jnp.sum(-0.5 * z**2 - log_norm, -1)
    log_qz = jnp.sum(-0.5 * ((z - mean) / std) ** 2 - log_std - log_norm, -1)
    kl = 0.5 * jnp.sum(mean**2 + std**2 - 1 - 2 * log_std, -1)
    return log_px, log_pz, log_qz, kl


def test_the_k_sample_vae_objective_is_the_mean_of_k_one_sample_elbos():
    model = _vae("elbo", K)
    log_px, _, _, kl = _by_hand(model, K)
    expected = jnp.mean(log_px - kl, axis=0)  # k one-sample ELBOs with the analytic KL
    np.testing.assert_allclose(model.training_bound(X, KEY), expected, rtol=1e-5)


def test_the_sampled_kl_vae_objective_is_the_mean_of_the_log_weights():
    model = _vae("elbo", K, "sampled")
    log_px, log_pz, log_qz, _ = _by_hand(model, K)
    expected = jnp.mean(log_px + log_pz - log_qz, axis=0)
    np.testing.assert_allclose(model.training_bound(X, KEY), expected, rtol=1e-5)
    np.testing.assert_allclose(expected, jnp.mean(model.log_weights(X, KEY, K), 0), rtol=1e-5)


def test_the_iwae_objective_is_the_log_mean_exp_of_the_log_weights_and_above_the_vae():
    model = _vae("iwae", K)
    log_px, log_pz, log_qz, _ = _by_hand(model, K)
    log_w = np.asarray(log_px + log_pz - log_qz, np.float64)
    peak = log_w.max(0)
    expected = peak + np.log(np.mean(np.exp(log_w - peak), 0))
    iwae = model.training_bound(X, KEY)
    np.testing.assert_allclose(iwae, expected, rtol=1e-5)
    # Jensen: log mean w >= mean log w, for the same samples, on every example
    vae = _vae("elbo", K, "sampled").training_bound(X, KEY)
    assert np.all(np.asarray(iwae) >= np.asarray(vae) - 1e-5)
    assert np.any(np.asarray(iwae) > np.asarray(vae) + 1e-3)  # strictly, where w vary


def test_at_one_sample_both_objectives_are_the_one_sample_elbo():
    default = _vae()
    assert default.objective == TrainingObjective()  # the default is today's objective
    # the default trains model.elbo itself, with the same draw as always
    np.testing.assert_array_equal(default.training_bound(X, KEY), default.elbo(X, KEY))
    log_px, _, _, kl = _by_hand(default, 1)
    np.testing.assert_allclose(default.training_bound(X, KEY), (log_px - kl)[0], rtol=1e-5)
    # with the sampled KL the VAE and the IWAE at k = 1 are one objective: the log-weight
    iwae = _vae("iwae", 1).training_bound(X, KEY)
    vae = _vae("elbo", 1, "sampled").training_bound(X, KEY)
    np.testing.assert_array_equal(iwae, vae)
    np.testing.assert_allclose(iwae, default.log_weights(X, KEY, 1)[0], rtol=1e-6)


def test_the_loss_is_the_negative_batch_mean_of_the_bound():
    model = _vae("iwae", K)
    losses, logged = model.loss(X.reshape(4, 2, 3), KEY)
    bound = jnp.mean(model.training_bound(X, KEY))
    np.testing.assert_allclose(losses["params"], -bound, rtol=1e-6)
    np.testing.assert_allclose(logged["elbo"], bound, rtol=1e-6)


PAPER = TrainConfig(steps=3280 * 2980, schedule="stages", lr=1e-3)  # 3,280 passes of 2,980


def test_the_stages_are_3_to_the_i_passes_at_the_papers_rates():
    passes = np.cumsum([3**i for i in range(8)])  # passes at the end of each stage
    assert stage_boundaries(PAPER.steps, 8, 3.0) == [int(2980 * p) for p in passes[:-1]]
    schedule = learning_rate_schedule(PAPER, PAPER.lr)
    firsts = [0, *stage_boundaries(PAPER.steps, 8, 3.0)]
    lasts = [b - 1 for b in firsts[1:]] + [PAPER.steps - 1]
    for i, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
        paper = 0.001 * 10 ** (-i / 7)
        for step in (first, last):
            assert math.isclose(float(schedule(step)), paper, rel_tol=1e-6), (i, step)


def test_stages_follow_growth_decay_and_warm_up():
    train = TrainConfig(steps=70, schedule="stages", stages=3, stage_growth=2.0, stage_decay=0.5)
    assert stage_boundaries(70, 3, 2.0) == [10, 30]  # shares 1 : 2 : 4 of 70 steps
    schedule = learning_rate_schedule(train, 0.1)
    values = [float(schedule(s)) for s in (0, 9, 10, 29, 30, 69)]
    np.testing.assert_allclose(values, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-6)
    assert stage_boundaries(70, 1, 2.0) == []  # one stage: a constant rate
    warm = learning_rate_schedule(dataclasses.replace(train, warmup_steps=4), 0.1)
    np.testing.assert_allclose([float(warm(s)) for s in (0, 2, 4, 12)], [0, 0.05, 0.1, 0.05])


def test_new_fields_at_their_defaults_keep_the_run_keys_of_older_runs():
    config = {
        "model": {"latent_dim": 2, "objective": "elbo", "train_samples": 1, "kl": "analytic"},
        "train": {"steps": 3, "stages": 8, "stage_growth": 3.0, "stage_decay": 10 ** (-1 / 7)},
    }
    old = {"model": {"latent_dim": 2}, "train": {"steps": 3}}
    assert run_key("vae", "d", "1", config, 0) == run_key("vae", "d", "1", old, 0)
    config["model"]["train_samples"] = 5
    assert run_key("vae", "d", "1", config, 0) != run_key("vae", "d", "1", old, 0)


def test_a_resolved_run_builds_its_objective_and_its_optimiser_follows_the_stages():
    overrides = {"model.objective": "iwae", "model.train_samples": 3, "model.hidden": (8,)}
    overrides |= {"train.steps": 40, "train.schedule": "stages", "train.stages": 2}
    overrides |= {"train.optimizer": "sgd", "train.b1": 0.0, "train.lr": 0.5}
    spec = resolve("vae", "ring8", None, overrides)
    _, model = build(spec)
    assert model.objective == TrainingObjective("iwae", 3, "analytic")
    optimizer = make_optimizer(spec.config.train, "params")
    params = {"w": jnp.zeros(2)}
    state = optimizer.init(params)
    rates = []
    for _ in range(40):  # plain SGD: the update of a unit gradient is minus the rate
        update, state = optimizer.update({"w": jnp.ones(2)}, state)
        rates.append(-float(update["w"][0]))
    boundary = stage_boundaries(40, 2, 3.0)[0]  # 1 : 3 of 40 steps
    assert boundary == 10
    np.testing.assert_allclose(rates, [0.5] * 10 + [0.5 * 10 ** (-1 / 7)] * 30, rtol=1e-6)


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("model.train_samples=0", "model.train_samples=0 must be >= 1"),
        ("model.objective=rws", "model.objective='rws' is not allowed"),
        ("model.kl=exact", "model.kl='exact' is not allowed"),
        ("train.stages=0", "train.stages=0 must be >= 1"),
        ("train.stage_decay=0", "train.stage_decay=0.0 > 0"),
        ("train.stage_growth=-3", "train.stage_growth=-3.0"),
        ("train.schedule=step", "train.schedule='step' is not allowed"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(setting, fragment, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "vae", "ring8", "--set", setting, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genbench: error: ") and err.count("\n") == 1, err
    assert fragment in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("quick", [False, True])
def test_iwae_table1_rows_that_differ_only_in_their_objective_are_told_apart(quick):
    repro = load("iwae-table1")
    rows = runnable_rows(repro, quick)
    assert [r.name for r in rows] == [r.name for r in repro.rows]  # every row runs now
    records = [
        {
            "model": row.model,
            "dataset": spec.dataset,
            "preset": row.preset,
            "config": to_dict(spec.config),
            "status": "ok",
            "seed": 0,
            "created_at": "2026-01-01T00:00:00+00:00",
            "run_id": row.name,  # which row's run this record is
        }
        for row in rows
        for spec in [row_spec(repro, row, quick)]
    ]
    assert len({r["config"]["model"]["train_samples"] for r in records}) == 3
    found = rows_records(repro, records, quick)
    assert {name: [r["run_id"] for r in ok] for name, (ok, _) in found.items()} == {
        row.name: [row.name] for row in rows
    }


def test_a_conditional_vae_keeps_the_default_objective(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["run", "vae", "digits_binary", "--set", "model.conditional=true"]
    assert main([*args, "--set", "model.train_samples=5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.conditional=true trains the one-sample" in err
    assert not out.exists() or not any(out.iterdir())
