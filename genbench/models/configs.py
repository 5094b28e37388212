"""Config dataclasses of the built-in model families (no jax import, so the CLI can check them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genbench.errors import UsageError

Activation = Literal["relu", "tanh", "gelu", "softplus"]


@dataclass(frozen=True)
class VAEConfig:
    """Variational autoencoder with a diagonal Gaussian posterior and a N(0, I) prior."""

    latent_dim: int = 8  # dimension of z
    hidden: tuple[int, ...] = (128, 128)  # encoder hidden widths; the decoder mirrors them
    activation: Activation = "relu"  # hidden-layer nonlinearity
    decoder: Literal["auto", "bernoulli", "gaussian"] = "auto"  # auto: bernoulli on binary data
    linear: bool = False  # linear Gaussian decoder (and encoder): closed-form log p(x)
    min_decoder_std: float = 1e-3  # floor on the Gaussian decoder's standard deviation

    def validate(self) -> None:
        if self.latent_dim < 1 or any(h < 1 for h in self.hidden):
            raise UsageError("model.latent_dim and model.hidden widths must be >= 1")
        if self.linear and self.decoder == "bernoulli":
            raise UsageError("model.linear=true needs model.decoder=gaussian (or auto)")
        if self.min_decoder_std <= 0:
            raise UsageError("model.min_decoder_std must be > 0")


@dataclass(frozen=True)
class AutoencoderConfig:
    """Deterministic or denoising autoencoder."""

    latent_dim: int = 8  # dimension of the code
    hidden: tuple[int, ...] = (128, 128)  # encoder hidden widths; the decoder mirrors them
    activation: Activation = "relu"  # hidden-layer nonlinearity
    loss: Literal["auto", "bce", "mse"] = "auto"  # auto: bce on binary data, mse otherwise
    noise: Literal["none", "gaussian", "mask"] = "none"  # input corruption while training
    noise_level: float = 0.0  # Gaussian noise std, or masking probability
    code_momentum: float = 0.99  # EMA of the code moments that `sample` draws from

    def validate(self) -> None:
        if self.latent_dim < 1 or any(h < 1 for h in self.hidden):
            raise UsageError("model.latent_dim and model.hidden widths must be >= 1")
        if self.noise_level < 0 or (self.noise == "mask" and self.noise_level >= 1):
            raise UsageError("model.noise_level must be >= 0 (and < 1 for noise=mask)")
        if self.noise != "none" and self.noise_level == 0:
            raise UsageError(f"model.noise={self.noise} needs model.noise_level > 0")
        if not 0 <= self.code_momentum < 1:
            raise UsageError("model.code_momentum must lie in [0, 1)")


@dataclass(frozen=True)
class NaiveBayesConfig:
    """Naive Bayes with Bernoulli, categorical (discrete data) or Gaussian features."""

    features: Literal["bernoulli", "categorical", "gaussian"] = "bernoulli"  # p(x_d | y)
    alpha: float = 1.0  # Beta(alpha, alpha) pseudo-count of the closed-form fit (scikit-learn's)

    def validate(self) -> None:
        if self.alpha < 0:
            raise UsageError(f"model.alpha={self.alpha} must be >= 0")


@dataclass(frozen=True)
class HMMConfig:
    """Hidden Markov model with categorical or diagonal-Gaussian emissions."""

    num_states: int = 0  # K; 0: the source's K for HMM sources, else DEFAULT_NUM_STATES
    # auto: categorical for symbol sequences, Gaussian for real-valued ones and images as rows
    emissions: Literal["auto", "categorical", "gaussian"] = "auto"

    def validate(self) -> None:
        if self.num_states < 0:
            raise UsageError(f"model.num_states={self.num_states} must be >= 1 (or 0: auto)")
