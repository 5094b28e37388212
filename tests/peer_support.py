"""What the peer-equivalence tests share: importing a peer, and genbench's update by hand.

The peers (PyTorch, hmmlearn, dynamax) come from the ``peers`` extra. Without it
their tests skip, with the reason in pytest's summary; with ``GENBENCH_REQUIRE_PEERS=1``
(``.ci/run`` sets it) a missing peer is an import error, so CI cannot pass by skipping.
"""

from __future__ import annotations

import importlib
import os
import warnings
from functools import partial

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from genbench.contract import param_groups
from genbench.train.optim import make_optimizer


def import_peer(name: str):
    """Imports the peer module ``name``; a skip when it is missing, unless CI requires peers.

    dynamax's tensorflow-probability backend warns about jax deprecations on import,
    and ``filterwarnings=error`` would turn those into failures, so they are silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if os.environ.get("GENBENCH_REQUIRE_PEERS") == "1":
            return importlib.import_module(name)
        reason = f"{name} is not installed (the peers extra: pip install -e '.[test,peers]')"
        return pytest.importorskip(name, reason=reason)


class GroupedUpdate:
    """genbench's update of one parameter group, as a phase of the shared step does it.

    The phase differentiates the group's loss with respect to that group's
    parameters only, at the current parameters of every group, and applies the
    group's optimiser (``make_optimizer``); the model's other state (BatchNorm
    statistics) is taken from the forward pass, as ``TrainStep._phase`` does.

    Args:
      model: a genbench model (an ``nnx.Module`` with ``loss(batch, rng)``).
      train: its ``TrainConfig``.
    """

    def __init__(self, model: nnx.Module, train):
        groups = param_groups(model)
        self.groups = list(groups)
        self.filters = [groups[g] for g in self.groups]
        self.graphdef, *states = nnx.split(model, *self.filters, ...)
        states = [nnx.as_pure(state) for state in states]
        self.params = dict(zip(self.groups, states[:-1], strict=True))
        self.rest = states[-1]
        self.optimizers = {g: make_optimizer(train, g) for g in self.groups}
        self.opt = {g: self.optimizers[g].init(self.params[g]) for g in self.groups}

    def model(self, params: dict | None = None) -> nnx.Module:
        """The model at ``params`` (default: the current parameters)."""
        params = self.params if params is None else params
        return nnx.merge(self.graphdef, *[params[g] for g in self.groups], self.rest)

    def update(self, group: str, batch, rng) -> tuple[float, nnx.Module]:
        """One optimiser step of ``group`` on ``batch``; returns (its loss, the model of its
        gradients: a copy of the model whose ``group`` parameters hold the gradients).
        The step's metrics (the loss's second output) are left in ``self.metrics``."""
        loss, grads, self.params, self.rest, self.opt[group], self.metrics = self._step(
            group, self.params, self.rest, self.opt[group], batch, rng
        )
        return float(loss), self.model({**self.params, group: grads})

    @partial(jax.jit, static_argnums=(0, 1))
    def _step(self, group, params, rest, opt, batch, rng):
        """The phase as one compiled program (op-by-op dispatch would cost seconds)."""

        def group_loss(group_params):
            model = nnx.merge(
                self.graphdef, *[{**params, group: group_params}[g] for g in self.groups], rest
            )
            losses, metrics = model.loss(batch, rng)
            return losses[group], (nnx.as_pure(nnx.split(model, *self.filters, ...)[-1]), metrics)

        (loss, (new_rest, metrics)), grads = jax.value_and_grad(group_loss, has_aux=True)(
            params[group]
        )
        updates, opt = self.optimizers[group].update(grads, opt, params[group])
        params = {**params, group: optax.apply_updates(params[group], updates)}
        return loss, grads, params, new_rest, opt, metrics


def assert_gradients_close(theirs: dict, ours: dict) -> None:
    """Gradients (name -> array) agree to 1e-4 relative, with an absolute floor at 1e-5 of
    the largest gradient element of them all (rounding of the sums behind each element)."""
    assert theirs.keys() == ours.keys()
    scale = max(float(np.abs(np.asarray(g)).max()) for g in ours.values())
    for name, g in ours.items():
        np.testing.assert_allclose(
            np.asarray(theirs[name]), np.asarray(g), rtol=1e-4, atol=1e-5 * scale, err_msg=name
        )


def assert_parameters_close(theirs: dict, ours: dict, lr: float, steps: int) -> None:
    """Parameters after ``steps`` Adam steps agree, up to Adam's sign flips.

    Adam's first steps move each element by about lr x sign(g): where a gradient
    is ~0 on both sides, rounding can flip that sign, so an element may differ by
    up to 2 lr per step. Fewer than 1 element in 1,000 may differ by more than 1e-6
    (the learning rate here is 1e-4 or more, so a wrong lr, beta, weight decay or
    gradient shows in almost every element).
    """
    assert theirs.keys() == ours.keys()
    diffs = [np.abs(np.asarray(theirs[k]) - np.asarray(ours[k])).ravel() for k in ours]
    for name, diff in zip(ours, diffs, strict=True):
        assert diff.max() <= 2 * lr * steps, f"{name}: max difference {diff.max():.3g}"
    every = np.concatenate(diffs)
    assert np.mean(every > 1e-6) < 1e-3, f"{np.mean(every > 1e-6):.2%} of elements differ"
