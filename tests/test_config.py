"""Configs: presets, type-checked overrides and range validation (no jax needed)."""

import dataclasses

import pytest

from genbench import registry
from genbench.config import RunConfig, apply_overrides, coerce, parse_assignments, to_dict
from genbench.errors import UsageError
from genbench.spec import resolve


def test_defaults_then_preset_then_overrides():
    spec = resolve("vae", "digits_binary", "iwae", {"model.latent_dim": "7", "train.lr": "0.01"})
    assert spec.config.model.hidden == (200, 200)
    assert spec.config.model.activation == "tanh"
    assert spec.config.model.latent_dim == 7
    assert spec.config.train.lr == 0.01


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("train.steps", "20", 20),
        ("train.lr", "3e-4", 3e-4),
        ("train.schedule", "cosine", "cosine"),
        ("model.hidden", "64,32", (64, 32)),
        ("model.linear", "true", True),
        ("eval.iwae_k", "1,5", (1, 5)),
        ("train.groups.params.lr", "0.5", 0.5),
    ],
)
def test_string_overrides_are_parsed_by_field_type(key, text, expected):
    config = resolve("vae", "digits_binary", overrides={key: text}).config
    node = config
    for part in key.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    assert node == expected
    assert type(node) is type(expected)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train.stepz": "1"}, "unknown config field 'stepz'"),
        ({"bogus.x": "1"}, "unknown config section 'bogus'"),
        ({"train.steps": "ten"}, "must be int"),
        ({"train.steps": "1.5"}, "must be int"),
        ({"train.lr": "fast"}, "must be float"),
        ({"train.optimizer": "lion"}, "allowed: adam, adamw, sgd"),
        ({"model.linear": "maybe"}, "must be a bool"),
        ({"train.steps": "0"}, "must be >= 1"),
        ({"train.steps": "10", "train.inner_steps": "3"}, "multiple of train.inner_steps"),
        ({"train.b1": "1.5"}, "must lie in [0, 1)"),
        ({"train.groups.params": "1"}, "needs a field"),
    ],
)
def test_bad_overrides_raise_one_line(overrides, message):
    with pytest.raises(UsageError, match=None) as info:
        resolve("vae", "digits_binary", overrides=overrides)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_names_list_the_allowed_ones():
    allowed = "allowed: " + ", ".join(sorted(registry.models()))
    with pytest.raises(UsageError, match=allowed):
        resolve("vea", "digits")
    with pytest.raises(UsageError, match="unknown dataset 'imagenet'"):
        resolve("vae", "imagenet")
    with pytest.raises(UsageError, match="allowed: conditional, iwae, linear"):
        resolve("vae", "digits", preset="big")


def test_configs_are_frozen_and_serialise_to_plain_json():
    config = resolve("vae", "ring8").config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.steps = 3
    plain = to_dict(config)
    assert set(plain) == {"model", "data", "train", "eval"}
    assert plain["model"]["hidden"] == [128, 128]


def test_python_values_are_checked_not_parsed():
    base = RunConfig(model=resolve("vae", "ring8").config.model, data=None)
    assert apply_overrides(base, {"train.steps": 5}).train.steps == 5
    assert apply_overrides(base, {"train.lr": 1}).train.lr == 1.0
    with pytest.raises(UsageError):
        apply_overrides(base, {"train.steps": 2.5})
    with pytest.raises(UsageError):
        coerce(True, int, "train.steps")


def test_parse_assignments():
    assert parse_assignments(["a.b=1", "c.d = x"]) == {"a.b": "1", "c.d": "x"}
    with pytest.raises(UsageError, match="section.field=value"):
        parse_assignments(["nonsense"])
