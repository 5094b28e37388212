"""Naive Bayes as a thin NNX module over ``genbench.inference.naive_bayes``.

The parameters are unconstrained logits (class prior and per-feature
Bernoulli logits), so the same model fits in closed form (``fit_exact``,
the Beta(alpha, alpha) posterior mean) or by gradient maximum likelihood of
the joint p(x, y) through the shared training step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.inference import naive_bayes as nb


class BernoulliNaiveBayes(nnx.Module):
    """p(y) prod_d Bernoulli(x_d; sigmoid(logits[y, d])).

    Args:
      num_features: D.
      num_classes: C.
      alpha: pseudo-count of ``fit_exact``.
    """

    input_kind = "binary"
    uses_labels = True  # the shared step feeds (x, y) batches

    def __init__(self, num_features: int, num_classes: int, alpha: float):
        self.prior_logits = nnx.Param(jnp.zeros(num_classes))
        self.feature_logits = nnx.Param(jnp.zeros((num_classes, num_features)))
        self.alpha = alpha
        self.num_classes = num_classes

    def params(self) -> nb.BernoulliParams:
        """The model as ``BernoulliParams`` (normalised log-probabilities)."""
        logits = self.feature_logits[...]
        return nb.BernoulliParams(
            jax.nn.log_softmax(self.prior_logits[...]),
            jax.nn.log_sigmoid(logits),
            jax.nn.log_sigmoid(-logits),
        )

    def fit_exact(self, dataset) -> None:
        """Sets the parameters to the closed-form fit on the dataset's labelled train split."""
        x, y = dataset.train, dataset.train_labels
        fitted = jax.jit(nb.bernoulli_fit, static_argnums=(2, 3))(
            x, y, self.num_classes, self.alpha
        )
        self.prior_logits[...] = fitted.log_prior
        self.feature_logits[...] = fitted.log_p - fitted.log_1mp

    def log_joint(self, x: jax.Array) -> jax.Array:
        """log p(x, y = c) for every class, ``[N, C]``."""
        return nb.bernoulli_log_joint(self.params(), x)

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x) with the class summed out, ``[N]``."""
        return nb.log_marginal(self.log_joint(x))

    def loss(self, batch, rng):
        """Negative mean joint log-likelihood -log p(x, y) of a labelled batch."""
        del rng
        x, y = batch
        joint = jnp.take_along_axis(self.log_joint(x), y[:, None], axis=1)[:, 0]
        return {"params": -jnp.mean(joint)}, {}

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws x ``[n, D]`` (the class is drawn and dropped)."""
        k_y, k_x = jax.random.split(rng)
        y = jax.random.categorical(k_y, self.prior_logits[...], shape=(n,))
        probs = jax.nn.sigmoid(self.feature_logits[...][y])
        return jax.random.bernoulli(k_x, probs).astype(jnp.float32)

    def flops_per_example(self) -> int:
        """Joint log-likelihood (a D x C product) forward and backward."""
        return 6 * self.feature_logits.shape[0] * self.feature_logits.shape[1]


def build(config, dataset, rngs: nnx.Rngs) -> BernoulliNaiveBayes:
    """The naive Bayes model of ``config.model`` for a labelled binary ``dataset``."""
    del rngs
    from genbench.errors import UsageError

    if not getattr(dataset, "labelled", False):
        raise UsageError(f"naive_bayes needs a labelled dataset; {dataset.name!r} has no labels")
    return BernoulliNaiveBayes(dataset.event_size, dataset.num_classes, config.model.alpha)
