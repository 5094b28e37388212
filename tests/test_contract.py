"""Every registered model and preset passes the same contract, through the real runner."""

import dataclasses

import jax
import numpy as np
import pytest
from flax import nnx

from genbench import contract, registry
from genbench.contract import param_groups
from genbench.data.view import data_view
from genbench.errors import UsageError
from genbench.results import validate_record
from genbench.runner import build, run
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

DATASETS = ("digits_binary", "digits", "ring8", "casino")
CASES = [
    (model, preset)
    for model, entry in sorted(registry.models().items())
    for preset in (None, *sorted(entry.presets))
]


def small_spec(model, preset, dataset):
    fields = {f.name for f in dataclasses.fields(registry.get_model(model).config)}
    overrides = {
        "train.steps": 10,
        "train.inner_steps": 5,
        "train.batch_size": 32,
        "eval.nll_k": 10,
        "eval.iwae_k": (2,),
        "eval.timing_calls": 2,
        "eval.max_examples": 64,
        "eval.source_samples": 64,
    }
    if "hidden" in fields:
        overrides["model.hidden"] = (16,)
    data_fields = {f.name for f in dataclasses.fields(registry.get_dataset(dataset).config)}
    if "num_steps" in data_fields:  # short sequences: the contract is not about scale
        overrides |= {"data.num_steps": 200, "eval.source_steps": 200}
    return resolve(model, dataset, preset, overrides)


def compatible(model, preset):
    """(spec, dataset, model) for every contract dataset this model can model."""
    for name in DATASETS:
        spec = small_spec(model, preset, name)
        try:
            dataset, module = build(spec)
            data_view(dataset, module.input_kind)
        except UsageError:
            continue
        yield spec, dataset, module


@pytest.mark.parametrize(("model", "preset"), CASES, ids=[f"{m}-{p}" for m, p in CASES])
def test_model_contract(model, preset):
    seen = 0
    for spec, dataset, module in compatible(model, preset):
        seen += 1
        view = data_view(dataset, module.input_kind)
        batch = view.transform(np.asarray(dataset.train[:8]), jax.random.key(0))
        if contract.uses_labels(module):
            batch = (batch, np.asarray(dataset.train_labels[:8]))
        # Compiled, as the harness calls them (and one program each is quicker to build
        # than the op-by-op compilations of eager calls).
        losses, metrics = nnx.jit(lambda m, b, k: m.loss(b, k))(module, batch, jax.random.key(1))
        assert set(losses) == set(param_groups(module))
        assert all(np.isfinite(float(v)) for v in losses.values())
        samples = nnx.jit(lambda m, k: m.sample(k, 5))(module, jax.random.key(2))
        assert samples.shape == (5, dataset.event_size)
        assert module.flops_per_example() > 0
        if seen > 1:
            continue  # the rest once per model and preset, on its first dataset
        if preset is not None:
            # A preset changes the config, not the code paths that each dataset takes (the
            # default preset checks every dataset): it must train through the shared step
            # (compiled once, finite losses) on its first; the default preset of each model
            # takes the full run below.
            if spec.config.train.fit == "gradient":
                result = fit(
                    module,
                    dataset,
                    view.transform,
                    spec.config.train,
                    0,
                    data_mesh(jax.devices()[:1]),
                )
                assert result.failure is None and result.step_fn.traces == 1
                assert all(np.isfinite(h["loss"]) for h in result.history)
            break
        record = run(spec, devices=jax.devices()[:1])
        validate_record(record)
        assert record.status == "ok", record.error
        for name in ("nll", "elbo", "kl_to_source"):
            if name in record.metrics:
                assert name in record.estimators
        timing = "step_ms" if record.config["train"]["fit"] == "gradient" else "fit_s"
        assert record.throughput[timing] > 0
    assert seen >= 1, "no contract dataset fits this model"
