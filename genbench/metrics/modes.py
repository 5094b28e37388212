"""Mode-collapse metrics on Gaussian-mixture sources (VEEGAN, Srivastava et al. 2017; PacGAN,
Lin et al. 2018).

A sample x is *high quality* when its Mahalanobis distance to the nearest mode
is below 3 standard deviations,

    d(x) = min_m ||x - mu_m|| / sigma < 3,

(for isotropic components of equal ``sigma`` the nearest mode in Mahalanobis
distance is the nearest in Euclidean distance). Over N samples,

    high_quality_frac = #{x : d(x) < 3} / N,
    modes_captured    = #{m : some high-quality x has m as its nearest mode},
    reverse_kl_modes  = KL(q || u) = sum_m q_m log(M q_m),

where q is the histogram of nearest modes over the high-quality samples only
(as PacGAN's code builds it; empty bins add 0) and u is uniform over the M
modes. A sampler with the source's own distribution scores M modes,
1 - exp(-9/2) = 0.9889 (in 2D: P(chi^2_2 < 9)) and reverse KL ~ 0; a sampler
stuck on one mode scores 1 mode and ln M.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

MODE_SAMPLES = 2500  # samples per evaluation, as in PacGAN and VEEGAN
HIGH_QUALITY_STDS = 3.0  # Mahalanobis radius of a high-quality sample


@jax.jit
def mode_metrics(samples: jax.Array, means: jax.Array, std: float | jax.Array) -> dict:
    """Mode metrics of ``samples`` against an equal-std isotropic mixture.

    Args:
      samples: ``[N, D]`` model samples.
      means: ``[M, D]`` component means.
      std: the components' per-coordinate standard deviation sigma.

    Returns:
      dict of scalars: ``modes_captured`` (int32), ``high_quality_frac``,
      ``reverse_kl_modes`` (NaN when no sample is high quality, where the
      histogram is undefined) and ``mode_counts`` ``[M]`` (high-quality samples
      nearest to each mode).
    """
    samples = jnp.asarray(samples, jnp.float32)
    means = jnp.asarray(means, jnp.float32)
    num_modes = means.shape[0]
    sq = jnp.sum((samples[:, None, :] - means[None, :, :]) ** 2, axis=-1)  # [N, M]
    nearest = jnp.argmin(sq, axis=-1)
    distance = jnp.sqrt(jnp.min(sq, axis=-1)) / std
    high = distance < HIGH_QUALITY_STDS
    counts = jnp.zeros(num_modes, jnp.int32).at[nearest].add(high.astype(jnp.int32))
    total = jnp.sum(counts)
    q = counts / jnp.maximum(total, 1)
    terms = jnp.where(counts > 0, q * jnp.log(jnp.where(counts > 0, q, 1.0) * num_modes), 0.0)
    reverse_kl = jnp.where(total > 0, jnp.sum(terms), jnp.nan)
    return {
        "modes_captured": jnp.sum(counts > 0).astype(jnp.int32),
        "high_quality_frac": jnp.mean(high.astype(jnp.float32)),
        "reverse_kl_modes": reverse_kl,
        "mode_counts": counts,
    }


def mixture_mode_metrics(samples: np.ndarray, source) -> dict[str, float | None]:
    """``mode_metrics`` for a Gaussian-mixture dataset, as plain floats for the record.

    Args:
      samples: ``[N, D]`` samples in the source's data space.
      source: a dataset with ``mode_means`` ``[M, D]`` and ``mode_std`` (see
        ``genbench.data.base.Dataset``).

    Returns:
      ``modes_captured``, ``high_quality_frac`` with its binomial ``_se``,
      ``reverse_kl_modes`` (None when no sample is high quality) and ``modes_n``.
    """
    means = jnp.asarray(source.mode_means)
    out = jax.device_get(mode_metrics(jnp.asarray(samples), means, source.mode_std))
    n = len(samples)
    frac = float(out["high_quality_frac"])
    kl = float(out["reverse_kl_modes"])
    return {
        "modes_captured": float(out["modes_captured"]),
        "high_quality_frac": frac,
        "high_quality_frac_se": float(np.sqrt(frac * (1 - frac) / max(n - 1, 1))),
        "reverse_kl_modes": kl if np.isfinite(kl) else None,
        "modes_n": float(n),
    }
