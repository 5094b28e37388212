"""FLOPs of one step: XLA's global count is the same on 1 and 4 devices and near the model's."""

import jax
import pytest

from genbench import contract
from genbench.data.view import data_view
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

CASES = {
    "vae": ("vae", "digits_binary", {"model.hidden": (200, 200), "model.latent_dim": 50}),
    "transformer": ("transformer", "markov", {"model.n_layer": 2, "model.n_embd": 64}),
}


def _step_flops(name: str, devices: int) -> tuple[float, float]:
    model_name, dataset, overrides = CASES[name]
    overrides = overrides | {"train.steps": 2, "train.inner_steps": 2, "train.batch_size": 32}
    spec = resolve(model_name, dataset, None, overrides)
    data, model = build(spec)
    view = data_view(data, model.input_kind)
    mesh = data_mesh(jax.devices()[:devices])
    result = fit(model, data, view.transform, spec.config.train, 0, mesh)
    analytic = contract.flops_per_example(model) * spec.config.train.batch_size
    return result.step_fn.single_step_flops(result.state), analytic


@pytest.mark.parametrize("name", sorted(CASES))
def test_flops_per_step_is_global_and_near_the_analytic_count(name):
    one, analytic = _step_flops(name, 1)
    four, _ = _step_flops(name, 4)
    assert one == pytest.approx(four, rel=1e-6)
    assert one == pytest.approx(analytic, rel=0.25), (one, analytic)
