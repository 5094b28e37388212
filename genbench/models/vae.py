"""Variational autoencoders (Kingma and Welling 2014; IWAE bounds of Burda et al. 2015).

q(z | x) = N(mu(x), diag sigma(x)^2), p(z) = N(0, I), and p(x | z) Bernoulli
(logits from the decoder) or Gaussian (mean from the decoder, a learned
per-dimension standard deviation). ``LinearVAE`` has linear maps on both
sides, so its marginal p(x) = N(b, W W^T + diag(s^2)) is closed-form and it
exposes the exact ``log_prob`` as well.

Training maximises a bound over k posterior samples per example (Burda et al.
section 5.1): ``objective="elbo"``, the mean of k one-sample ELBOs (the VAE
with k samples), or ``objective="iwae"``, the k-sample importance-weighted bound
log (1/k) sum_k w_k. The IWAE objective and the evaluation's ``iwae_bound`` share
``log_weights``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.inference.gaussian import (
    diag_normal_log_prob,
    kl_diag_normal_standard,
    mvn_log_prob,
    standard_normal_log_prob,
)
from genbench.inference.importance import chunked_iwae_bound, iwae_bound_from_log_weights
from genbench.models.likelihoods import bernoulli_log_prob, bounded_log_std, gaussian_log_prob
from genbench.models.nets import MLP, training_flops


@dataclass(frozen=True)
class TrainingObjective:
    """What ``VAE.loss`` maximises: ``objective`` over ``train_samples`` samples (``VAEConfig``)."""

    objective: str = "elbo"  # "elbo" (the mean of k one-sample ELBOs) or "iwae"
    train_samples: int = 1  # k
    kl: str = "analytic"  # the ELBO's KL term: "analytic" or "sampled"


DEFAULT_OBJECTIVE = TrainingObjective()


class VAE(nnx.Module):
    """A VAE with MLP encoder and decoder.

    Args:
      dim: data dimension D (examples are flattened).
      latent_dim: dimension of z.
      hidden: encoder hidden widths; the decoder uses them reversed.
      activation: hidden nonlinearity.
      decoder: ``"bernoulli"`` or ``"gaussian"``.
      min_decoder_std: floor of the Gaussian decoder's standard deviation.
      rngs: initialisation PRNGs.
      objective: the training objective (default: the one-sample ELBO).
    """

    def __init__(
        self,
        dim,
        latent_dim,
        hidden,
        activation,
        decoder,
        min_decoder_std,
        *,
        rngs,
        objective=DEFAULT_OBJECTIVE,
    ):
        self.dim, self.latent_dim = dim, latent_dim
        self.objective = objective
        self.decoder_kind = decoder
        self.input_kind = "binary" if decoder == "bernoulli" else "continuous"
        self.min_decoder_std = min_decoder_std
        self.encoder = MLP((dim, *hidden, 2 * latent_dim), activation, rngs=rngs)
        self.decoder = MLP((latent_dim, *reversed(hidden), dim), activation, rngs=rngs)
        if decoder == "gaussian":
            self.decoder_std_raw = nnx.Param(jnp.zeros(dim))

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Posterior mean and log standard deviation, each ``[..., latent_dim]``."""
        mean, log_std = jnp.split(self.encoder(x), 2, axis=-1)
        return mean, log_std

    def log_likelihood(self, x: jax.Array, z: jax.Array) -> jax.Array:
        """log p(x | z), ``[...]`` over the broadcast batch dimensions of x and z."""
        out = self.decoder(z)
        if self.decoder_kind == "bernoulli":
            return bernoulli_log_prob(out, x)
        return gaussian_log_prob(
            out, bounded_log_std(self.decoder_std_raw, self.min_decoder_std), x
        )

    def _posterior_sample(self, x, rng, k):
        mean, log_std = self.encode(x)
        z = mean + jnp.exp(log_std) * jax.random.normal(rng, (k, *mean.shape))
        return z, mean, log_std

    def log_weights(self, x: jax.Array, rng: jax.Array, k: int) -> jax.Array:
        """log p(x, z_k) - log q(z_k | x) for k posterior samples, ``[k, B]``."""
        z, mean, log_std = self._posterior_sample(x, rng, k)
        log_q = diag_normal_log_prob(z, mean, log_std)
        return self.log_likelihood(x, z) + standard_normal_log_prob(z) - log_q

    def kl_posterior_prior(self, x: jax.Array) -> jax.Array:
        """KL(q(z | x) || p(z)) in closed form, ``[B]``."""
        return kl_diag_normal_standard(*self.encode(x))

    def elbo(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """One-sample ELBO with the analytic KL term, ``[B]`` nats."""
        z, mean, log_std = self._posterior_sample(x, rng, 1)
        return self.log_likelihood(x, z[0]) - kl_diag_normal_standard(mean, log_std)

    def elbo_samples(self, x: jax.Array, rng: jax.Array, k: int, kl: str) -> jax.Array:
        """k one-sample ELBOs, one per posterior sample of one draw, ``[k, B]`` nats.

        Args:
          x: flattened examples ``[B, D]``.
          rng: the key of the draw (the k samples come from one normal draw, as in
            ``log_weights``).
          k: posterior samples per example.
          kl: ``"analytic"``, log p(x | z_k) - KL(q || p) in closed form; or
            ``"sampled"``, the log-weights log p(x, z_k) - log q(z_k | x).
        """
        if kl == "sampled":
            return self.log_weights(x, rng, k)
        z, mean, log_std = self._posterior_sample(x, rng, k)
        return self.log_likelihood(x, z) - kl_diag_normal_standard(mean, log_std)

    def training_bound(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """The lower bound on log p(x) that training maximises, ``[B]`` nats.

        ``elbo``: the mean of ``train_samples`` one-sample ELBOs (the default, one
        sample with the analytic KL, is ``elbo(x, rng)`` itself); ``iwae``: the
        importance-weighted bound of ``train_samples`` log-weights.
        """
        o = self.objective
        if o.objective == "iwae":
            return iwae_bound_from_log_weights(self.log_weights(x, rng, o.train_samples))
        if o.train_samples == 1 and o.kl == "analytic":
            return self.elbo(x, rng)  # the one-sample ELBO, computed as it always was
        return jnp.mean(self.elbo_samples(x, rng, o.train_samples, o.kl), axis=0)

    def iwae_bound(self, x: jax.Array, rng: jax.Array, k: int, chunk: int = 100) -> jax.Array:
        """Importance-weighted bound L_k(x) <= log p(x), ``[B]``."""
        return chunked_iwae_bound(lambda key, n: self.log_weights(x, key, n), rng, k, chunk)

    def loss(self, batch: jax.Array, rng: jax.Array):
        """The negative training bound averaged over the batch (``training_bound``).

        The logged value keeps the name ``elbo`` for every objective (it is the ELBO
        at the default objective; the IWAE bound otherwise), so histories compare.
        """
        x = batch.reshape(batch.shape[0], -1)
        bound = self.training_bound(x, rng)
        return {"params": -jnp.mean(bound)}, {"elbo": jnp.mean(bound)}

    def _decode_mean(self, z: jax.Array) -> jax.Array:
        out = self.decoder(z)
        return jax.nn.sigmoid(out) if self.decoder_kind == "bernoulli" else out

    def reconstruct(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """Decoder mean at a posterior sample of z."""
        z, _, _ = self._posterior_sample(x, rng, 1)
        return self._decode_mean(z[0])

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws x ~ p(x | z), z ~ N(0, I): ``[n, D]``."""
        k_z, k_x = jax.random.split(rng)
        out = self.decoder(jax.random.normal(k_z, (n, self.latent_dim)))
        if self.decoder_kind == "bernoulli":
            return jax.random.bernoulli(k_x, jax.nn.sigmoid(out)).astype(jnp.float32)
        std = jnp.exp(bounded_log_std(self.decoder_std_raw, self.min_decoder_std))
        return out + std * jax.random.normal(k_x, out.shape)

    def flops_per_example(self) -> int:
        """Analytic training FLOPs of one example (dense layers, forward + backward)."""
        return training_flops(self.encoder.macs() + self.decoder.macs())


class LinearVAE(VAE):
    """A VAE with linear Gaussian encoder and decoder: p(x) is N(b, W W^T + diag(s^2)).

    The true posterior of this model has a covariance that does not depend on
    x, so the encoder's log standard deviation is a free vector.
    """

    def __init__(self, dim, latent_dim, min_decoder_std, *, rngs, objective=DEFAULT_OBJECTIVE):
        self.dim, self.latent_dim = dim, latent_dim
        self.objective = objective
        self.decoder_kind, self.input_kind = "gaussian", "continuous"
        self.min_decoder_std = min_decoder_std
        self.encoder = MLP((dim, latent_dim), "relu", rngs=rngs)
        self.encoder_log_std = nnx.Param(jnp.zeros(latent_dim))
        self.decoder = MLP((latent_dim, dim), "relu", rngs=rngs)
        self.decoder_std_raw = nnx.Param(jnp.zeros(dim))

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = self.encoder(x)
        return mean, jnp.broadcast_to(self.encoder_log_std[...], mean.shape)

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x) = log N(x; b, W W^T + diag(s^2)), ``[B]``."""
        layer = self.decoder.layers[0]
        weight, bias = layer.kernel[...].T, layer.bias[...]
        std = jnp.exp(bounded_log_std(self.decoder_std_raw[...], self.min_decoder_std))
        covariance = weight @ weight.T + jnp.diag(std**2)
        return mvn_log_prob(x.reshape(x.shape[0], -1), bias, covariance)


def build(config, dataset, rngs: nnx.Rngs) -> VAE:
    """The VAE of ``config.model`` (a ``VAEConfig``) for ``dataset``."""
    m = config.model
    decoder = m.decoder
    if decoder == "auto":
        decoder = "bernoulli" if dataset.kind == "binary" and not m.linear else "gaussian"
    objective = TrainingObjective(m.objective, m.train_samples, m.kl)
    if m.linear:
        return LinearVAE(
            dataset.event_size, m.latent_dim, m.min_decoder_std, rngs=rngs, objective=objective
        )
    return VAE(
        dataset.event_size,
        m.latent_dim,
        m.hidden,
        m.activation,
        decoder,
        m.min_decoder_std,
        rngs=rngs,
        objective=objective,
    )
