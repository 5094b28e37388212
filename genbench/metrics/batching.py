"""Per-example functions of a model, jitted once and mapped over a dataset in padded batches."""

from __future__ import annotations

import dataclasses
import types
from collections import OrderedDict
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class ModelFunction:
    """``fn(model, x, rng) -> [B]`` (or a dict of ``[B]``) compiled once for a fixed batch size.

    The model is split once and its state passed as an argument (not baked in
    as a constant), so the same compiled program serves every batch.

    Args:
      model: the NNX module.
      fn: per-example function of the model.
      batch_size: examples per compiled call; the last batch is padded.
    """

    def __init__(self, model: nnx.Module, fn: Callable, batch_size: int):
        self.graphdef, self.state = nnx.split(model)
        self.batch_size = batch_size
        self._jitted = compiled(
            fn, self.graphdef, lambda: _merged_call(fn, self.graphdef), ("map", batch_size)
        )

    def call_batch(self, x: jax.Array, rng: jax.Array):
        """One compiled call on a full batch ``x`` (``[batch_size, ...]``)."""
        return self._jitted(self.state, x, rng)

    def map(self, data: np.ndarray, rng: jax.Array):
        """Applies the function to every example of ``data``; returns host arrays ``[N]``."""
        outputs = [
            self._jitted(self.state, batch, jax.random.fold_in(rng, i))
            for i, batch in enumerate(padded_batches(data, self.batch_size))
        ]
        outputs = jax.device_get(outputs)
        return jax.tree.map(lambda *parts: np.concatenate(parts)[: len(data)], *outputs)


class SeedsFunction:
    """``fn(model, x, rng) -> [B]`` of several models of one structure (a seed group's),
    compiled once as one program vmapped over the models' stacked states.

    ``map`` gives ``[S, N]``: row ``s`` is what ``ModelFunction(models[s], fn,
    batch_size).map(data, rngs[s])`` gives (the same keys, batches and padding).

    Args:
      models: NNX modules of one graph structure (the seeds of a group).
      fn: per-example function of a model.
      batch_size: examples per compiled call; the last batch is padded.
      states: ``stacked_states(models)``, when the caller has it already.
    """

    def __init__(self, models: list[nnx.Module], fn: Callable, batch_size: int, states=None):
        graphdef, _ = nnx.split(models[0])
        self.states = stacked_states(models) if states is None else states
        self.batch_size = batch_size
        self._jitted = compiled(
            fn,
            graphdef,
            lambda: _vmapped_call(fn, graphdef),
            ("seeds", batch_size, len(models)),
        )

    def map(self, data: np.ndarray, rngs: jax.Array):
        """Applies each model's function to every example; ``rngs`` holds one key per model."""
        fold = jax.vmap(jax.random.fold_in, in_axes=(0, None))
        outputs = [
            self._jitted(self.states, batch, fold(rngs, i))
            for i, batch in enumerate(padded_batches(data, self.batch_size))
        ]
        outputs = jax.device_get(outputs)
        return jax.tree.map(lambda *parts: np.concatenate(parts, axis=1)[:, : len(data)], *outputs)


def padded_batches(data: np.ndarray, batch_size: int):
    """``data`` as float32 device batches of ``min(batch_size, len(data))`` examples; the
    last is padded with copies of the first example, so that every call has one shape."""
    size = min(batch_size, len(data))
    pad = (-len(data)) % size
    padded = np.concatenate([data, np.repeat(data[:1], pad, axis=0)]) if pad else data
    for start in range(0, len(padded), size):
        yield jnp.asarray(padded[start : start + size], jnp.float32)


def stacked_states(models: list[nnx.Module]):
    """The models' states (one structure) stacked on a leading seed axis."""
    states = [nnx.split(model)[1] for model in models]
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def _vmapped_call(fn: Callable, graphdef):
    def one(state, x, rng):
        return fn(nnx.merge(graphdef, state), x, rng)

    return jax.jit(jax.vmap(one, in_axes=(0, None, 0)))


def _merged_call(fn: Callable, graphdef):
    return jax.jit(lambda state, x, rng: fn(nnx.merge(graphdef, state), x, rng))


# Jitted metric functions, kept across evaluations: the periodic evaluations of one run
# (``eval.every``) build the same functions of the same model structure each time, and
# re-tracing and re-compiling them cost seconds per evaluation on a CPU.
_COMPILED: OrderedDict = OrderedDict()
COMPILED_CACHE_SIZE = 64


def clear_compiled() -> None:
    """Forgets the kept compilations (the runner starts every run with none)."""
    _COMPILED.clear()


def compiled(fn: Callable, graphdef, make: Callable[[], Callable], tag=()) -> Callable:
    """``make()`` (a jitted wrapper of ``fn`` for models of ``graphdef``), cached by what
    ``fn`` computes, so that a later evaluation of the same run reuses its compilation.

    ``fn`` is keyed by its code, defaults and closed-over values (``function_key``);
    a function that closes over anything but plain values, frozen dataclasses and
    other such functions (an array, a model) is not cached, so that no stale
    constant is ever reused.
    """
    key = function_key(fn)
    if key is None:
        return make()
    key = (key, graphdef, tag)
    if key not in _COMPILED:
        _COMPILED[key] = make()
        while len(_COMPILED) > COMPILED_CACHE_SIZE:
            _COMPILED.popitem(last=False)
    _COMPILED.move_to_end(key)
    return _COMPILED[key]


_PLAIN = (int, float, str, bool, type(None), np.dtype)
_UNKNOWN = object()  # the key part of a value that cannot be told safely


def function_key(fn: Callable, depth: int = 0):
    """A hashable key of what ``fn`` computes, or None where it cannot be told safely.

    The key holds the code, then each default and closed-over value: plain numbers,
    strings and dtypes as they are, tuples, functions and frozen dataclasses by the
    keys of their parts. Anything else (an array, a model, a mutable object) makes
    the function uncacheable.
    """
    key = _value_key(fn, depth)
    return None if key is _UNKNOWN else key


def _value_key(value, depth: int):
    if depth > 6:
        return _UNKNOWN
    if isinstance(value, _PLAIN):
        return (type(value), value)  # 1, 1.0 and True are equal keys otherwise
    if isinstance(value, tuple):
        parts = tuple(_value_key(v, depth + 1) for v in value)
    elif isinstance(value, types.FunctionType):
        cells = tuple(c.cell_contents for c in value.__closure__ or ())
        parts = (value.__code__, *(_value_key(v, depth + 1) for v in (value.__defaults__ or ())))
        parts += tuple(_value_key(v, depth + 1) for v in cells)
    elif dataclasses.is_dataclass(value) and value.__dataclass_params__.frozen:
        fields = (getattr(value, f.name) for f in dataclasses.fields(value))
        parts = (type(value), *(_value_key(v, depth + 1) for v in fields))
    else:
        return _UNKNOWN
    return _UNKNOWN if any(p is _UNKNOWN for p in parts) else parts


def test_examples(dataset, eval_cfg) -> np.ndarray:
    """The test split, capped at ``eval.max_examples`` when that is set."""
    test = dataset.test
    return test[: eval_cfg.max_examples] if eval_cfg.max_examples else test
