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

from genbench.errors import UsageError
from genbench.inference.gaussian import (
    diag_normal_log_prob,
    kl_diag_normal_standard,
    mvn_log_prob,
    standard_normal_log_prob,
)
from genbench.inference.importance import chunked_iwae_bound, iwae_bound_from_log_weights
from genbench.models.conditional import draw_labels, training_class_log_prior, with_label
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

    def encode(self, x: jax.Array, one_hot: jax.Array | None = None):
        """Posterior mean and log standard deviation, each ``[..., latent_dim]`` (given the
        one-hot labels ``[B, C]`` of a conditional model)."""
        mean, log_std = jnp.split(self.encoder(with_label(x, one_hot)), 2, axis=-1)
        return mean, log_std

    def log_likelihood(self, x: jax.Array, z: jax.Array, one_hot=None) -> jax.Array:
        """log p(x | z), ``[...]`` over the broadcast batch dimensions of x and z."""
        out = self.decoder(with_label(z, one_hot))
        if self.decoder_kind == "bernoulli":
            return bernoulli_log_prob(out, x)
        return gaussian_log_prob(
            out, bounded_log_std(self.decoder_std_raw, self.min_decoder_std), x
        )

    def _posterior_sample(self, x, rng, k, one_hot=None):
        mean, log_std = self.encode(x, one_hot)
        z = mean + jnp.exp(log_std) * jax.random.normal(rng, (k, *mean.shape))
        return z, mean, log_std

    def log_weights(self, x: jax.Array, rng: jax.Array, k: int, one_hot=None) -> jax.Array:
        """log p(x, z_k) - log q(z_k | x) for k posterior samples, ``[k, B]``."""
        z, mean, log_std = self._posterior_sample(x, rng, k, one_hot)
        log_q = diag_normal_log_prob(z, mean, log_std)
        return self.log_likelihood(x, z, one_hot) + standard_normal_log_prob(z) - log_q

    def kl_posterior_prior(self, x: jax.Array) -> jax.Array:
        """KL(q(z | x) || p(z)) in closed form, ``[B]``."""
        return kl_diag_normal_standard(*self.encode(x))

    def elbo(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """One-sample ELBO with the analytic KL term, ``[B]`` nats."""
        return self._elbo(x, rng, None)

    def _elbo(self, x, rng, one_hot):
        z, mean, log_std = self._posterior_sample(x, rng, 1, one_hot)
        return self.log_likelihood(x, z[0], one_hot) - kl_diag_normal_standard(mean, log_std)

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
        return self._iwae_bound(x, rng, k, chunk, None)

    def _iwae_bound(self, x, rng, k, chunk, one_hot):
        def log_weights(key, n):
            return self.log_weights(x, key, n, one_hot)

        return chunked_iwae_bound(log_weights, rng, k, chunk)

    def loss(self, batch: jax.Array, rng: jax.Array):
        """The negative training bound averaged over the batch (``training_bound``).

        The logged value keeps the name ``elbo`` for every objective (it is the ELBO
        at the default objective; the IWAE bound otherwise), so histories compare.
        """
        x = batch.reshape(batch.shape[0], -1)
        bound = self.training_bound(x, rng)
        return {"params": -jnp.mean(bound)}, {"elbo": jnp.mean(bound)}

    def _decode_mean(self, z: jax.Array, one_hot=None) -> jax.Array:
        out = self.decoder(with_label(z, one_hot))
        return jax.nn.sigmoid(out) if self.decoder_kind == "bernoulli" else out

    def reconstruct(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """Decoder mean at a posterior sample of z."""
        return self._reconstruct(x, rng, None)

    def _reconstruct(self, x, rng, one_hot):
        z, _, _ = self._posterior_sample(x, rng, 1, one_hot)
        return self._decode_mean(z[0], one_hot)

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws x ~ p(x | z), z ~ N(0, I): ``[n, D]``."""
        return self._sample(rng, n, None)

    def _sample(self, rng, n, one_hot):
        k_z, k_x = jax.random.split(rng)
        out = self.decoder(with_label(jax.random.normal(k_z, (n, self.latent_dim)), one_hot))
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

    def encode(self, x: jax.Array, one_hot=None) -> tuple[jax.Array, jax.Array]:
        del one_hot  # never conditional (``build`` refuses model.linear with conditional)
        mean = self.encoder(x)
        return mean, jnp.broadcast_to(self.encoder_log_std[...], mean.shape)

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x) = log N(x; b, W W^T + diag(s^2)), ``[B]``."""
        layer = self.decoder.layers[0]
        weight, bias = layer.kernel[...].T, layer.bias[...]
        std = jnp.exp(bounded_log_std(self.decoder_std_raw[...], self.min_decoder_std))
        covariance = weight @ weight.T + jnp.diag(std**2)
        return mvn_log_prob(x.reshape(x.shape[0], -1), bias, covariance)


class ConditionalVAE(VAE):
    """A conditional VAE (Sohn et al. 2015): q(z | x, y) and p(x | z, y), the one-hot label
    appended to the encoder's and the decoder's input; p(z | y) = N(0, I).

    It trains on ``(x, y)`` batches (``uses_labels``) and samples a given class
    (``sample_class``). The likelihood metrics see ``x`` alone, so its bounds on log p(x)
    sum the class out exactly under the training labels' prior p(y):
    log p(x) >= log sum_y p(y) exp(L_K(x | y)), with L_K the K-sample importance bound of
    log p(x | y) (``exp L_K`` is an unbiased estimate of p(x | y), so the bound holds in
    expectation by Jensen's inequality); ``elbo`` is its K = 1 case. There is no single
    KL(q(z | x) || p(z)) without the label, so it has no ``kl_posterior_prior``.

    Args:
      class_log_prior: log p(y) of each of the C classes (a tuple).
      others: as for ``VAE``; the networks take the C label inputs besides.
    """

    uses_labels = True
    kl_posterior_prior = None  # needs the label (see the class docstring)

    def __init__(self, dim, latent_dim, hidden, activation, decoder, min_decoder_std,
                 class_log_prior, *, rngs):  # fmt: skip
        self.dim, self.latent_dim = dim, latent_dim
        self.decoder_kind = decoder
        self.input_kind = "binary" if decoder == "bernoulli" else "continuous"
        self.min_decoder_std = min_decoder_std
        self.class_log_prior = tuple(class_log_prior)
        self.num_classes = classes = len(self.class_log_prior)
        self.encoder = MLP((dim + classes, *hidden, 2 * latent_dim), activation, rngs=rngs)
        self.decoder = MLP((latent_dim + classes, *reversed(hidden), dim), activation, rngs=rngs)
        if decoder == "gaussian":
            self.decoder_std_raw = nnx.Param(jnp.zeros(dim))

    def _one_hot(self, labels: jax.Array) -> jax.Array:
        return jax.nn.one_hot(labels, self.num_classes)

    def loss(self, batch, rng: jax.Array):
        """Negative conditional ELBO of a labelled batch ``(x, y)``, averaged."""
        x, y = batch
        elbo = self._elbo(x.reshape(x.shape[0], -1), rng, self._one_hot(y))
        return {"params": -jnp.mean(elbo)}, {"elbo": jnp.mean(elbo)}

    def _bound_per_class(self, x, rng, k) -> jax.Array:
        """L_K(x | y) for every class y, ``[C, B]``."""

        def one_class(label, key):
            one_hot = self._one_hot(jnp.full(x.shape[0], label))
            return self._iwae_bound(x, key, k, 100, one_hot)

        keys = jax.random.split(rng, self.num_classes)
        return jax.vmap(one_class)(jnp.arange(self.num_classes), keys)

    def _class_marginal(self, per_class: jax.Array) -> jax.Array:
        log_prior = jnp.asarray(self.class_log_prior)[:, None]
        return jax.nn.logsumexp(log_prior + per_class, axis=0)

    def elbo(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """log sum_y p(y) w(x, y, z_y), z_y ~ q(z | x, y): a one-sample bound on log p(x)."""
        return self._class_marginal(self._bound_per_class(x, rng, 1))

    def iwae_bound(self, x: jax.Array, rng: jax.Array, k: int, chunk: int = 100) -> jax.Array:
        """log sum_y p(y) exp L_k(x | y) <= log p(x) in expectation, ``[B]``."""
        del chunk  # each class's bound is chunked by 100 samples
        return self._class_marginal(self._bound_per_class(x, rng, k))

    def reconstruct(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """Decoder mean at a posterior sample of z, given the class the one-sample bound
        finds most probable."""
        k_class, k_z = jax.random.split(rng)
        per_class = self._bound_per_class(x, k_class, 1)
        labels = jnp.argmax(jnp.asarray(self.class_log_prior)[:, None] + per_class, axis=0)
        return self._reconstruct(x, k_z, self._one_hot(labels))

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws y ~ p(y), z ~ N(0, I), x ~ p(x | z, y): ``[n, D]``."""
        k_y, k_x = jax.random.split(rng)
        return self.sample_class(k_x, draw_labels(k_y, self.class_log_prior, n))

    def sample_class(self, rng: jax.Array, labels: jax.Array) -> jax.Array:
        """Draws x ~ p(x | z, y), z ~ N(0, I), for each class of ``labels [n]``: ``[n, D]``."""
        return self._sample(rng, labels.shape[0], self._one_hot(labels))


def build(config, dataset, rngs: nnx.Rngs) -> VAE:
    """The VAE of ``config.model`` (a ``VAEConfig``) for ``dataset``."""
    m = config.model
    decoder = m.decoder
    if decoder == "auto":
        decoder = "bernoulli" if dataset.kind == "binary" and not m.linear else "gaussian"
    objective = TrainingObjective(m.objective, m.train_samples, m.kl)
    if m.conditional:
        if objective != DEFAULT_OBJECTIVE:
            raise UsageError(
                "model.conditional=true trains the one-sample conditional ELBO: model.objective, "
                "model.train_samples and model.kl keep their defaults"
            )
        prior = training_class_log_prior(dataset, "vae")
        return ConditionalVAE(
            dataset.event_size,
            m.latent_dim,
            m.hidden,
            m.activation,
            decoder,
            m.min_decoder_std,
            prior,
            rngs=rngs,
        )
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
