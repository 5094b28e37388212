"""Data feeding inside the compiled step.

A dataset that fits in device memory is placed on the devices once,
replicated, and each step gathers its batch by index inside the compiled
call. Each epoch's permutation (from (seed, epoch)) is drawn once, on the
host, and handed to the compiled call; a call of ``inner_steps`` steps may
span several epochs, so it receives the permutations of all the epochs it
touches (a fixed number, so the program compiles once). The host draws it
because XLA:CPU's sort-based ``jax.random.permutation`` took 6.3 ms for
10,000 examples (about 3% of a VAE benchmark step), numpy's 0.1 ms. A source with
``fresh`` sampling draws each batch inside the step instead. PacGAN's fixed packs
(``train.fixed_packs``) are ``genbench.train.packs``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from genbench import contract
from genbench.errors import UsageError
from genbench.train.mesh import replicated

_PERMUTATION_STREAM = 0x0DA7A  # keeps the epoch orders apart from other seeded streams


class ArrayFeeder:
    """Batches of a device-resident array, one permutation per epoch, last partial batch dropped.

    Args:
      data: host array ``[N, ...]``, or a tuple of them (features, labels) with one N.
      batch_size: examples per step.
      inner_steps: steps per compiled call.
      seed: run seed (epoch e's permutation comes from numpy's generator seeded
        with (seed, a fixed stream number, e)).
      mesh: where the data is replicated.
      seeds: the seeds of a seed group (``genbench.train.seed_group``), or None for one
        run: each call then receives every seed's permutations, stacked on a leading
        seed axis, so that each seed sees the batches it would see alone.
    """

    def __init__(
        self,
        data: np.ndarray,
        batch_size: int,
        inner_steps: int,
        seed: int,
        mesh: Mesh,
        seeds: Sequence[int] | None = None,
    ):
        n = len(jax.tree.leaves(data)[0])
        self._n = n
        rows = self.rows_per_epoch()
        if rows < batch_size:
            raise UsageError(f"train.batch_size={batch_size} exceeds the {rows} rows of an epoch")
        self.batch_size = batch_size
        self.steps_per_epoch = rows // batch_size
        # A call of inner_steps steps starting anywhere touches at most this many epochs.
        self.epochs_per_call = math.ceil((inner_steps - 1) / self.steps_per_epoch) + 1
        self._sharding = replicated(mesh)
        self.data = jax.device_put(data, self._sharding)
        self._seed = seed
        self._seeds = None if seeds is None else tuple(seeds)
        # The permutations are the call's per-seed input in a seed group.
        self.input_seed_axes = None if seeds is None else (0, None)
        self._perms: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._stacked: tuple[int, jax.Array] | None = None

    def rows_per_epoch(self) -> int:
        """Rows an epoch visits: every example once."""
        return self._n

    def epoch_rows(self, seed: int, epoch: int) -> np.ndarray:
        """The rows of ``epoch`` of ``seed`` in their order: a permutation of the N examples."""
        return epoch_order(seed, epoch, self._n)

    def epoch_permutation(self, epoch: int, seed: int | None = None) -> np.ndarray:
        """``epoch_rows`` of ``seed`` (default: the run's seed) as int32, kept for the calls
        of the epoch; the same in every process."""
        seed = self._seed if seed is None else seed
        if (seed, epoch) not in self._perms:
            self._perms[seed, epoch] = self.epoch_rows(seed, epoch).astype(np.int32)
            while len(self._perms) > 2 * self.epochs_per_call * len(self._seeds or (seed,)):
                self._perms.popitem(last=False)
        return self._perms[seed, epoch]

    def _call_permutations(self, base: int, seed: int | None = None) -> np.ndarray:
        epochs = range(base, base + self.epochs_per_call)
        return np.stack([self.epoch_permutation(e, seed) for e in epochs])

    def call_inputs(self, first_step: int):
        """Inputs of the call starting at ``first_step``: (perms ``[E, N]``, base epoch);
        in a seed group, perms ``[S, E, N]``."""
        base = first_step // self.steps_per_epoch
        if self._stacked is None or self._stacked[0] != base:
            if self._seeds is None:
                perms = self._call_permutations(base)
            else:
                perms = np.stack([self._call_permutations(base, s) for s in self._seeds])
            # Reused by every call in this epoch.
            self._stacked = (base, jax.device_put(perms, self._sharding))
        return self._stacked[1], np.int32(base)

    def batch(self, data: jax.Array, inputs, step: jax.Array, rng: jax.Array) -> jax.Array:
        """The batch of global step ``step`` from the resident ``data`` (traced, in the call)."""
        del rng
        perms, base = inputs
        epoch, position = jnp.divmod(step, self.steps_per_epoch)
        order = perms[epoch - base]
        idx = jax.lax.dynamic_slice_in_dim(order, position * self.batch_size, self.batch_size)
        return jax.tree.map(lambda array: jnp.take(array, idx, axis=0), data)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """Epoch ``epoch``'s order of ``n`` items for ``seed``, from numpy's generator seeded
    with (seed, a fixed stream number, epoch)."""
    return np.random.default_rng((seed, _PERMUTATION_STREAM, epoch)).permutation(n)


class SourceFeeder:
    """Fresh batches drawn from a source inside the step (infinite data)."""

    input_seed_axes = None  # a seed group shares the (constant) call input

    def __init__(self, source, batch_size: int):
        self.source = source
        self.batch_size = batch_size
        self.data = np.zeros((), np.float32)

    def call_inputs(self, first_step: int):
        """A source needs no host-side inputs; a constant int32 keeps the call signature fixed."""
        del first_step
        return np.int32(0)

    def batch(self, data, inputs, step: jax.Array, rng: jax.Array) -> jax.Array:
        """A fresh batch from the source (traced, in the call)."""
        del data, inputs, step
        return self.source.sample(rng, self.batch_size)


class WindowFeeder:
    """Random windows of ``window`` tokens cut from longer sequences (nanoGPT's ``get_batch``).

    Each step draws ``batch_size`` (sequence, offset) pairs uniformly, with
    replacement, from the step's data key and gathers the windows from the
    device-resident ``[N, L]`` array inside the compiled call.
    """

    input_seed_axes = None  # a seed group shares the (constant) call input

    def __init__(self, data: np.ndarray, batch_size: int, window: int, mesh: Mesh):
        self.batch_size, self.window = batch_size, window
        self.data = jax.device_put(data, replicated(mesh))

    def call_inputs(self, first_step: int):
        """Windows need no host-side inputs; a constant int32 keeps the call signature fixed."""
        del first_step
        return np.int32(0)

    def batch(self, data: jax.Array, inputs, step: jax.Array, rng: jax.Array) -> jax.Array:
        """``[batch_size, window]`` windows at random rows and offsets (traced, in the call)."""
        del inputs, step
        n, length = data.shape
        k_row, k_offset = jax.random.split(rng)
        rows = jax.random.randint(k_row, (self.batch_size,), 0, n)
        offsets = jax.random.randint(k_offset, (self.batch_size,), 0, length - self.window + 1)
        return data[rows[:, None], offsets[:, None] + jnp.arange(self.window)]


def is_symbolic(dataset) -> bool:
    """Whether the dataset's examples are integer symbols (categorical data, symbol
    sequences); real-valued sequences (levels 0) stay float."""
    return dataset.kind == "categorical" or (dataset.kind == "sequence" and dataset.levels > 0)


def make_feeder(
    dataset,
    batch_size: int,
    inner_steps: int,
    seed: int,
    mesh: Mesh,
    with_labels: bool = False,
    window: int | None = None,
    seeds: Sequence[int] | None = None,
):
    """A ``SourceFeeder`` for sources with fresh sampling, an ``ArrayFeeder`` otherwise.

    With ``with_labels`` (a model that declares ``uses_labels``), batches are
    ``(features, labels)`` tuples. With ``window`` (a model that declares
    ``train_window``), symbol sequences longer than it are cut into random
    windows of that many tokens by a ``WindowFeeder``. With ``seeds`` (a seed group),
    an ``ArrayFeeder`` hands every seed's epoch orders to each call.
    """
    if contract.draws_fresh(dataset):
        return SourceFeeder(dataset, batch_size)
    symbols = is_symbolic(dataset)
    data = np.asarray(dataset.train, np.int32 if symbols else np.float32)
    if window and symbols and data.ndim == 2 and data.shape[1] > window and not with_labels:
        return WindowFeeder(data, batch_size, window, mesh)
    if with_labels:
        if not contract.is_labelled(dataset):
            raise UsageError(f"the model needs labels; dataset {dataset.name!r} has none")
        data = (data, np.asarray(dataset.train_labels, np.int32))
    return ArrayFeeder(data, batch_size, inner_steps, seed, mesh, seeds)
