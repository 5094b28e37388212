"""Family defaults of ``train.inner_steps``: the measured call lengths, valid for any steps."""

import pytest

from genbench import registry
from genbench.builtins import INNER_STEPS
from genbench.errors import UsageError
from genbench.spec import load_suite, resolve

DATASET = {"vae": "ring8", "autoencoder": "ring8", "gan": "ring8", "transformer": "markov"}


@pytest.mark.parametrize("family", sorted(INNER_STEPS))
def test_a_family_defaults_to_its_measured_call_length(family):
    train = resolve(family, DATASET[family]).config.train
    assert train.inner_steps == INNER_STEPS[family] > 1
    assert train.steps % train.inner_steps == 0


@pytest.mark.parametrize(
    ("family", "overrides", "inner"),
    [
        ("transformer", {"train.steps": 40}, 10),  # the 40-step run keeps 10
        ("vae", {"train.steps": 30}, 30),  # the largest divisor of 30 up to 50
        ("gan", {"train.steps": 250}, 50),
        ("vae", {"train.steps": 97}, 1),
        ("vae", {"train.steps": 1000, "train.checkpoint_every": 20}, 20),
        ("naive_bayes", {"train.fit": "gradient", "train.steps": 30}, 1),
    ],
)
def test_a_default_gives_way_to_steps_it_does_not_divide(family, overrides, inner):
    train = resolve(family, DATASET.get(family, "digits_binary"), overrides=overrides).config.train
    assert train.inner_steps == inner
    assert train.steps % inner == 0 and train.checkpoint_every % inner == 0


def test_an_inner_steps_that_is_set_is_kept_and_checked():
    with pytest.raises(UsageError, match="multiple of train.inner_steps=10"):
        resolve("vae", "ring8", overrides={"train.steps": 15, "train.inner_steps": 10})
    with pytest.raises(UsageError, match="multiple of train.inner_steps=50"):
        resolve("vae", "ring8", preset="iwae", overrides={"train.steps": 30})
    spec = resolve("vae", "ring8", overrides={"train.steps": 30, "train.inner_steps": 3})
    assert spec.config.train.inner_steps == 3


@pytest.mark.parametrize("suite", sorted(registry.suites()))
def test_every_shipped_suite_resolves(suite):
    assert load_suite(suite)
