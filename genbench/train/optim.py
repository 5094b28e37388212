"""Optax optimisers from the ``train`` section, one per parameter group."""

from __future__ import annotations

import dataclasses

import jax
import optax

from genbench.config import TrainConfig


def learning_rate_schedule(train: TrainConfig, lr: float) -> optax.Schedule:
    """Constant or cosine-decayed learning rate, both after a linear warm-up."""
    if train.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0 if train.warmup_steps else lr,
            peak_value=lr,
            warmup_steps=train.warmup_steps,
            decay_steps=max(train.steps, train.warmup_steps + 1),
            end_value=train.min_lr,
        )
    if train.warmup_steps:
        return optax.join_schedules(
            [optax.linear_schedule(0.0, lr, train.warmup_steps), optax.constant_schedule(lr)],
            [train.warmup_steps],
        )
    return optax.constant_schedule(lr)


def decay_mask(params) -> object:
    """True for parameters with two or more dimensions (no decay on biases and gains)."""
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(train: TrainConfig, group: str) -> optax.GradientTransformation:
    """The optimiser of parameter group ``group``: the train section plus its overrides.

    The chain is: global-norm clipping (if ``grad_clip > 0``), the optimiser's
    scaling (Adam moments or SGD momentum), decoupled weight decay on >= 2-D
    parameters (AdamW, Loshchilov and Hutter 2019) and the learning-rate schedule.
    """
    override = train.groups.get(group)
    if override is not None:
        values = {k: v for k, v in dataclasses.asdict(override).items() if v is not None}
        train = dataclasses.replace(train, **values)
    parts = []
    if train.grad_clip > 0:
        parts.append(optax.clip_by_global_norm(train.grad_clip))
    if train.optimizer in ("adam", "adamw"):
        parts.append(optax.scale_by_adam(b1=train.b1, b2=train.b2))
    elif train.b1 > 0:
        parts.append(optax.trace(decay=train.b1))
    if train.weight_decay > 0:
        parts.append(optax.add_decayed_weights(train.weight_decay, mask=decay_mask))
    parts.append(optax.scale_by_learning_rate(learning_rate_schedule(train, train.lr)))
    return optax.chain(*parts)
