"""Records for tests of the results package: valid by construction, overridable field by field."""

import json

from genbench.results import new_run_id, run_key


def make_record(seed=0, nll=1.0, backend="cpu", lr=1e-3, status="ok", **overrides):
    """A valid, complete record; keyword overrides replace top-level fields."""
    config = {
        "model": {"latent_dim": 2},
        "data": {},
        "eval": {"nll_k": 10},
        "train": {"steps": 10, "batch_size": 4, "inner_steps": 1, "fit": "gradient", "lr": lr},
    }
    failed = {"type": "NonFiniteError", "message": "nan", "step": 3, "group": "params"}
    record = {
        "schema_version": 1,
        "run_key": run_key("vae", "ring8", "1", config, seed),
        "run_id": new_run_id(),
        "created_at": "2026-11-24T00:00:00+00:00",
        "status": status,
        "error": None if status == "ok" else failed,
        "model": "vae",
        "dataset": "ring8",
        "dataset_version": "1",
        "preset": None,
        "seed": seed,
        "suite": None,
        "config": config,
        "estimators": {"nll": "iwae_k10", "elbo": "elbo"},
        "env": {
            "backend": backend,
            "device_kind": "cpu",
            "device_count": 1,
            "process_count": 1,
            "python": "3.11",
            "jax": "0",
            "jaxlib": "0",
            "flax": "0",
            "optax": "0",
            "genbench": "0",
            "git_revision": None,
        },
        "metrics": {"nll": nll, "nll_se": 0.1, "elbo": -nll - 0.5} if status == "ok" else {},
        "throughput": {"step_ms": 2.0 if backend == "cpu" else 0.5},
        "history": [{"step": 10, "loss": 1.0, "time": 0.1}],
    }
    record.update(overrides)
    return record


def strict_json(text):
    """Parses JSON, refusing NaN and infinity (which strict JSON has not)."""

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def sampled_records(out_dir, seeds=2):
    """Writes records that keep samples into ``out_dir``: ring8 and grid25 runs of two
    configs each (points near the sources' modes) and digits runs (8 x 8 images)."""
    import numpy as np

    from genbench.results import write_record

    rng = np.random.default_rng(0)
    history = [{"step": s, "loss": 2.0 / s + rng.random(), "time": 0.1 * s} for s in (1, 2, 4)]
    fields = {"history": history, "throughput": {"step_ms": 1.0, "train_examples_per_s": 9e3}}
    angles = np.arange(8) * np.pi / 4
    modes = {
        "ring8": np.stack([np.cos(angles), np.sin(angles)], 1),
        "grid25": np.array([[i, j] for i in range(-2, 3) for j in range(-2, 3)], float),
    }
    for dataset, means in modes.items():
        for lr in (1e-3, 2e-3):
            for seed in range(seeds):
                points = means[rng.integers(0, len(means), 200)] + rng.normal(0, 0.05, (200, 2))
                samples = {"shape": [2], "values": np.round(points, 4).tolist()}
                record = make_record(seed=seed, lr=lr, dataset=dataset, samples=samples, **fields)
                record["config"]["data"] = {}
                write_record(record, out_dir)
    for seed in range(seeds):
        images = (rng.random((16, 64)) > 0.5).astype(float).tolist()
        record = make_record(
            seed=seed, dataset="digits", samples={"shape": [8, 8], "values": images}
        )
        write_record(record, out_dir)
