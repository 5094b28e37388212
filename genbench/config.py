"""Run configuration: frozen dataclasses, presets and type-checked overrides.

A run's resolved config is one ``RunConfig`` with four sections: ``model``
and ``data`` (dataclasses that the model's and the dataset's registry entries
declare), ``train`` and ``eval``. Any field is addressed as
``section.field`` (``train.groups.<group>.lr`` for per-group optimiser
settings) and overridden with a value that is checked against the field's
type before anything is compiled. This module imports neither jax nor numpy,
so the CLI validates input in milliseconds.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from genbench import contract
from genbench.errors import UsageError, choices


@dataclass(frozen=True)
class GroupOverride:
    """Optimiser settings for one parameter group; ``None`` keeps the ``train`` value."""

    optimizer: Literal["adam", "adamw", "sgd"] | None = None  # optimiser of this group
    lr: float | None = None  # peak learning rate of this group
    b1: float | None = None  # Adam beta1 (SGD momentum) of this group
    b2: float | None = None  # Adam beta2 of this group
    weight_decay: float | None = None  # decoupled weight decay on >= 2-D parameters


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` section: how the shared step optimises a model."""

    steps: int = 1000  # optimisation steps in the run
    batch_size: int = 128  # examples per step, over all devices
    inner_steps: int = 1  # optimisation steps per compiled call (lax.scan); divides steps
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"  # optax optimiser
    lr: float = 1e-3  # peak learning rate
    # learning-rate schedule; "stages": stage i of train.stages lasts a share growth^i /
    # sum_j growth^j of the steps at lr * decay^i (Burda et al.'s 3^i passes at
    # 0.001 * 10^(-i/7), i = 0..7, with the defaults below)
    schedule: Literal["constant", "cosine", "stages"] = "constant"
    warmup_steps: int = 0  # linear warm-up steps (every schedule)
    min_lr: float = 0.0  # final learning rate of the cosine schedule
    stages: int = 8  # number of stages of the "stages" schedule
    stage_growth: float = 3.0  # each stage is this many times longer than the one before
    stage_decay: float = 10 ** (-1 / 7)  # each stage's rate is the one before's times this
    b1: float = 0.9  # Adam beta1, or SGD momentum
    b2: float = 0.999  # Adam beta2
    weight_decay: float = 0.0  # decoupled weight decay, >= 2-D parameters only (nanoGPT)
    grad_clip: float = 0.0  # global gradient-norm clip; 0 disables it
    # XLA:CPU's matrix-product library for the training step: "ynnpack" is XLA's
    # default; "eigen" measured 7-16% faster for the small dense networks of the VAE
    # and GAN benchmarks on 2 cores, and 4-9% slower for the transformer.
    cpu_dots: Literal["ynnpack", "eigen"] = "ynnpack"
    # dtype of the training step's arithmetic: parameters and optimiser state stay float32
    # (bfloat16: float inputs and a bfloat16 copy of the parameters per step, losses in float32)
    compute_dtype: Literal["float32", "bfloat16"] = "float32"
    # PacGAN's authors' data (genbench.train.packs): each run draws its own data.n_train
    # points from a source (a data set of files: its training split), then N packs once,
    # each slot a bootstrap resample of them, and every epoch reorders those packs (instead
    # of packs formed anew from each epoch's permutation of one split for every run); a
    # model that does not pack (pack 1) trains on one bootstrap resample of its points
    fixed_packs: bool = False
    fit: Literal["gradient", "exact", "em"] = "gradient"  # how the model is fitted
    restarts: int = 1  # EM: independent initialisations; the best training likelihood wins
    checkpoint_every: int = 0  # steps between checkpoints (multiple of inner_steps); 0: none
    checkpoint_keep: int = 2  # latest checkpoints kept on disk
    log_every: int = 0  # steps between history entries; 0 means about 50 entries per run
    groups: dict[str, GroupOverride] = field(default_factory=dict)  # per-group overrides


@dataclass(frozen=True)
class EvalConfig:
    """The ``eval`` section: what the harness measures and on how much data."""

    batch_size: int = 250  # examples per evaluation call
    max_examples: int = 0  # cap on test examples evaluated; 0 = the whole test split
    iwae_k: tuple[int, ...] = (10, 100)  # importance samples of the reported IWAE bounds
    nll_k: int = 1000  # importance samples of the IWAE NLL estimate (5000 in papers)
    source_samples: int = 2000  # fresh source samples (sequences) for kl_to_source
    source_steps: int = 1000  # length of the fresh sequences for kl_rate_to_source
    timing_calls: int = 20  # timed calls for step_ms (median, after warm-up)
    # the metric groups to measure, by their registered names (likelihood, source,
    # sample_quality, augmentation, ...); empty: every group. Each group draws from its own
    # key, so leaving one out changes no other group's numbers
    groups: tuple[str, ...] = ()
    # steps between evaluations of the metrics into the history of a gradient fit (a
    # convergence curve), on the validation split where the dataset has one, else the test
    # split; a multiple of train.inner_steps; 0: only the final evaluation. Not training time
    every: int = 0


@dataclass(frozen=True)
class RunConfig:
    """A resolved run config: model and data sections are registry-declared dataclasses."""

    model: Any
    data: Any
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


@dataclass(frozen=True)
class Preset:
    """A named set of overrides (``section.field`` -> value) with a one-line description."""

    description: str
    overrides: Mapping[str, Any]


SECTIONS = ("model", "data", "train", "eval")


def to_dict(config: Any) -> Any:
    """Converts a config (nested dataclasses, tuples, dicts) to plain JSON values."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_dict(v) for k, v in config.items()}
    if isinstance(config, list | tuple):
        return [to_dict(v) for v in config]
    return config


def parse_assignments(items: list[str]) -> dict[str, str]:
    """Parses ``key=value`` strings (``--set`` arguments) into a dict.

    Raises:
      UsageError: an item has no ``=`` or an empty key.
    """
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects section.field=value, got {item!r}")
        parsed[key.strip()] = value.strip()
    return parsed


def apply_overrides(config: RunConfig, overrides: Mapping[str, Any]) -> RunConfig:
    """Returns ``config`` with each ``section.field`` override applied and type-checked.

    Args:
      config: the config to start from.
      overrides: dotted paths to values; strings are parsed by the field's type
        (from the CLI), other values are checked against it (from presets and TOML).

    Returns:
      A new frozen ``RunConfig``.

    Raises:
      UsageError: unknown section or field, or a value of the wrong type.
    """
    for path, value in overrides.items():
        config = _set_path(config, path.split("."), value, path)
    return config


def _set_path(node: Any, parts: list[str], value: Any, path: str) -> Any:
    name, rest = parts[0], parts[1:]
    names = {f.name: f for f in dataclasses.fields(node)}
    if name not in names:
        where = "section" if node.__class__ is RunConfig else "field"
        raise UsageError(f"unknown config {where} {name!r} in {path!r}; allowed: {choices(names)}")
    hint = typing.get_type_hints(type(node))[name]
    current = getattr(node, name)
    if dataclasses.is_dataclass(current) and rest:
        return dataclasses.replace(node, **{name: _set_path(current, rest, value, path)})
    if typing.get_origin(hint) is dict and rest:
        item_type = typing.get_args(hint)[1]
        key, rest = rest[0], rest[1:]
        if not rest:
            raise UsageError(f"{path!r} needs a field after {key!r}: {path}.<field>")
        item = current.get(key, item_type())
        new_dict = {**current, key: _set_path(item, rest, value, path)}
        return dataclasses.replace(node, **{name: new_dict})
    if rest:
        raise UsageError(f"{'.'.join(parts[:1])!r} has no sub-fields (in {path!r})")
    return dataclasses.replace(node, **{name: coerce(value, hint, path)})


def coerce(value: Any, hint: Any, path: str) -> Any:
    """Parses or checks ``value`` against the type ``hint`` of the field at ``path``.

    Supports bool, int, float, str, ``Literal``, ``X | None`` and ``tuple[T, ...]``.

    Raises:
      UsageError: naming the field, the value and the expected type.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], path)
    if origin is Literal:
        if value not in args:
            raise UsageError(f"{path}={value!r} is not allowed; allowed: {choices(args)}")
        return value
    if origin is tuple:
        item = args[0]
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise UsageError(f"{path}={value!r} must be a comma-separated list of {item.__name__}")
        return tuple(coerce(v, item, path) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise UsageError(f"{path}={value!r} must be a bool (true or false)")
    if hint in (int, float):
        if isinstance(value, str):
            try:
                number = float(value) if hint is float else int(value.strip())
            except ValueError:
                raise UsageError(f"{path}={value!r} must be {hint.__name__}") from None
            return _finite(number, path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{path}={value!r} must be {hint.__name__}")
        _finite(value, path)
        if hint is int and not float(value).is_integer():
            raise UsageError(f"{path}={value!r} must be int")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise UsageError(f"{path}={value!r} must be a string")
        return value
    raise UsageError(f"{path} has a type that cannot be set from the command line: {hint}")


def _finite(number: float, path: str) -> float:
    """``number``, unless it is NaN or infinite: no config value may be (a run key hashes the
    config as strict JSON, and no setting means anything at infinity)."""
    if not math.isfinite(number):
        raise UsageError(f"{path}={number} must be a finite number")
    return number


def follow_model(config: RunConfig) -> RunConfig:
    """``config`` with the data fields that follow the model's resolved.

    A data config may define ``follow_model(model_section) -> data_section``
    (text's ``data.block_size`` 0 follows ``model.block_size``), so that one knob
    sets both; the resolved value is what the record and the run key hold.
    """
    follow = getattr(config.data, "follow_model", None)
    return config if follow is None else dataclasses.replace(config, data=follow(config.model))


def validate(config: RunConfig) -> None:
    """Checks ranges that types cannot express; raises ``UsageError`` on the first problem."""
    t = config.train
    positive = {"train.steps": t.steps, "train.batch_size": t.batch_size}
    positive |= {"train.inner_steps": t.inner_steps, "eval.batch_size": config.eval.batch_size}
    positive |= {"eval.nll_k": config.eval.nll_k, "eval.timing_calls": config.eval.timing_calls}
    positive |= {"train.restarts": t.restarts, "eval.source_steps": config.eval.source_steps}
    for path, value in positive.items():
        if value < 1:
            raise UsageError(f"{path}={value} must be >= 1")
    if t.steps % t.inner_steps:
        raise UsageError(
            f"train.steps={t.steps} must be a multiple of train.inner_steps={t.inner_steps}"
        )
    if t.checkpoint_every < 0 or t.checkpoint_every % t.inner_steps or t.checkpoint_keep < 1:
        raise UsageError(
            f"train.checkpoint_every={t.checkpoint_every} must be >= 0 and a multiple of "
            f"train.inner_steps={t.inner_steps}; train.checkpoint_keep must be >= 1"
        )
    if t.lr <= 0 or t.min_lr < 0 or t.grad_clip < 0 or t.weight_decay < 0:
        raise UsageError("train.lr must be > 0 and train.min_lr, grad_clip, weight_decay >= 0")
    if t.stages < 1 or t.stage_growth <= 0 or t.stage_decay <= 0:
        raise UsageError(
            f"train.stages={t.stages} must be >= 1, and train.stage_growth={t.stage_growth} "
            f"and train.stage_decay={t.stage_decay} > 0"
        )
    if not (0 <= t.b1 < 1 and 0 <= t.b2 < 1):
        raise UsageError(f"train.b1={t.b1} and train.b2={t.b2} must lie in [0, 1)")
    if config.eval.every < 0 or config.eval.every % t.inner_steps:
        raise UsageError(
            f"eval.every={config.eval.every} must be >= 0 and a multiple of "
            f"train.inner_steps={t.inner_steps}"
        )
    if t.fixed_packs and contract.draws_fresh(config.data):
        raise UsageError("train.fixed_packs needs a fixed training set: set data.fresh=false")
    if any(k < 1 for k in config.eval.iwae_k):
        raise UsageError(f"eval.iwae_k={config.eval.iwae_k} must hold integers >= 1")
    check = getattr(config.model, "validate", None)
    if check is not None:
        check()
    check = getattr(config.data, "validate", None)
    if check is not None:
        check()
