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
    # training objective over train_samples = k posterior samples per example: "elbo", the
    # mean of k one-sample ELBOs (Burda et al.'s VAE k), or "iwae", log (1/k) sum_k w_k
    objective: Literal["elbo", "iwae"] = "elbo"
    train_samples: int = 1  # k: posterior samples per example while training
    # the ELBO's KL(q || p) term: "analytic" (closed form, Kingma and Welling's estimator B),
    # or "sampled", log q(z|x) - log p(z) at the k samples: the authors' IWAE code, with
    # which the VAE and IWAE objectives at k = 1 are one objective. objective=iwae samples it
    kl: Literal["analytic", "sampled"] = "analytic"
    # a conditional VAE: the one-hot label is an input of the encoder and the decoder
    # (labelled data only); it can sample a given class (cas_accuracy, augmented_accuracy)
    conditional: bool = False

    def validate(self) -> None:
        if self.latent_dim < 1 or any(h < 1 for h in self.hidden):
            raise UsageError("model.latent_dim and model.hidden widths must be >= 1")
        if self.train_samples < 1:
            raise UsageError(f"model.train_samples={self.train_samples} must be >= 1")
        if self.linear and self.decoder == "bernoulli":
            raise UsageError("model.linear=true needs model.decoder=gaussian (or auto)")
        if self.linear and self.conditional:
            raise UsageError("model.linear=true has no conditional form: drop model.conditional")
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


@dataclass(frozen=True)
class GANConfig:
    """Generator / discriminator pair trained by the shared step's update schedule."""

    loss: Literal["non_saturating", "minimax", "wgan_gp"] = "non_saturating"  # the game
    pack: int = 1  # PacGAN: the discriminator sees this many samples concatenated (1..4)
    n_critic: int = 1  # discriminator phases per generator phase
    gp_weight: float = 10.0  # lambda of the WGAN-GP gradient penalty
    noise_dim: int = 2  # dimension of the generator's N(0, I) noise
    architecture: Literal["auto", "mlp", "conv"] = "auto"  # auto: conv for images, mlp otherwise
    generator_hidden: tuple[int, ...] = (400, 400, 400, 400)  # MLP generator widths (ReLU)
    generator_batchnorm: bool = True  # BatchNorm after each generator hidden layer
    # the generator's BatchNorm statistics in training: over the whole batch, or over each
    # pack slot's draws (PacGAN's code runs G once per slot; MLP generator)
    batchnorm_statistics: Literal["batch", "slot"] = "batch"
    # added to the variance before its square root: Flax's default; PacGAN's code has
    # Blocks' 1e-4, which damps first-layer units whose variance is still near it (N(0,
    # 0.02) weights on 2-D noise give variances of about 8e-4 at initialisation)
    batchnorm_epsilon: float = 1e-5
    discriminator_hidden: tuple[int, ...] = (200, 200, 200)  # MLP discriminator widths
    maxout: int = 5  # pieces per maxout unit of the MLP discriminator (1: ReLU)
    channels: int = 32  # base channel count of the convolutional networks
    # weights of every linear and convolutional layer ~ N(0, init_std), biases 0 (PacGAN's
    # code: 0.02); 0 keeps Flax's initialisers (LeCun normal weights, zero biases)
    init_std: float = 0.0
    # alternating: the update schedule's D phases, then G against the updated D;
    # simultaneous: both players' gradients at the same point, applied together (ALI's
    # and PacGAN's code), which needs n_critic = 1
    updates: Literal["alternating", "simultaneous"] = "alternating"
    # a conditional GAN (Mirza and Osindero 2014): the one-hot label is appended to the
    # generator's noise and to each (packed) sample the discriminator judges (labelled
    # data only); it can sample a given class (cas_accuracy, augmented_accuracy)
    conditional: bool = False

    def validate(self) -> None:
        if not 1 <= self.pack <= 4:
            raise UsageError(f"model.pack={self.pack} must lie in 1..4")
        if self.n_critic < 1 or self.noise_dim < 1 or self.maxout < 1 or self.channels < 1:
            raise UsageError("model.n_critic, model.noise_dim, model.maxout, model.channels >= 1")
        if any(h < 1 for h in (*self.generator_hidden, *self.discriminator_hidden)):
            raise UsageError("model.generator_hidden and model.discriminator_hidden widths >= 1")
        if self.gp_weight < 0:
            raise UsageError(f"model.gp_weight={self.gp_weight} must be >= 0")
        if self.init_std < 0:
            raise UsageError(f"model.init_std={self.init_std} must be >= 0 (0: Flax's default)")
        if self.batchnorm_epsilon <= 0:
            raise UsageError(f"model.batchnorm_epsilon={self.batchnorm_epsilon} must be > 0")
        if self.updates == "simultaneous" and self.n_critic != 1:
            raise UsageError(
                f"model.updates=simultaneous takes one step of each player: model.n_critic="
                f"{self.n_critic} must be 1"
            )


@dataclass(frozen=True)
class TransformerConfig:
    """Decoder-only causal transformer (GPT-2 / nanoGPT layout) over symbol sequences."""

    n_layer: int = 2  # transformer blocks
    n_head: int = 2  # attention heads per block (divides n_embd)
    n_embd: int = 32  # residual-stream width C
    block_size: int = 0  # context length B (training windows of B + 1 tokens); 0: min(64, T - 1)
    stride: int = 0  # beyond B tokens of context, windows advance by this much; 0: B // 2
    dropout: float = 0.0  # dropout on embeddings and residual branches while training
    bias: bool = False  # biases in the linear layers and LayerNorms
    tie_weights: bool = True  # output projection = token embedding transposed

    def validate(self) -> None:
        if min(self.n_layer, self.n_head, self.n_embd) < 1:
            raise UsageError("model.n_layer, model.n_head and model.n_embd must be >= 1")
        if self.n_embd % self.n_head:
            raise UsageError(
                f"model.n_embd={self.n_embd} must be a multiple of model.n_head={self.n_head}"
            )
        if self.block_size < 0 or self.stride < 0:
            raise UsageError("model.block_size and model.stride must be >= 1 (or 0: auto)")
        if self.block_size and self.stride > self.block_size:
            raise UsageError(
                f"model.stride={self.stride} must be <= model.block_size={self.block_size}"
            )
        if not 0 <= self.dropout < 1:
            raise UsageError(f"model.dropout={self.dropout} must lie in [0, 1)")
