"""The genbench side of the GAN benchmark: the ``pacgan`` preset on ``grid25``.

As in ``vae_setup.py``, this goes through the harness: ``genbench.train.fit.fit``
runs a short warm fit, and the benchmark then keeps calling the fit's own compiled
step ``step_fn(state, first_step)`` with ``first_step`` advancing. The ``grid25``
source draws fresh samples inside the step, so each timed call includes the data.
One iteration is one discriminator phase and one generator phase (``n_critic`` 1).
"""

from __future__ import annotations

from benchmarks.vae_setup import GenbenchStep
from genbench.data.view import data_view
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

BATCH, PACK, PRESET_INNER_STEPS, SEED = 100, 1, 100, 0


def pacgan_spec(
    batchnorm: bool | None = None,
    inner_steps: int = PRESET_INNER_STEPS,
    warm_steps: int = PRESET_INNER_STEPS,
):
    """The run spec of ``gan`` on ``grid25`` with the ``pacgan`` preset (batch 100, pack 1).

    The preset gives G 4x400 ReLU (no BatchNorm), D 3x200 maxout-5, 2-D noise, Adam 1e-4
    with beta1 0.8 and the non-saturating loss. ``batchnorm`` (None: the preset's) sets
    BatchNorm in G, as ``pacgan-paper`` has it. The call length and the warm fit's length
    are overridden too; batch and pack are pinned to the benchmark's values.
    """
    overrides = {
        "train.batch_size": BATCH,
        "model.pack": PACK,
        "train.inner_steps": inner_steps,
        "train.steps": warm_steps,
    }
    if batchnorm is not None:
        overrides["model.generator_batchnorm"] = batchnorm
    return resolve("gan", "grid25", preset="pacgan", overrides=overrides, seed=SEED)


class PacganStep(GenbenchStep):
    """genbench's compiled shared step of the ``pacgan`` GAN, called as the harness calls it.

    ``call()`` is ``GenbenchStep.call``. ``run(steps)`` returns the last iteration's
    L_D + L_G.

    Args:
      batchnorm: BatchNorm in G (None: the preset's, which has none).
      inner_steps: iterations per compiled call.
      warm_calls: compiled calls in the warm fit.
    """

    def __init__(self, batchnorm: bool | None, inner_steps: int, warm_calls: int = 2):
        spec = pacgan_spec(batchnorm, inner_steps, warm_calls * inner_steps)
        dataset, self.model = build(spec)
        view = data_view(dataset, self.model.input_kind)
        result = fit(self.model, dataset, view.transform, spec.config.train, SEED, data_mesh())
        self.config, self.batchnorm = spec.config, spec.config.model.generator_batchnorm
        self.step_fn, self.state, self.compile_s = result.step_fn, result.state, result.compile_s
        self.inner_steps, self.next_step = inner_steps, spec.config.train.steps
        self.first_loss, self.last_loss = result.history[0]["loss"], result.history[-1]["loss"]

    def run(self, steps: int) -> float:
        """``steps`` iterations (a multiple of ``inner_steps``); returns the last L_D + L_G."""
        out = None
        for _ in range(steps // self.inner_steps):
            out = self.call()  # one host sync per call, as fit's logged calls have
        self.last_loss = float(sum(losses[-1] for losses in out["loss"].values()))
        return self.last_loss
