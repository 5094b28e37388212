"""train.compute_dtype=bfloat16: bfloat16 arithmetic, float32 parameters and optimiser state."""

import jax
import jax.numpy as jnp
import numpy as np

from genbench.data.view import data_view
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh


def _fit(compute_dtype: str):
    overrides = {"train.steps": 200, "train.inner_steps": 20, "train.batch_size": 64}
    overrides |= {"model.hidden": (32,), "train.compute_dtype": compute_dtype}
    spec = resolve("vae", "digits_binary", None, overrides)
    dataset, model = build(spec)
    view = data_view(dataset, model.input_kind)
    mesh = data_mesh(jax.devices()[:1])
    return fit(model, dataset, view.transform, spec.config.train, 0, mesh)


def test_bfloat16_computes_in_bfloat16_and_keeps_float32_state():
    full, mixed = _fit("float32"), _fit("bfloat16")
    assert mixed.failure is None and mixed.step_fn.traces == 1
    for leaf in jax.tree.leaves((mixed.state["params"], mixed.state["opt"])):
        assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
    text = mixed.step_fn._jitted.lower(mixed.state, *mixed.step_fn._args(0)).as_text()
    assert "bf16" in text and "bf16" not in full.step_fn._jitted.lower(
        full.state, *full.step_fn._args(0)
    ).as_text()
    # The same optimisation in lower precision: the final losses agree to a few percent.
    last = [np.mean([h["loss"] for h in r.history[-3:]]) for r in (full, mixed)]
    assert abs(last[1] - last[0]) < 0.05 * abs(last[0]), last
    assert last[1] < 0.8 * mixed.history[0]["loss"]  # and it trains
