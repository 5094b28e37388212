"""The model half of the contract: every capability of DESIGN §2 as a Protocol.

A model has a capability by having the method (see ``genbench.contract``);
``capabilities(model)`` says which ones, ``has(model, name)`` asks for one, and
the accessors below read the optional ones with their defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

InputKind = Literal["continuous", "binary", "discrete", "categorical", "sequence"]
FitKind = Literal["gradient", "exact", "em"]

DEFAULT_GROUP = "params"


# --- models ---------------------------------------------------------------------------------


@runtime_checkable
class Model(Protocol):
    """What every model has: the view of the data it reads.

    ``input_kind`` is one of ``continuous`` (real vectors; discrete data is
    dequantised for it), ``binary`` ({0, 1}), ``discrete`` (integer levels),
    ``categorical`` (integer symbols) or ``sequence`` (windows of symbols or
    frames). ``genbench.data.view.data_view`` maps a dataset to it.
    """

    input_kind: str


@runtime_checkable
class Trainable(Protocol):
    """Gradient training through the shared step (``train.fit=gradient``)."""

    def loss(self, batch: Any, rng: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """The training objective of one batch.

        Args:
          batch: ``x`` ``[B, ...]``, or ``(x, y)`` for a model that ``uses_labels``.
          rng: the step's key.

        Returns:
          ``(losses, metrics)``: ``losses`` maps each parameter group (see
          ``ParamGroups``; one group ``"params"`` by default) to a scalar that
          the step minimises with respect to that group's parameters only;
          ``metrics`` maps names to scalars (logged, not differentiated).
        """


@runtime_checkable
class ParamGroups(Protocol):
    """Several parameter groups, each with its own loss and optimiser (a GAN's G and D)."""

    def param_groups(self) -> Mapping[str, Any]:
        """Group name -> ``nnx`` filter of that group's parameters (e.g. a path filter)."""


@runtime_checkable
class UpdateSchedule(Protocol):
    """The order of a step's phases (default: every group at once, once per step)."""

    def update_schedule(self) -> Sequence[tuple[str | tuple[str, ...], int]]:
        """``[(group or groups, repeats), ...]`` run in order inside one compiled step;
        each phase sees the parameters the phases before it produced."""


@runtime_checkable
class AnalyticFlops(Protocol):
    """The model's own FLOP count, for MFU."""

    def flops_per_example(self) -> int:
        """FLOPs of one training step per example, forward and backward (≈ 3× the
        forward multiply-adds × 2), counting matrix products only."""


@runtime_checkable
class ExactLikelihood(Protocol):
    """Exact log-likelihood: unlocks ``nll`` (exact), ``bits_per_*`` and ``kl_to_source``."""

    def log_prob(self, x: Any) -> Any:
        """log p(x) in nats, ``[N]``."""


@runtime_checkable
class EvidenceBound(Protocol):
    """The ELBO: unlocks ``elbo``."""

    def elbo(self, x: Any, rng: Any) -> Any:
        """A one-sample ELBO of each example, ``[N]`` nats (≤ log p(x))."""


@runtime_checkable
class PosteriorKL(Protocol):
    """The KL term of a VAE's ELBO: unlocks ``kl_posterior_prior``."""

    def kl_posterior_prior(self, x: Any) -> Any:
        """KL(q(z|x) ‖ p(z)) of each example, ``[N]`` nats."""


@runtime_checkable
class ImportanceBound(Protocol):
    """The IWAE bound: unlocks ``iwae_bound_k{K}``, ``nll_iwae_k{K}`` (and ``nll`` and
    ``kl_to_source`` as bounds where the model has no exact likelihood)."""

    def iwae_bound(self, x: Any, rng: Any, k: int) -> Any:
        """The ``k``-sample importance-weighted bound of each example, ``[N]`` nats."""


@runtime_checkable
class VariationalBound(Protocol):
    """A variational bound on log p(x) that is the model's likelihood (a diffusion model's):
    unlocks ``nll`` and ``kl_to_source`` as upper bounds, tagged ``vlb``."""

    def vlb(self, x: Any, rng: Any) -> Any:
        """An unbiased Monte-Carlo estimate of each example's lower bound on log p(x),
        ``[N]`` nats, drawn independently per example."""


@runtime_checkable
class Sampler(Protocol):
    """Sampling: unlocks the sample-quality metrics (modes, Fréchet distance,
    precision/recall, ``log_prob_source_of_samples``) and ``sample_tokens_per_s``."""

    def sample(self, rng: Any, n: int) -> Any:
        """``n`` samples ``[n, D]`` (``[n, T]`` for sequences) in the model's input view."""


@runtime_checkable
class ClassSampler(Protocol):
    """Sampling of a given class (a class-conditional generator): unlocks the
    augmentation metrics on labelled data (``cas_accuracy``, ``augmented_accuracy``)."""

    def sample_class(self, rng: Any, labels: Any) -> Any:
        """One sample of each requested class: ``labels [n]`` integers in ``0..C-1`` ->
        ``[n, D]`` in the model's input view."""


@runtime_checkable
class Reconstructor(Protocol):
    """Reconstruction: unlocks ``recon_bce`` (binary input) or ``recon_mse``."""

    def reconstruct(self, x: Any, rng: Any) -> Any:
        """The reconstruction (for binary inputs: Bernoulli means) of each example, ``[N, D]``."""


@runtime_checkable
class ClassConditional(Protocol):
    """A class-conditional joint: unlocks ``accuracy`` on labelled data and the joint
    ``kl_to_source`` on a labelled source."""

    def log_joint(self, x: Any) -> Any:
        """log p(x, y = c) for every class, ``[N, C]`` nats."""


@runtime_checkable
class StateDecoder(Protocol):
    """Most likely hidden states: unlocks ``viterbi_accuracy`` on a hidden-state source."""

    def viterbi(self, x: Any) -> Any:
        """The most likely state path of each sequence, ``[N, T]`` integers."""


@runtime_checkable
class ExactFit(Protocol):
    """A closed-form fit (``train.fit=exact``)."""

    def fit_exact(self, x: Any, labels: Any | None) -> None:
        """Sets the parameters from the training features ``x`` (in the model's view) and
        the labels (``None`` for unlabelled data)."""


@runtime_checkable
class EMFit(Protocol):
    """Expectation-maximisation (``train.fit=em``, best of ``train.restarts``).

    ``num_steps`` is the number of time steps of one training sequence as the
    model reads it (the history reports nats per step).
    """

    num_steps: int

    def em_step(self, observations: Any) -> Any:
        """One EM iteration on all training sequences; returns their total log-likelihood
        under the parameters before the update (a scalar)."""


@runtime_checkable
class ResolvesConfig(Protocol):
    """A model that resolves ``0`` / ``auto`` config values from the data."""

    def resolved_config(self) -> Mapping[str, Any]:
        """``{"section.field": value}`` of the values it chose; recorded in the config."""


# name -> Protocol, in the order ``genbench list models`` shows them.
MODEL_CAPABILITIES: dict[str, type] = {
    "loss": Trainable,
    "param_groups": ParamGroups,
    "update_schedule": UpdateSchedule,
    "flops_per_example": AnalyticFlops,
    "log_prob": ExactLikelihood,
    "elbo": EvidenceBound,
    "kl_posterior_prior": PosteriorKL,
    "iwae_bound": ImportanceBound,
    "vlb": VariationalBound,
    "sample": Sampler,
    "sample_class": ClassSampler,
    "reconstruct": Reconstructor,
    "log_joint": ClassConditional,
    "viterbi": StateDecoder,
    "fit_exact": ExactFit,
    "em_step": EMFit,
    "resolved_config": ResolvesConfig,
}

# fit kind -> the capability it needs.
FIT_NEEDS: dict[str, str] = {"gradient": "loss", "exact": "fit_exact", "em": "em_step"}


def capabilities(model: Any) -> frozenset[str]:
    """The names of the capabilities ``model`` (an instance or a class) has.

    Args:
      model: a model instance, or its class (``genbench list models`` reads classes
        without building them).

    Returns:
      A subset of ``MODEL_CAPABILITIES``'s keys.
    """
    found = set()
    for name, protocol in MODEL_CAPABILITIES.items():
        if isinstance(model, type):
            if callable(getattr(model, name, None)):
                found.add(name)
        elif isinstance(model, protocol):
            found.add(name)
    return frozenset(found)


def capability_summary(classes: Sequence[type]) -> str:
    """One line of the capabilities of a model family's classes, for ``genbench list models``.

    Capabilities every class has come first; one that only some classes have is followed
    by those classes' names: ``loss, elbo, sample; log_prob (LinearVAE)``.

    Args:
      classes: the classes a model factory may return.

    Returns:
      The line (empty for no classes).
    """
    found = [capabilities(cls) for cls in classes]
    if not found:
        return ""
    common = [name for name in MODEL_CAPABILITIES if all(name in f for f in found)]
    pairs = list(zip(classes, found, strict=True))
    partial = [
        f"{name} ({', '.join(cls.__name__ for cls, f in pairs if name in f)})"
        for name in MODEL_CAPABILITIES
        if name not in common and any(name in f for f in found)
    ]
    return "; ".join(part for part in (", ".join(common), ", ".join(partial)) if part)


def has(model: Any, capability: str) -> bool:
    """Whether ``model`` has ``capability`` (a key of ``MODEL_CAPABILITIES``)."""
    return isinstance(model, MODEL_CAPABILITIES[capability])


def fit_kinds(model: Any) -> list[str]:
    """The ``train.fit`` values ``model`` supports, in ``FIT_NEEDS`` order."""
    found = capabilities(model)
    return [kind for kind, needs in FIT_NEEDS.items() if needs in found]


def param_groups(model: Any) -> dict[str, Any]:
    """The model's parameter groups (group -> nnx filter); ``{"params": nnx.Param}`` by default."""
    if has(model, "param_groups"):
        return dict(model.param_groups())
    from flax import nnx  # only the default needs it: keep this module light

    return {DEFAULT_GROUP: nnx.Param}


def update_schedule(model: Any) -> list[tuple[str | tuple[str, ...], int]] | None:
    """The model's phases as it declares them, or ``None`` for the default (one phase)."""
    return list(model.update_schedule()) if has(model, "update_schedule") else None


def resolved_config(model: Any) -> dict[str, Any]:
    """The ``{"section.field": value}`` the model resolved from the data (empty if none)."""
    return dict(model.resolved_config()) if has(model, "resolved_config") else {}


def uses_labels(model: Any) -> bool:
    """Whether the shared step feeds the model ``(x, y)`` batches (``uses_labels = True``)."""
    return bool(getattr(model, "uses_labels", False))


def train_window(model: Any) -> int | None:
    """Tokens per training window of a sequence model that trains on windows shorter than
    the data's sequences (``train_window``); ``None`` when it reads whole sequences."""
    return getattr(model, "train_window", None)


def pack_size(model: Any) -> int:
    """Examples per input of the model's judge: PacGAN's ``pack`` (consecutive rows of a
    batch make one packed input); 1 for a model that does not pack."""
    return int(getattr(model, "pack", 1))


def tokens_per_example(model: Any) -> int | None:
    """Tokens one training example contributes (a transformer's block of positions), for
    ``train_tokens_per_s``; ``None`` when the model does not say."""
    return getattr(model, "tokens_per_example", None)


def analytic_flops_per_token(model: Any) -> int | None:
    """The model's own FLOPs per token (``analytic_flops_per_token()``), or ``None``."""
    method = getattr(model, "analytic_flops_per_token", None)
    return int(method()) if method is not None else None


def flops_per_example(model: Any) -> int | None:
    """``flops_per_example()`` where the model has it, else ``None``."""
    return int(model.flops_per_example()) if has(model, "flops_per_example") else None


__all__ = [
    "InputKind",
    "FitKind",
    "DEFAULT_GROUP",
    "Model",
    "Trainable",
    "ParamGroups",
    "UpdateSchedule",
    "AnalyticFlops",
    "ExactLikelihood",
    "EvidenceBound",
    "PosteriorKL",
    "ImportanceBound",
    "VariationalBound",
    "Sampler",
    "ClassSampler",
    "Reconstructor",
    "ClassConditional",
    "StateDecoder",
    "ExactFit",
    "EMFit",
    "ResolvesConfig",
    "MODEL_CAPABILITIES",
    "FIT_NEEDS",
    "capabilities",
    "capability_summary",
    "has",
    "fit_kinds",
    "param_groups",
    "update_schedule",
    "resolved_config",
    "uses_labels",
    "train_window",
    "pack_size",
    "tokens_per_example",
    "analytic_flops_per_token",
    "flops_per_example",
]
