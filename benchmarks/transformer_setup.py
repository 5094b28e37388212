"""The genbench side of the transformer benchmark: synthetic char-level data and the shared step.

Config (the issue's): the ``shakespeare-char-cpu`` preset (no biases, tied
embeddings, dropout 0, AdamW 1e-3 with b2 0.99 and weight decay 0.1 on >= 2-D
parameters, global-norm clipping at 1.0, cosine schedule after 100 warm-up steps)
with 4 layers, 4 heads, width 256, block 128 and batch 32, over V = 65 symbols.

Data: ``N_ROWS`` sequences of ``ROW_LENGTH`` tokens from a seeded order-2 Markov
chain over 65 symbols (no download). A row is longer than a training window of
129 tokens, so the harness's ``WindowFeeder`` cuts one window per example at a
random row and offset inside the compiled step, as nanoGPT's ``get_batch`` does.

As in ``vae_setup.py``, genbench goes through the harness: ``genbench.train.fit.fit``
runs a short warm fit, and the benchmark then keeps calling the fit's own compiled
step ``step_fn(state, first_step)`` with ``first_step`` advancing.
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from benchmarks.vae_setup import GenbenchStep
from genbench.data.base import Dataset
from genbench.data.view import data_view
from genbench.models.transformer import Transformer, build
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh

VOCAB, N_LAYER, N_HEAD, N_EMBD, BLOCK, BATCH = 65, 4, 4, 256, 128, 32
N_ROWS, N_TEST_ROWS, ROW_LENGTH = 1_000, 50, 1_025  # about 1M training tokens
INNER_STEPS, SEED = 10, 0


def markov_text(rows: int, length: int, vocab: int = VOCAB, seed: int = SEED) -> np.ndarray:
    """``[rows, length]`` int32 symbols: independent runs of a random order-2 Markov chain.

    Each context (a, b) has its own next-symbol distribution, a Dirichlet(0.1)
    draw, so the text is predictable enough for the loss to fall. Fixed numpy seed.
    """
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(rng.dirichlet(np.full(vocab, 0.1), (vocab, vocab)), -1)
    cumulative[..., -1] = 1.0
    out = np.empty((rows, length), np.int32)
    out[:, :2] = rng.integers(0, vocab, (rows, 2))
    for t in range(2, length):
        u = rng.random(rows)[:, None]
        out[:, t] = (cumulative[out[:, t - 2], out[:, t - 1]] < u).sum(-1)
    return np.minimum(out, vocab - 1)


def markov_dataset() -> Dataset:
    """The benchmark's dataset: ``N_ROWS`` train and ``N_TEST_ROWS`` test rows of 1,025 symbols."""
    data = markov_text(N_ROWS + N_TEST_ROWS, ROW_LENGTH)
    return Dataset("markov65", data[:N_ROWS], data[N_ROWS:], "sequence", levels=VOCAB)


def transformer_spec(inner_steps: int = INNER_STEPS, warm_steps: int = INNER_STEPS):
    """The run spec: ``transformer`` with ``shakespeare-char-cpu`` and the issue's sizes.

    The ``text`` dataset entry only supplies the config's data section; the model
    is built for ``markov_dataset()``. The call length and the warm fit's length
    are overridden too.
    """
    overrides = {
        "model.n_layer": N_LAYER,
        "model.n_head": N_HEAD,
        "model.n_embd": N_EMBD,
        "model.block_size": BLOCK,
        "train.batch_size": BATCH,
        "train.inner_steps": inner_steps,
        "train.steps": warm_steps,
    }
    return resolve("transformer", "text", preset="shakespeare-char-cpu", overrides=overrides)


def transformer_model(dataset: Dataset, inner_steps: int = INNER_STEPS, warm_steps: int = 0):
    """(config, model) of ``transformer_spec`` built for ``dataset``."""
    spec = transformer_spec(inner_steps, warm_steps or inner_steps)
    model: Transformer = build(spec.config, dataset, nnx.Rngs(SEED))
    return spec.config, model


class TransformerStep(GenbenchStep):
    """genbench's compiled shared step of the transformer, called as the harness calls it.

    ``call()`` is ``GenbenchStep.call``; ``run(steps)`` returns the last step's loss.

    Args:
      dataset: ``markov_dataset()`` (or any sequence dataset with rows of >= 129 symbols).
      inner_steps: optimisation steps per compiled call.
      warm_calls: compiled calls in the warm fit.
    """

    def __init__(self, dataset: Dataset, inner_steps: int = INNER_STEPS, warm_calls: int = 1):
        self.config, self.model = transformer_model(dataset, inner_steps, warm_calls * inner_steps)
        view = data_view(dataset, self.model.input_kind)
        train = self.config.train
        result = fit(self.model, dataset, view.transform, train, SEED, data_mesh())
        self.step_fn, self.state, self.compile_s = result.step_fn, result.state, result.compile_s
        self.inner_steps, self.next_step = inner_steps, train.steps
        self.first_loss, self.last_loss = result.history[0]["loss"], result.history[-1]["loss"]

    @property
    def tokens_per_step(self) -> int:
        """Positions processed per optimisation step: batch x B (nanoGPT's tokens per iter)."""
        return self.config.train.batch_size * self.model.tokens_per_example

    def run(self, steps: int) -> float:
        """``steps`` steps (a multiple of ``inner_steps``); returns the last step's loss."""
        out = None
        for _ in range(steps // self.inner_steps):
            out = self.call()  # one host sync per call, as fit's logged calls have
        self.last_loss = float(out["loss"]["params"][-1])
        return self.last_loss
