"""The dataset half of the contract: what a dataset can do beyond train/test splits.

Every dataset is a ``genbench.data.base.Dataset`` (splits, ``kind``, ``event_shape``,
optional labels). The Protocols here are the capabilities a dataset may add, and
``dataset_capabilities(dataset)`` says which ones it has; the accessors read the flags
a dataset may set (``fresh``, ``char_level``, ...) with their defaults.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Source(Protocol):
    """A dataset whose distribution is known: unlocks ``kl_to_source``, ``entropy_source``
    and ``log_prob_source_of_samples``.

    ``sample`` and ``log_prob`` are jax functions that run inside compiled code.
    ``is_source`` is ``True``.
    """

    is_source: bool

    def sample(self, rng: Any, n: int) -> Any:
        """``n`` examples ``[n, *event_shape]``."""

    def log_prob(self, x: Any) -> Any:
        """Exact log-density of each example, ``[n]`` nats."""

    def entropy(self, rng: Any) -> Any:
        """The entropy (an ``Estimate``: value and standard error)."""


@runtime_checkable
class LabelledSource(Protocol):
    """A source of labelled examples: with a ``ClassConditional`` model, ``kl_to_source``
    is measured over the joint p(x, y)."""

    def sample_labelled(self, rng: Any, n: int) -> tuple[Any, Any]:
        """``(x [n, ...], y [n])``."""

    def log_joint_prob(self, x: Any, y: Any) -> Any:
        """log p(x, y) of each example, ``[n]``."""


@runtime_checkable
class SequenceSource(Protocol):
    """A source of sequences: unlocks ``kl_rate_to_source``, and ``viterbi_accuracy`` unless
    its ``hidden_states`` attribute is false (a Markov source's "states" are its observed
    contexts)."""

    def sample_with_states(self, rng: Any, n: int, num_steps: int) -> tuple[Any, Any]:
        """``(states [n, T], x [n, T])``."""


@runtime_checkable
class ModeMixture(Protocol):
    """An isotropic Gaussian mixture with equal weights: unlocks the 2-D mode metrics
    (``modes_captured``, ``high_quality_frac``, ``reverse_kl_modes``)."""

    mode_means: Any  # [modes, D] component means
    mode_std: float  # per-coordinate standard deviation of every component


@runtime_checkable
class SmilesDecoder(Protocol):
    """Token rows that decode to SMILES strings: unlocks ``validity``, ``uniqueness`` and
    ``novelty`` of sampled molecules (with RDKit installed)."""

    def decode_smiles(self, rows: Any) -> list[str | None]:
        """The SMILES string of each row of tokens (``None`` for a row without an end)."""


# name -> Protocol of dataset capabilities (attribute flags are read by the accessors below).
DATASET_CAPABILITIES: dict[str, type] = {
    "source": Source,
    "labelled_source": LabelledSource,
    "sequence_source": SequenceSource,
    "mode_mixture": ModeMixture,
    "smiles": SmilesDecoder,
}


def _declared(dataset: Any, name: str) -> bool:
    """Whether a dataset that has a capability's members also declares it: ``Dataset`` has
    ``is_source`` (false) and ``mode_means`` (``None``) for every dataset."""
    if name == "source":
        return bool(dataset.is_source)
    if name == "mode_mixture":
        return dataset.mode_means is not None
    return True


def dataset_capabilities(dataset: Any) -> frozenset[str]:
    """The names of the capabilities ``dataset`` has (``DATASET_CAPABILITIES`` keys, plus
    ``labelled``, ``fresh``, ``char_level`` and ``dynamic_binarization`` where those
    flags are true)."""
    found = {
        name
        for name, protocol in DATASET_CAPABILITIES.items()
        if isinstance(dataset, protocol) and _declared(dataset, name)
    }
    flags = ("labelled", "fresh", "char_level", "dynamic_binarization")
    found |= {flag for flag in flags if getattr(dataset, flag, False)}
    return frozenset(found)


def is_source(dataset: Any) -> bool:
    """Whether the dataset's density is known (``Source``)."""
    return "source" in dataset_capabilities(dataset)


def is_labelled(dataset: Any) -> bool:
    """Whether the dataset has class labels (``train_labels``, ``test_labels``, ``num_classes``)."""
    return bool(getattr(dataset, "labelled", False))


def draws_fresh(dataset: Any) -> bool:
    """Whether training draws fresh samples from the source inside the step (``fresh``)."""
    return bool(getattr(dataset, "fresh", False))


def has_hidden_states(dataset: Any) -> bool:
    """Whether a sequence source's ``sample_with_states`` returns hidden (not observed) states."""
    return isinstance(dataset, SequenceSource) and bool(getattr(dataset, "hidden_states", True))


def is_char_level(dataset: Any) -> bool:
    """Whether each token is one character (adds ``bits_per_char``)."""
    return bool(getattr(dataset, "char_level", False))


def binarizes_dynamically(dataset: Any) -> bool:
    """Whether a binary dataset holds pixel probabilities p that every presentation
    binarizes afresh, x ~ Bernoulli(p) (``dynamic_binarization``, MNIST as in IWAE)."""
    return bool(getattr(dataset, "dynamic_binarization", False))


def image_shape(dataset: Any) -> tuple[int, int] | None:
    """(rows, columns) of flat image examples, or ``None`` for data that is not an image."""
    return getattr(dataset, "image_shape", None)


def known_num_states(dataset: Any) -> int | None:
    """The number of hidden states of an HMM source (``num_states``), or ``None``."""
    return getattr(dataset, "num_states", None)


__all__ = [
    "Source",
    "LabelledSource",
    "SequenceSource",
    "ModeMixture",
    "SmilesDecoder",
    "DATASET_CAPABILITIES",
    "dataset_capabilities",
    "is_source",
    "is_labelled",
    "draws_fresh",
    "has_hidden_states",
    "is_char_level",
    "binarizes_dynamically",
    "image_shape",
    "known_num_states",
]
