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
