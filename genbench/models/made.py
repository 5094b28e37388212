"""MADE (Germain, Gregor, Murray and Larochelle 2015): masked autoencoder for distribution
estimation.

One masked MLP (``genbench.models.masked``) outputs, for every pixel d, the
parameters of p(x_d | x_<d) in one pass: a Bernoulli logit on binary data, or
the logits of L levels on discrete data (grey digits: L = 17). So log p(x) is
exact and costs one pass; sampling takes D passes, one pixel at a time, in the
natural (raster) order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.models.likelihoods import bernoulli_log_prob, max_likelihood_loss
from genbench.models.masked import MADE as MaskedMLP
from genbench.models.nets import training_flops


def categorical_log_prob(logits: jax.Array, x: jax.Array) -> jax.Array:
    """sum_d log softmax(logits[..., d, :])[x_d]: ``logits [N, D, L]``, integer-valued
    ``x [N, D]`` -> ``[N]``."""
    log_p = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_p, x.astype(jnp.int32)[..., None], axis=-1)[..., 0]
    return jnp.sum(picked, axis=-1)


def draw_pixels(rng: jax.Array, logits: jax.Array, levels: int) -> jax.Array:
    """One draw of every pixel from its conditional: ``logits [N, D]`` (binary) or
    ``[N, D, L]`` (``levels`` > 2) -> float32 values ``[N, D]``."""
    if levels == 2:
        return jax.random.bernoulli(rng, jax.nn.sigmoid(logits)).astype(jnp.float32)
    return jax.random.categorical(rng, logits, axis=-1).astype(jnp.float32)


def pixels_log_prob(logits: jax.Array, x: jax.Array, levels: int) -> jax.Array:
    """log p(x) of ``x [N, D]`` under independent per-pixel conditionals: Bernoulli
    ``logits [N, D]`` (``levels`` 2) or categorical ``[N, D, L]``; ``[N]`` nats."""
    if levels == 2:
        return bernoulli_log_prob(logits, x)
    return categorical_log_prob(logits, x)


def sample_pixels(rng: jax.Array, n: int, dim: int, levels: int, logits_fn) -> jax.Array:
    """``n`` draws ``[n, D]`` of an autoregressive model, one pixel per pass: pass d fixes
    pixel d, whose conditional (from ``logits_fn(x)``) reads only pixels already fixed."""
    keys = jax.random.split(rng, dim)

    def step(d, x):
        drawn = draw_pixels(keys[d], logits_fn(x), levels)
        return jnp.where(jnp.arange(dim) == d, drawn, x)

    return jax.lax.fori_loop(0, dim, step, jnp.zeros((n, dim), jnp.float32))


class PixelModel(nnx.Module):
    """What MADE and PixelCNN share, given ``logits(x)``, ``levels`` and ``dim``: the exact
    log-likelihood, its loss and pixel-by-pixel sampling."""

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x) = sum_d log p(x_d | x_<d), ``[N]`` nats."""
        x = x.reshape(x.shape[0], -1)
        return pixels_log_prob(self.logits(x), x, self.levels)

    def loss(self, batch: jax.Array, rng: jax.Array):
        """Negative mean log-likelihood of the batch."""
        del rng
        return max_likelihood_loss(self.log_prob(batch))

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """``n`` draws ``[n, D]``, pixel by pixel in raster order (``sample_pixels``)."""
        return sample_pixels(rng, n, self.dim, self.levels, self.logits)


class MADEModel(PixelModel):
    """An autoregressive model of ``[N, D]`` binary or L-level discrete vectors.

    Args:
      dim: D.
      levels: 2 for binary data (``input_kind`` ``binary``), L > 2 for discrete levels
        0..L-1 (``input_kind`` ``discrete``).
      hidden: hidden widths of the masked MLP.
      activation: its nonlinearity.
      rngs: initialisation PRNGs.
    """

    def __init__(self, dim: int, levels: int, hidden, activation: str, *, rngs: nnx.Rngs):
        self.dim, self.levels = dim, levels
        self.input_kind = "binary" if levels == 2 else "discrete"
        self.net = MaskedMLP(dim, hidden, 1 if levels == 2 else levels, activation, rngs=rngs)

    def logits(self, x: jax.Array) -> jax.Array:
        """The conditionals' logits of ``x [N, D]``: ``[N, D]`` (binary) or ``[N, D, L]``;
        those of pixel d read pixels < d only."""
        out = self.net(x / (self.levels - 1))  # inputs scaled to [0, 1]
        return out[:, 0, :] if self.levels == 2 else jnp.swapaxes(out, -1, -2)

    def flops_per_example(self) -> int:
        """Analytic training FLOPs of one example (dense layers, forward + backward)."""
        return training_flops(self.net.macs())


def build(config, dataset, rngs: nnx.Rngs) -> MADEModel:
    """The MADE of ``config.model`` (a ``MADEConfig``) for a binary or discrete ``dataset``."""
    from genbench.errors import UsageError

    if dataset.kind not in ("binary", "discrete"):
        raise UsageError(
            f"made models binary or discrete data; {dataset.name!r} is {dataset.kind} "
            "(use realnvp or maf for continuous data)"
        )
    levels = 2 if dataset.kind == "binary" else dataset.levels
    m = config.model
    return MADEModel(dataset.event_size, levels, m.hidden, m.activation, rngs=rngs)
