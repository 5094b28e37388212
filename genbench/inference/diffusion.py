"""The terms of a variational diffusion model's bound (Kingma et al. 2021), on arrays.

A variance-preserving diffusion with noise schedule gamma(t) = -log SNR(t),
t in [0, 1]: q(z_t | x) = N(alpha_t x, sigma_t^2 I) with alpha_t^2 =
sigmoid(-gamma_t) and sigma_t^2 = sigmoid(gamma_t). For data x in the model's
latent scale, the continuous-time bound on -log p(x) is the sum of

- the prior term KL(q(z_1 | x) || N(0, I)) (closed form),
- the reconstruction term E_{q(z_0 | x)}[-log p(x | z_0)], with a decoder
  discretised to the data's levels (p(x_i | z_0) proportional to
  q(z_0,i | x_i), normalised over the levels) or, for continuous data, the
  Gaussian decoder N(x; z_0 / alpha_0, sigma_0^2 / alpha_0^2),
- the diffusion term 0.5 E_{t ~ U[0, 1], eps}[gamma'(t) ||eps - eps_hat(z_t, t)||^2]
  (equation 17 of the paper, the T -> infinity limit).

Everything here is a pure function of arrays; ``genbench.models.vdm`` holds the network.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genbench.inference.gaussian import diag_normal_log_prob, kl_diag_normal_standard


def linear_gamma(t: jax.Array, gamma_min: float, gamma_max: float) -> jax.Array:
    """The fixed linear schedule gamma(t) = gamma_min + (gamma_max - gamma_min) t."""
    return gamma_min + (gamma_max - gamma_min) * t


def log_alpha_sigma(gamma: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(log alpha, log sigma)`` of noise level ``gamma``, computed stably in log space."""
    return -0.5 * jax.nn.softplus(gamma), -0.5 * jax.nn.softplus(-gamma)


def diffuse(x: jax.Array, gamma: jax.Array, eps: jax.Array) -> jax.Array:
    """z_gamma = alpha x + sigma eps, a draw of q(z | x) at noise level ``gamma`` (broadcast)."""
    log_alpha, log_sigma = log_alpha_sigma(gamma)
    return jnp.exp(log_alpha) * x + jnp.exp(log_sigma) * eps


def prior_kl(x: jax.Array, gamma_1: float | jax.Array) -> jax.Array:
    """KL(q(z_1 | x) || N(0, I)) = KL(N(alpha_1 x, sigma_1^2 I) || N(0, I)), summed over
    the last axis, ``[...]`` nats."""
    log_alpha, log_sigma = log_alpha_sigma(jnp.asarray(gamma_1, x.dtype))
    return kl_diag_normal_standard(jnp.exp(log_alpha) * x, jnp.broadcast_to(log_sigma, x.shape))


def level_centres(levels: int) -> jax.Array:
    """The latent-scale values of data levels 0..L-1: (2k + 1) / L - 1, inside (-1, 1)."""
    return (2 * jnp.arange(levels, dtype=jnp.float32) + 1) / levels - 1


def _decoder_logit(z_0: jax.Array, gamma_0: jax.Array, centre: jax.Array) -> jax.Array:
    """log q(z_0 | x = level with ``centre``) up to a term constant in the level:
    -0.5 (z_0 / alpha_0 - centre)^2 / exp(gamma_0), elementwise (broadcast)."""
    log_alpha, _ = log_alpha_sigma(gamma_0)
    return -0.5 * (z_0 * jnp.exp(-log_alpha) - centre) ** 2 * jnp.exp(-gamma_0)


def discretised_log_probs(z_0: jax.Array, gamma_0: float | jax.Array, levels: int) -> jax.Array:
    """log p(x_i = k | z_0,i) of the VDM decoder, ``[..., D, L]``, normalised over the L levels.

    p(x_i = k | z_0,i) is proportional to q(z_0,i | x_i = k) = N(z_0,i; alpha_0 c_k,
    sigma_0^2), c_k the level's centre; as a function of k that is the density of
    z_0,i / alpha_0 under N(c_k, exp(gamma_0)), since sigma_0^2 / alpha_0^2 = exp(gamma_0).

    Args:
      z_0: ``[..., D]`` latents at t = 0.
      gamma_0: the noise level at t = 0.
      levels: L, the number of data values per dimension.
    """
    gamma_0 = jnp.asarray(gamma_0, z_0.dtype)
    logits = _decoder_logit(z_0[..., None], gamma_0, level_centres(levels))
    return jax.nn.log_softmax(logits, axis=-1)


def discretised_reconstruction(
    levels_x: jax.Array, z_0: jax.Array, gamma_0: float | jax.Array, levels: int
) -> jax.Array:
    """-log p(x | z_0) under the discretised decoder, summed over the last axis, ``[...]``.

    The data's own logit is computed directly and only the normaliser reduces over the L
    levels, so no ``[..., D, L]`` array needs to be kept (256-level images: L = 256).

    Args:
      levels_x: ``[..., D]`` data as integer levels 0..L-1 (any numeric dtype).
      z_0: ``[..., D]`` latents at t = 0.
      gamma_0: the noise level at t = 0.
      levels: L.
    """
    gamma_0 = jnp.asarray(gamma_0, z_0.dtype)
    centres = level_centres(levels)
    own = _decoder_logit(z_0, gamma_0, centres[levels_x.astype(jnp.int32)])
    normaliser = jax.nn.logsumexp(_decoder_logit(z_0[..., None], gamma_0, centres), axis=-1)
    return -jnp.sum(own - normaliser, axis=-1)


def gaussian_reconstruction(x: jax.Array, z_0: jax.Array, gamma_0: float | jax.Array) -> jax.Array:
    """-log N(x; z_0 / alpha_0, sigma_0^2 / alpha_0^2 I), summed over the last axis: the
    continuous decoder (a density, so the bound is on a differential -log p(x))."""
    gamma_0 = jnp.asarray(gamma_0, z_0.dtype)
    log_alpha, _ = log_alpha_sigma(gamma_0)
    mean = z_0 * jnp.exp(-log_alpha)
    return -diag_normal_log_prob(x, mean, jnp.broadcast_to(0.5 * gamma_0, x.shape))


def diffusion_term(eps: jax.Array, eps_hat: jax.Array, gamma_rate: jax.Array) -> jax.Array:
    """0.5 gamma'(t) ||eps - eps_hat||^2 over the last axis: a one-draw estimate of the
    continuous-time diffusion loss at a uniform t (``gamma_rate`` = gamma'(t), ``[...]``)."""
    return 0.5 * gamma_rate * jnp.sum((eps - eps_hat) ** 2, axis=-1)


def low_discrepancy_times(rng: jax.Array, n: int) -> jax.Array:
    """``n`` times in [0, 1), (u + i / n) mod 1: each marginally uniform, jointly spread
    evenly (VDM's variance reduction for the training loss)."""
    return jnp.mod(jax.random.uniform(rng) + jnp.arange(n) / n, 1.0)


def ancestral_step(
    z_t: jax.Array, eps_hat: jax.Array, gamma_s: jax.Array, gamma_t: jax.Array, noise: jax.Array
) -> jax.Array:
    """A draw of p(z_s | z_t) = q(z_s | z_t, x = x_hat(z_t)) for s < t.

    With c = 1 - SNR(t) / SNR(s) = -expm1(gamma_s - gamma_t), the posterior has mean
    (alpha_s / alpha_t)(z_t - c sigma_t eps_hat) and variance c sigma_s^2.

    Args:
      z_t: ``[..., D]`` latents at t.
      eps_hat: the network's noise prediction at (z_t, t).
      gamma_s, gamma_t: noise levels at the two times (gamma_s < gamma_t).
      noise: standard normal draws shaped like ``z_t``.
    """
    log_alpha_s, log_sigma_s = log_alpha_sigma(gamma_s)
    log_alpha_t, log_sigma_t = log_alpha_sigma(gamma_t)
    c = -jnp.expm1(gamma_s - gamma_t)
    mean = jnp.exp(log_alpha_s - log_alpha_t) * (z_t - c * jnp.exp(log_sigma_t) * eps_hat)
    return mean + jnp.sqrt(c) * jnp.exp(log_sigma_s) * noise
