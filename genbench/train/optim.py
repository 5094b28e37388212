"""Optax optimisers from the ``train`` section, one per parameter group."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from genbench.config import TrainConfig


def stage_boundaries(steps: int, stages: int, growth: float) -> list[int]:
    """The first step of each stage after the first, of the ``stages`` schedule.

    Stage i lasts a share growth^i / sum_j growth^j of the ``steps`` (rounded at
    the cumulative boundaries, so the stages add up to ``steps``).

    Args:
      steps: the run's optimisation steps.
      stages: the number of stages S.
      growth: the ratio of each stage's length to the one before's.

    Returns:
      S - 1 non-decreasing step indices (a stage shorter than a step is empty).
    """
    shares = [growth**i for i in range(stages)]
    total = sum(shares)
    return [round(steps * sum(shares[: i + 1]) / total) for i in range(stages - 1)]


def stages_schedule(train: TrainConfig, lr: float) -> optax.Schedule:
    """``lr * decay^i`` during stage i of ``stage_boundaries`` (no warm-up).

    With the defaults (8 stages, growth 3, decay 10^(-1/7)) over the steps of
    3,280 passes this is Burda et al.'s schedule: 3^i passes at 0.001 * 10^(-i/7).
    """
    boundaries = jnp.asarray(stage_boundaries(train.steps, train.stages, train.stage_growth))

    def schedule(count):
        stage = jnp.sum(count >= boundaries)  # how many boundaries the step has passed
        return lr * jnp.power(train.stage_decay, stage)

    return schedule


def learning_rate_schedule(train: TrainConfig, lr: float) -> optax.Schedule:
    """Constant, cosine-decayed or staged learning rate, each after a linear warm-up.

    The stages' warm-up scales their rate by min(1, step / warmup_steps).
    """
    if train.schedule == "stages":
        stages = stages_schedule(train, lr)
        if not train.warmup_steps:
            return stages
        return lambda count: stages(count) * jnp.minimum(1.0, count / train.warmup_steps)
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
