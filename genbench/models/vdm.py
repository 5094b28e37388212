"""Variational diffusion model (Kingma, Salimans, Poole and Ho 2021), continuous time.

The model's latent scale: discrete data with L levels (binary: 2, grey digits: 17)
maps level k to its centre (2k + 1) / L - 1 in (-1, 1); continuous data is
standardised per dimension with the training split's mean and standard deviation
(the log-Jacobian is added back, so every number is in the data's own units).

The noise schedule is linear in log-SNR, gamma(t) = gamma(0) + (gamma(1) - gamma(0)) t,
with its two endpoints learned by the bound (VDM's learned linear schedule) or fixed
(``learn_schedule=false``). The paper shows (its section 5.1) that the continuous-time
bound depends on the schedule only through its endpoints; a learned path in between
(VDM's monotone network) would only lower the estimator's variance, so it is not built.
On 8x8 digits, learning the endpoints took the bound from 6.2 bits/dim (fixed at VDM's
-13.3 and 5.0) to 2.5 at the default budget; the learned ones (seed 1) were -6.3 and 6.1,
a decoder noise of 0.044 against a level spacing of 0.118.

The bound (``genbench.inference.diffusion``) is prior KL + reconstruction +
continuous-time diffusion loss, an upper bound on -log p(x): on discrete data the
decoder is discretised to the data's levels, so it bounds the probability of the
discrete data; on continuous data the decoder is Gaussian and it bounds the
differential -log p(x) of the density. Training minimises the same bound (not
L_simple), with low-discrepancy times over the batch; ``vlb`` draws independent
times per example, so the standard error across examples is an honest one.
Sampling is ancestral, ``sample_steps`` steps of p(z_s | z_t) from z_1 ~ N(0, I),
then a draw of the decoder. ``ConditionalVDM`` (``model.conditional``) gives the noise
predictor the one-hot label, samples a given class, and bounds log p(x) with the class
summed out.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genbench.errors import UsageError
from genbench.inference.diffusion import (
    ancestral_step,
    diffuse,
    diffusion_term,
    discretised_log_probs,
    discretised_reconstruction,
    gaussian_reconstruction,
    level_centres,
    linear_gamma,
    log_alpha_sigma,
    low_discrepancy_times,
    prior_kl,
)
from genbench.models.conditional import (
    class_marginal_bound,
    draw_labels,
    training_class_log_prior,
    with_label,
)
from genbench.models.nets import MLP, training_flops

# Largest angular frequency of the time embedding (radians per unit t), as DDPM's 1000 steps.
MAX_TIME_FREQUENCY = 1000.0


class DataStandardisation(nnx.Variable):
    """Per-dimension shift and scale of continuous data, fixed from the training split
    (state, not parameters: the optimiser never touches it)."""


class ScheduleConstant(nnx.Variable):
    """A fixed endpoint of the noise schedule (``learn_schedule=false``): not trained."""


def _inverse_softplus(y: float) -> float:
    """x with softplus(x) = y > 0."""
    return float(np.log(np.expm1(y)))


class VDM(nnx.Module):
    """A variational diffusion model with an MLP noise predictor eps_hat(z_t, t).

    Args:
      dim: data dimension D (examples are flattened).
      levels: L data values per dimension for discrete data, 0 for continuous data.
      input_kind: the model's view of the data: ``"binary"``, ``"discrete"`` or ``"continuous"``.
      hidden: hidden widths of the noise predictor.
      activation: hidden nonlinearity.
      time_features: sinusoidal frequencies of the time embedding.
      gamma_min, gamma_max: -log SNR at t = 0 and t = 1 (initial values if learned).
      learn_schedule: learn the two endpoints by the bound (else they stay fixed).
      sample_steps: ancestral sampling steps.
      bound_samples: (t, eps) draws averaged per example by ``vlb``.
      shift, scale: ``[D]`` standardisation of continuous data (ignored for discrete data).
      rngs: initialisation PRNGs.
      num_classes: C one-hot label inputs of the noise predictor (``ConditionalVDM``); 0: none.
    """

    def __init__(
        self,
        dim,
        levels,
        input_kind,
        hidden,
        activation,
        time_features,
        gamma_min,
        gamma_max,
        learn_schedule,
        sample_steps,
        bound_samples,
        shift,
        scale,
        *,
        rngs,
        num_classes=0,
    ):
        self.dim, self.levels, self.input_kind = dim, levels, input_kind
        # The schedule's endpoints gamma(0) and gamma(1) - gamma(0) > 0, learned (VDM's
        # learned linear schedule) or fixed, as ``learn_schedule`` says.
        endpoint = nnx.Param if learn_schedule else ScheduleConstant
        self.gamma_0 = endpoint(jnp.float32(gamma_min))
        self.gamma_width_raw = endpoint(jnp.float32(_inverse_softplus(gamma_max - gamma_min)))
        self.sample_steps, self.bound_samples = sample_steps, bound_samples
        self.time_features = time_features
        self.net = MLP((dim + 2 * time_features + num_classes, *hidden, dim), activation, rngs=rngs)
        self.shift = DataStandardisation(jnp.asarray(shift, jnp.float32))
        self.scale = DataStandardisation(jnp.asarray(scale, jnp.float32))

    # --- the latent scale ---------------------------------------------------------------

    def _to_latent(self, x: jax.Array) -> jax.Array:
        """Data ``[B, D]`` in the latent scale (level centres, or standardised values)."""
        if self.levels:
            return level_centres(self.levels)[x.astype(jnp.int32)]
        return (x - self.shift[...]) / self.scale[...]

    def _log_scale(self) -> jax.Array:
        """sum_i log scale_i: nats that turn a latent-scale -log density into the data's."""
        return jnp.sum(jnp.log(self.scale[...])) if not self.levels else jnp.zeros(())

    def endpoints(self) -> tuple[jax.Array, jax.Array]:
        """``(gamma(0), gamma(1))`` of the linear schedule, gamma(1) > gamma(0)."""
        gamma_0 = self.gamma_0[...]
        return gamma_0, gamma_0 + jax.nn.softplus(self.gamma_width_raw[...])

    def gamma(self, t: jax.Array) -> jax.Array:
        """gamma(t) = -log SNR(t) of the linear schedule."""
        return linear_gamma(t, *self.endpoints())

    def eps_hat(self, z_t: jax.Array, t: jax.Array, one_hot: jax.Array | None = None) -> jax.Array:
        """The network's prediction of the noise in ``z_t [B, D]`` at times ``t [B]`` (given
        the one-hot labels ``[B, C]`` of a conditional model)."""
        frequencies = jnp.exp(jnp.linspace(0.0, jnp.log(MAX_TIME_FREQUENCY), self.time_features))
        angles = t[:, None] * frequencies
        inputs = jnp.concatenate([z_t, jnp.sin(angles), jnp.cos(angles)], axis=-1)
        return self.net(with_label(inputs, one_hot))

    # --- the bound ----------------------------------------------------------------------

    def bound_terms(
        self, x: jax.Array, rng: jax.Array, t: jax.Array, one_hot: jax.Array | None = None
    ) -> dict[str, jax.Array]:
        """One draw of each term of the bound on -log p(x) (-log p(x | y) given labels),
        nats, each ``[B]``.

        Args:
          x: ``[B, D]`` data in the model's view (levels, or continuous values).
          rng: key of the noise draws.
          t: ``[B]`` diffusion times in [0, 1].
          one_hot: ``[B, C]`` one-hot labels of a conditional model, else None.

        Returns:
          ``{"prior", "reconstruction", "diffusion"}``; their sum is an unbiased
          estimate of the bound.
        """
        k_eps, k_0 = jax.random.split(rng)
        x_latent = self._to_latent(x)
        eps = jax.random.normal(k_eps, x_latent.shape)
        z_t = diffuse(x_latent, self.gamma(t)[:, None], eps)
        gamma_0, gamma_1 = self.endpoints()
        rate = jnp.broadcast_to(gamma_1 - gamma_0, t.shape)  # gamma'(t) of a linear schedule
        diffusion = diffusion_term(eps, self.eps_hat(z_t, t, one_hot), rate)
        z_0 = diffuse(x_latent, gamma_0, jax.random.normal(k_0, x_latent.shape))
        if self.levels:
            reconstruction = discretised_reconstruction(x, z_0, gamma_0, self.levels)
        else:
            reconstruction = gaussian_reconstruction(x_latent, z_0, gamma_0)
        return {
            "prior": prior_kl(x_latent, gamma_1),
            "reconstruction": reconstruction + self._log_scale(),
            "diffusion": diffusion,
        }

    def vlb(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """The variational lower bound on log p(x) of each example, ``[B]`` nats.

        An unbiased estimate from ``bound_samples`` independent (t, eps) draws per
        example (times independent across examples too).
        """
        return self._vlb(x.reshape(x.shape[0], -1), rng, self.bound_samples)

    def _vlb(self, x: jax.Array, rng: jax.Array, k: int, one_hot=None) -> jax.Array:
        """The mean of ``k`` independent one-draw estimates of the bound on log p(x) (on
        log p(x | y) given one-hot labels ``[B, C]``) of each example ``x [B, D]``."""
        k_t, k_noise = jax.random.split(rng)
        repeated = jnp.tile(x, (k, 1))
        labels = None if one_hot is None else jnp.tile(one_hot, (k, 1))
        times = jax.random.uniform(k_t, (len(repeated),))
        terms = self.bound_terms(repeated, k_noise, times, labels)
        return -sum(terms.values()).reshape(k, x.shape[0]).mean(axis=0)

    def loss(self, batch: jax.Array, rng: jax.Array):
        """The bound averaged over the batch (nats per example), times spread evenly."""
        return self._loss(batch.reshape(batch.shape[0], -1), rng)

    def _loss(self, x: jax.Array, rng: jax.Array, one_hot=None):
        k_t, k_noise = jax.random.split(rng)
        terms = self.bound_terms(x, k_noise, low_discrepancy_times(k_t, x.shape[0]), one_hot)
        means = {name: jnp.mean(value) for name, value in terms.items()}
        return {"params": sum(means.values())}, means

    # --- sampling -----------------------------------------------------------------------

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Ancestral samples ``[n, D]`` in the model's view (levels, or continuous values)."""
        return self._sample(rng, n)

    def _sample(self, rng: jax.Array, n: int, one_hot=None) -> jax.Array:
        """``n`` ancestral samples (of the classes of one-hot labels ``[n, C]``, if given)."""
        k_z, k_steps, k_x = jax.random.split(rng, 3)
        steps = self.sample_steps

        def step(i, z):
            t = (steps - i).astype(jnp.float32) / steps
            s = t - 1.0 / steps
            eps_hat = self.eps_hat(z, jnp.full((n,), t), one_hot)
            noise = jax.random.normal(jax.random.fold_in(k_steps, i), z.shape)
            return ancestral_step(z, eps_hat, self.gamma(s), self.gamma(t), noise)

        z_0 = jax.lax.fori_loop(0, steps, step, jax.random.normal(k_z, (n, self.dim)))
        gamma_0, _ = self.endpoints()
        if self.levels:
            log_p = discretised_log_probs(z_0, gamma_0, self.levels)
            return jax.random.categorical(k_x, log_p).astype(jnp.float32)
        log_alpha_0, _ = log_alpha_sigma(gamma_0)
        decoder_std = jnp.exp(0.5 * gamma_0)  # sigma_0 / alpha_0
        x_latent = z_0 * jnp.exp(-log_alpha_0) + decoder_std * jax.random.normal(k_x, z_0.shape)
        return x_latent * self.scale[...] + self.shift[...]

    def flops_per_example(self) -> int:
        """Analytic training FLOPs of one example: the noise predictor, forward + backward."""
        return training_flops(self.net.macs())


class ConditionalVDM(VDM):
    """A class-conditional VDM: the noise predictor eps_hat(z_t, t, y) takes the one-hot
    label besides (classifier-free guidance is not built: samples are p(x | y)'s own).

    It trains on ``(x, y)`` batches (``uses_labels``) on the bound on -log p(x | y), and
    samples a given class (``sample_class``). The likelihood metrics see ``x`` alone, so
    ``vlb`` bounds log p(x) = log sum_y p(y) p(x | y), with p(y) the training labels'
    frequencies: half of the ``bound_samples`` draws per class choose the class
    posterior q(y | x), the other half estimate sum_y q(y | x) (log p(y) + L(x | y) -
    log q(y | x)) <= log p(x) (``class_marginal_bound``: an unbiased estimate of a valid
    bound, tagged ``vlb`` as the unconditional model's). It costs C times the draws.

    Args:
      class_log_prior: log p(y) of each of the C classes (a tuple).
      others: as for ``VDM``.
    """

    uses_labels = True

    def __init__(self, *args, class_log_prior, rngs, **kwargs):
        self.class_log_prior = tuple(class_log_prior)
        self.num_classes = len(self.class_log_prior)
        super().__init__(*args, rngs=rngs, num_classes=self.num_classes, **kwargs)

    def _one_hot(self, labels: jax.Array) -> jax.Array:
        return jax.nn.one_hot(labels, self.num_classes)

    def loss(self, batch, rng: jax.Array):
        """The bound on -log p(x | y) of a labelled batch ``(x, y)``, averaged."""
        x, y = batch
        return self._loss(x.reshape(x.shape[0], -1), rng, self._one_hot(y))

    def _bound_per_class(self, x: jax.Array, rng: jax.Array, k: int) -> jax.Array:
        """``k``-draw estimates of the bound on log p(x | y) for every class y, ``[C, B]``."""

        def one_class(label, key):
            return self._vlb(x, key, k, self._one_hot(jnp.full(x.shape[0], label)))

        keys = jax.random.split(rng, self.num_classes)
        return jax.vmap(one_class)(jnp.arange(self.num_classes), keys)

    def vlb(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """An unbiased estimate of a lower bound on log p(x), ``[B]`` nats (class docstring)."""
        x = x.reshape(x.shape[0], -1)
        k_q, k_bound = jax.random.split(rng)
        proposal_draws = max(self.bound_samples // 2, 1)
        bound_draws = max(self.bound_samples - proposal_draws, 1)
        proposal = self._bound_per_class(x, k_q, proposal_draws)
        scores = self._bound_per_class(x, k_bound, bound_draws)
        return class_marginal_bound(jnp.asarray(self.class_log_prior), proposal, scores)

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws y ~ p(y), then x ~ p(x | y) ancestrally: ``[n, D]``."""
        k_y, k_x = jax.random.split(rng)
        return self.sample_class(k_x, draw_labels(k_y, self.class_log_prior, n))

    def sample_class(self, rng: jax.Array, labels: jax.Array) -> jax.Array:
        """One ancestral sample of each class of ``labels [n]``: ``[n, D]``."""
        return self._sample(rng, labels.shape[0], self._one_hot(labels))


def _standardisation(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of the training split (a constant
    dimension gets scale 1)."""
    flat = np.asarray(train, np.float64).reshape(len(train), -1)
    scale = flat.std(axis=0)
    return flat.mean(axis=0), np.where(scale > 0, scale, 1.0)


def build(config, dataset, rngs: nnx.Rngs) -> VDM:
    """The VDM of ``config.model`` (a ``VDMConfig``) for ``dataset``.

    Raises:
      UsageError: the dataset is neither continuous, binary nor discrete.
    """
    m = config.model
    kind = dataset.kind
    if kind not in ("continuous", "binary", "discrete"):
        raise UsageError(
            f"vdm models continuous, binary or discrete data, not {kind} dataset {dataset.name!r}"
        )
    dim = dataset.event_size
    levels = {"continuous": 0, "binary": 2, "discrete": dataset.levels}[kind]
    shift, scale = np.zeros(dim), np.ones(dim)
    if kind == "continuous":
        shift, scale = _standardisation(dataset.train)
    model_class, labels = VDM, {}
    if m.conditional:
        model_class = ConditionalVDM
        labels = {"class_log_prior": training_class_log_prior(dataset, "vdm")}
    return model_class(
        dim,
        levels,
        kind,
        m.hidden,
        m.activation,
        m.time_features,
        m.gamma_min,
        m.gamma_max,
        m.learn_schedule,
        m.sample_steps,
        m.bound_samples,
        shift,
        scale,
        rngs=rngs,
        **labels,
    )
