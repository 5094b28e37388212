"""Deterministic and denoising autoencoders (Vincent et al. 2008 for the denoising kind).

The reconstruction loss is binary cross-entropy on binary data and squared
error otherwise, summed over dimensions. To sample, the model keeps running
moments of its codes (non-parameter state carried by the training step, as
BatchNorm statistics are) and decodes z ~ N(code mean, diag(code variance)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from genbench.models.nets import MLP, training_flops


class CodeMoments(nnx.BatchStat):
    """Running moments of the codes: state that is not trained by gradient."""


class Autoencoder(nnx.Module):
    """An MLP autoencoder with optional input corruption while training.

    Args:
      dim: data dimension D.
      latent_dim: code dimension.
      hidden: encoder hidden widths; the decoder uses them reversed.
      activation: hidden nonlinearity.
      loss: ``"bce"`` (binary data, decoder outputs logits) or ``"mse"``.
      noise: ``"none"``, ``"gaussian"`` (additive, std ``noise_level``) or
        ``"mask"`` (each input zeroed with probability ``noise_level``).
      noise_level: corruption strength.
      code_momentum: EMA momentum of the code moments.
      rngs: initialisation PRNGs.
    """

    def __init__(
        self, dim, latent_dim, hidden, activation, loss, noise, noise_level, code_momentum, *, rngs
    ):
        self.loss_kind = loss
        self.input_kind = "binary" if loss == "bce" else "continuous"
        self.noise, self.noise_level, self.code_momentum = noise, noise_level, code_momentum
        self.encoder = MLP((dim, *hidden, latent_dim), activation, rngs=rngs)
        self.decoder = MLP((latent_dim, *reversed(hidden), dim), activation, rngs=rngs)
        self.code_mean = CodeMoments(jnp.zeros(latent_dim))
        self.code_var = CodeMoments(jnp.ones(latent_dim))

    def encode(self, x: jax.Array) -> jax.Array:
        """The code of each example, ``[B, latent_dim]``."""
        return self.encoder(x)

    def _decode_mean(self, z: jax.Array) -> jax.Array:
        out = self.decoder(z)
        return jax.nn.sigmoid(out) if self.loss_kind == "bce" else out

    def corrupt(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """The training-time corruption of the inputs (identity for noise="none")."""
        if self.noise == "gaussian":
            return x + self.noise_level * jax.random.normal(rng, x.shape)
        if self.noise == "mask":
            return x * jax.random.bernoulli(rng, 1 - self.noise_level, x.shape)
        return x

    def reconstruction_loss(self, x: jax.Array, out: jax.Array) -> jax.Array:
        """Per-example loss of decoder output ``out`` (logits or mean), summed over dims."""
        if self.loss_kind == "bce":
            return jnp.sum(optax.sigmoid_binary_cross_entropy(out, x), axis=-1)
        return jnp.sum((out - x) ** 2, axis=-1)

    def loss(self, batch: jax.Array, rng: jax.Array):
        """Mean reconstruction loss of the corrupted batch against the clean one."""
        x = batch.reshape(batch.shape[0], -1)
        z = self.encode(self.corrupt(x, rng))
        loss = jnp.mean(self.reconstruction_loss(x, self.decoder(z)))
        codes = jax.lax.stop_gradient(z)
        m = self.code_momentum
        self.code_mean[...] = m * self.code_mean[...] + (1 - m) * jnp.mean(codes, axis=0)
        self.code_var[...] = m * self.code_var[...] + (1 - m) * jnp.var(codes, axis=0)
        return {"params": loss}, {"recon": loss}

    def reconstruct(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """Decoder mean of the clean input's code (``rng`` unused: the map is deterministic)."""
        del rng
        return self._decode_mean(self.encode(x))

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Decodes z ~ N(code mean, diag(code variance)): ``[n, D]`` decoder means."""
        std = jnp.sqrt(self.code_var[...])
        z = self.code_mean[...] + std * jax.random.normal(rng, (n, std.shape[0]))
        return self._decode_mean(z)

    def flops_per_example(self) -> int:
        """Analytic training FLOPs of one example (dense layers, forward + backward)."""
        return training_flops(self.encoder.macs() + self.decoder.macs())


def build(config, dataset, rngs: nnx.Rngs) -> Autoencoder:
    """The autoencoder of ``config.model`` (an ``AutoencoderConfig``) for ``dataset``."""
    m = config.model
    loss = m.loss if m.loss != "auto" else ("bce" if dataset.kind == "binary" else "mse")
    return Autoencoder(
        dataset.event_size,
        m.latent_dim,
        m.hidden,
        m.activation,
        loss,
        m.noise,
        m.noise_level,
        m.code_momentum,
        rngs=rngs,
    )
