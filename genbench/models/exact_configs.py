"""Config dataclasses of the exact-likelihood families: normalizing flows (RealNVP, MAF)
and autoregressive models (MADE, PixelCNN). No jax import, so the CLI can check them."""

from __future__ import annotations

from dataclasses import dataclass

from genbench.errors import UsageError
from genbench.models.configs import Activation


def _check_widths(*widths: int) -> None:
    if any(w < 1 for w in widths):
        raise UsageError("model.layers and the widths of model.hidden must be >= 1")


@dataclass(frozen=True)
class FlowConfig:
    """The fields, defaults and checks RealNVP and MAF share."""

    layers: int = 8  # flow layers; the variable order (or the half transformed) alternates
    hidden: tuple[int, ...] = (64, 64)  # widths of each layer's network (coupling net, MADE)
    activation: Activation = "relu"  # hidden nonlinearity of the layers' networks
    max_log_scale: float = 3.0  # soft bound |log scale| < this per layer (tanh), for stability
    base_components: int = 32  # base: a learned mixture of this many Gaussians; 0: N(0, I)
    # a learned lower-triangular affine layer at the data end (whitens correlations)
    affine_layer: bool = True
    # L2 penalty on the weights of the layers' networks, added to the mean nll (a Gaussian
    # prior): without it a flow memorises a fixed training set (linear_gaussian's 10,000
    # points: training nll 2.6 nats below the source's entropy, kl_to_source 3.6 nats)
    weight_penalty: float = 0.01
    # L2 penalty on the mixture base's means and log standard deviations, on a fixed
    # training set only (pulls every component to N(0, I), where the mixture's weights
    # cannot overfit; linear_gaussian's kl_to_source 0.095 -> 0.007 nats for RealNVP)
    base_penalty: float = 0.01
    # a class-conditional flow: the one-hot label into every layer's network, and one set
    # of base component weights per class
    conditional: bool = False

    def validate(self) -> None:
        _check_widths(self.layers, *self.hidden)
        if self.max_log_scale <= 0:
            raise UsageError(f"model.max_log_scale={self.max_log_scale} must be > 0")
        if self.base_components < 0:
            raise UsageError(f"model.base_components={self.base_components} must be >= 0")
        if self.weight_penalty < 0:
            raise UsageError(f"model.weight_penalty={self.weight_penalty} must be >= 0")


@dataclass(frozen=True)
class RealNVPConfig(FlowConfig):
    """RealNVP (Dinh et al. 2017): affine coupling layers on alternating halves."""


@dataclass(frozen=True)
class MAFConfig(FlowConfig):
    """MAF (Papamakarios et al. 2017): affine autoregressive layers, each a MADE; the
    variable order reverses between them. RealNVP's 8 layers of (64, 64) suit it too: ring8's
    kl_to_source 0.0075 nats in 72 s of training, where 5 of (128, 128) reached 0.10 in 132 s."""


@dataclass(frozen=True)
class MADEConfig:
    """MADE (Germain et al. 2015): one masked MLP, Bernoulli or categorical conditionals."""

    hidden: tuple[int, ...] = (500,)  # hidden widths (the paper's MNIST MADE: one layer of 500)
    activation: Activation = "relu"  # hidden nonlinearity

    def validate(self) -> None:
        _check_widths(*self.hidden)


@dataclass(frozen=True)
class PixelCNNConfig:
    """Gated PixelCNN (van den Oord et al. 2016) without blind spot: vertical and
    horizontal stacks, Bernoulli or categorical output per pixel."""

    channels: int = 16  # feature maps of each stack
    layers: int = 3  # gated layers after the first one
    # kernel width (odd) of the stacks' convolutions: 5 lets the vertical stack's 4 layers
    # see all 8 rows above a pixel of an 8x8 digit (3 saw 4 rows: test nll 18.45 on
    # digits_binary after 2,000 steps at 1e-3; 5: 16.9 after 1,000; MADE: 17.44)
    kernel: int = 5

    def validate(self) -> None:
        _check_widths(self.channels, self.layers)
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise UsageError(f"model.kernel={self.kernel} must be an odd number >= 1")
