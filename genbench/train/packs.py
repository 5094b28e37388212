"""PacGAN's authors' training data (``train.fixed_packs``): fixed packs, reordered each epoch.

Their code (PacGAN/pacgan/datasets.py ``GaussianPackingMixture``) draws each run's data
set of N points from the mixture, then, once, one ``np.random.randint(0, N, N)``
resample of it per pack slot, and stacks the m resamples side by side into N packs;
a ``ShuffledScheme`` (streams.py) reorders those packs every epoch. ``PackFeeder``
feeds the same: each seed's own N points (drawn from a source, or a dataset's fixed
training split), its N packs fixed for the run, every epoch all of them once, whole
packs ``batch_size / m`` at a time, the m rows of a pack consecutive (the layout the
GAN packs and its per-slot BatchNorm statistics read).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh

from genbench import contract
from genbench.errors import UsageError
from genbench.train.feed import ArrayFeeder, epoch_order, is_symbolic

_PACKS_STREAM = 0x9AC5  # keeps a run's fixed packs apart from its epoch orders
_DRAW_STREAM = 0xD4A  # keeps a run's own training points apart from other seeded streams


@functools.lru_cache(maxsize=16)
def fixed_packs_of(n: int, pack: int, seed: int) -> np.ndarray:
    """The N packs of a run: ``[n, pack]`` example indices, slot j of every pack a bootstrap
    resample (uniform, with replacement) of the n examples, drawn from ``seed``."""
    rng = np.random.default_rng((seed, _PACKS_STREAM, pack))
    return rng.integers(0, n, size=(n, pack))


def run_training_points(source, n: int, seed: int) -> np.ndarray:
    """A run's own ``n`` training points, drawn from ``source`` with its ``seed``."""
    key = jax.random.fold_in(jax.random.key(_DRAW_STREAM), seed)
    return np.asarray(source.sample(key, n), np.float32)


class PackFeeder(ArrayFeeder):
    """Batches of whole fixed packs: ``batch_size / pack`` packs a step, N packs an epoch.

    Args:
      train: the training points, ``[N, ...]`` shared by every seed, or ``{seed: [N, ...]}``
        with each seed's own (a seed group keeps them one block per seed in one array).
      pack: rows per pack, m (``batch_size`` must be whole packs).
      batch_size, inner_steps, seed, mesh, seeds: as for ``ArrayFeeder``.
    """

    def __init__(
        self,
        train: np.ndarray | Mapping[int, np.ndarray],
        pack: int,
        batch_size: int,
        inner_steps: int,
        seed: int,
        mesh: Mesh,
        seeds: Sequence[int] | None = None,
    ):
        if batch_size % pack:
            raise UsageError(
                f"train.fixed_packs needs train.batch_size={batch_size} to be whole packs of {pack}"
            )
        run_seeds = tuple(seeds) if seeds is not None else (seed,)
        if isinstance(train, Mapping):
            blocks = [np.asarray(train[s]) for s in run_seeds]
            data = np.concatenate(blocks)
            self._points = len(blocks[0])
            self._offset = {s: i * self._points for i, s in enumerate(run_seeds)}
        else:
            data, self._points = train, len(train)
            self._offset = dict.fromkeys(run_seeds, 0)
        self._pack = pack
        super().__init__(data, batch_size, inner_steps, seed, mesh, seeds)

    def rows_per_epoch(self) -> int:
        """Rows an epoch visits: each of the N packs' m rows once."""
        return self._points * self._pack

    def epoch_rows(self, seed: int, epoch: int) -> np.ndarray:
        """The rows of ``epoch`` of ``seed``: its packs in the epoch's order, each pack's m rows
        together in slot order."""
        packs = fixed_packs_of(self._points, self._pack, seed)
        order = epoch_order(seed, epoch, self._points)
        return self._offset[seed] + packs[order].ravel()


def training_points(dataset, seeds: Sequence[int]) -> np.ndarray | dict[int, np.ndarray]:
    """The points a run's fixed packs are drawn from (``PackFeeder``'s ``train``): from a
    source (a sampler, as PacGAN's mixtures), each seed's own ``data.n_train`` points; from a
    data set of files, its training split, shared by every seed.

    Raises:
      UsageError: a source that draws fresh samples (it has no fixed training set).
    """
    if contract.draws_fresh(dataset):
        raise UsageError(
            f"train.fixed_packs needs a fixed training set; dataset {dataset.name!r} draws "
            "fresh samples (set data.fresh=false)"
        )
    if contract.is_source(dataset):
        n = len(dataset.train)
        return {s: run_training_points(dataset, n, s) for s in seeds}
    return np.asarray(dataset.train, np.int32 if is_symbolic(dataset) else np.float32)
