"""The genbench side of the VAE benchmarks: the data and genbench's compiled shared step.

The genbench side goes through the harness itself: ``genbench.train.fit.fit``
builds the feeder, the optimiser, the mesh and the shared ``TrainStep`` and
runs a short warm fit; the benchmarks then keep calling the compiled step
``step_fn(state, first_step)`` with ``first_step`` advancing, so every timed
call includes the harness's data feeding (``feeder.call_inputs``: the
per-epoch permutation, and the batch gather inside the compiled call).

Threads: XLA's CPU client sizes its intra-op thread pool to the cores in the
process's affinity mask, so JAX uses all of them without any setting; the
PyTorch side is given the same number with ``torch.set_num_threads``.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from flax import nnx

from genbench.data.base import Dataset
from genbench.data.view import data_view
from genbench.models.vae import build
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

DIM, N_TRAIN, N_TEST, BATCH, SEED = 784, 10_000, 1_000, 128, 0


def cpu_threads() -> int:
    """Cores this process may run on (what XLA's CPU client uses; torch is set to it)."""
    return len(os.sched_getaffinity(0))


def binary_data(n: int, dim: int = DIM, seed: int = SEED) -> np.ndarray:
    """``[n, dim]`` binary float32 images: Bernoulli draws from 10 smooth random prototypes.

    Each prototype is a sum of 4 Gaussian blobs on a ``sqrt(dim)``-sided grid,
    squashed to probabilities in [0.02, 0.98]; each example picks a prototype
    at random. Fixed numpy seed, no download.
    """
    side = int(round(dim**0.5))
    if side * side != dim:
        raise ValueError(f"dim={dim} must be a square")
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1)
    prototypes = np.zeros((10, side, side))
    for proto in prototypes:
        for _ in range(4):
            centre, width = rng.uniform(0, side, 2), rng.uniform(0.1, 0.25) * side
            proto += np.exp(-np.sum((grid - centre) ** 2, -1) / (2 * width**2))
    probs = 0.02 + 0.96 * np.clip(prototypes, 0, 1).reshape(10, dim)
    labels = rng.integers(0, 10, n)
    return (rng.random((n, dim)) < probs[labels]).astype(np.float32)


def binary_dataset(dim: int = DIM) -> Dataset:
    """The 784-D (or ``dim``-D) binary dataset: 10,000 train and 1,000 test examples."""
    data = binary_data(N_TRAIN + N_TEST, dim)
    return Dataset(f"binary{dim}", data[:N_TRAIN], data[N_TRAIN:], "binary")


def iwae_model(dataset: Dataset, inner_steps: int, warm_steps: int):
    """Config and model of the VAE ``iwae`` preset for ``dataset``.

    The config comes from the registry (``vae`` on ``digits_binary`` with the
    ``iwae`` preset: D-200-200-50 tanh, mirrored Bernoulli decoder, Adam 1e-3);
    the model is built for ``dataset``, so its input size is ``dataset``'s.
    """
    spec = resolve(
        "vae",
        "digits_binary",
        preset="iwae",
        overrides={
            "train.batch_size": BATCH,
            "train.inner_steps": inner_steps,
            "train.steps": warm_steps,
        },
    )
    return spec.config, build(spec.config, dataset, nnx.Rngs(SEED))


class GenbenchStep:
    """genbench's compiled shared step of the ``iwae`` VAE, called as the harness calls it.

    ``fit`` runs ``warm_calls`` calls (tracing, compiling and warming the step);
    ``call()`` then runs the next ``inner_steps`` optimisation steps with the
    fit's own ``TrainStep`` and donated state, and waits for the result.

    Args:
      dataset: a ``genbench.data.base.Dataset``.
      inner_steps: optimisation steps per compiled call.
      warm_calls: compiled calls in the warm fit.
    """

    def __init__(self, dataset: Dataset, inner_steps: int, warm_calls: int = 2):
        config, model = iwae_model(dataset, inner_steps, warm_calls * inner_steps)
        view = data_view(dataset, model.input_kind)
        result = fit(model, dataset, view.transform, config.train, SEED, data_mesh())
        self.step_fn, self.state = result.step_fn, result.state
        self.compile_s = result.compile_s
        self.inner_steps = inner_steps
        self.next_step = config.train.steps
        self.first_loss = result.history[0]["loss"]
        self.last_loss = result.history[-1]["loss"]

    def call(self) -> dict:
        """One compiled call (``inner_steps`` steps), closed by ``block_until_ready``."""
        self.state, out = self.step_fn(self.state, self.next_step)
        self.next_step += self.inner_steps
        return jax.block_until_ready(out)

    def run(self, steps: int) -> float:
        """``steps`` steps (a multiple of ``inner_steps``); returns the last step's loss."""
        out = None
        for _ in range(steps // self.inner_steps):
            self.state, out = self.step_fn(self.state, self.next_step)
            self.next_step += self.inner_steps
        self.last_loss = float(out["loss"]["params"][-1])
        return self.last_loss
