"""The genbench side of the VAE benchmark: the ``iwae`` preset through the shared step.

Data feeding is the harness's own: the data is resident on device, each
epoch's permutation is computed once, and each step gathers its batch inside
the compiled call (``TrainStep`` with an ``ArrayFeeder``, exactly as ``fit``
builds them).
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from genbench.data.base import Dataset
from genbench.models.vae import build
from genbench.spec import resolve
from genbench.train.feed import make_feeder
from genbench.train.mesh import data_mesh
from genbench.train.optim import make_optimizer
from genbench.train.step import TrainStep

DIM, N_TRAIN, BATCH = 784, 10_000, 128


def binary_data(n: int = N_TRAIN, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Binary images from a mixture of 10 smooth random prototypes (no download)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, dim)) ** 3
    labels = rng.integers(0, 10, n)
    return (rng.random((n, dim)) < prototypes[labels]).astype(np.float32)


class GenbenchTrainer:
    """Compiled shared step of the VAE ``iwae`` preset, advanced call by call."""

    def __init__(self, data: np.ndarray, inner_steps: int, batch_size: int = BATCH):
        spec = resolve(
            "vae",
            "digits_binary",
            "iwae",
            {
                "train.batch_size": batch_size,
                "train.inner_steps": inner_steps,
                "train.steps": inner_steps * 1000,
            },
        )
        dataset = Dataset("binary784", data, data[:256], "binary")
        model = build(spec.config, dataset, nnx.Rngs(0))
        mesh = data_mesh()
        feeder = make_feeder(dataset, batch_size, inner_steps, 0, mesh)
        self.step_fn = TrainStep(
            model,
            {"params": make_optimizer(spec.config.train, "params")},
            feeder=feeder,
            transform=lambda x, r: x,
            mesh=mesh,
            inner_steps=inner_steps,
            seed=0,
        )
        self.state = self.step_fn.init_state(model)
        self.compile_s = self.step_fn.compile(self.state)
        self.inner_steps = inner_steps
        self.step = 0

    def run(self, steps: int) -> float:
        """Runs ``steps`` steps (a multiple of ``inner_steps``); returns the last loss."""
        out = None
        for _ in range(steps // self.inner_steps):
            self.state, out = self.step_fn(self.state, self.step)
            self.step += self.inner_steps
        return float(jax.device_get(out["loss"]["params"][-1]))
