"""Naive Bayes as a thin NNX module over ``genbench.inference.naive_bayes``.

The parameters are unconstrained (class-prior logits; Bernoulli or
categorical feature logits; Gaussian means and log standard deviations), so
the same model fits in closed form (``fit_exact``: scikit-learn's smoothed
estimates) or by gradient maximum likelihood of the joint p(x, y) through
the shared training step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from genbench import contract
from genbench.inference import naive_bayes as nb

INPUT_KINDS = {"bernoulli": "binary", "categorical": "discrete", "gaussian": "continuous"}


class NaiveBayes(nnx.Module):
    """p(y) prod_d p(x_d | y) with Bernoulli, categorical or Gaussian features.

    Args:
      features: ``"bernoulli"``, ``"categorical"`` or ``"gaussian"``.
      num_features: D.
      num_classes: C.
      num_values: M, the values of a categorical feature (ignored otherwise).
      alpha: pseudo-count of ``fit_exact`` (Bernoulli and categorical).
    """

    uses_labels = True  # the shared step feeds (x, y) batches

    def __init__(
        self, features: str, num_features: int, num_classes: int, num_values: int, alpha: float
    ):
        self.features, self.alpha = features, alpha
        self.num_classes, self.num_values = num_classes, num_values
        self.input_kind = INPUT_KINDS[features]
        self.prior_logits = nnx.Param(jnp.zeros(num_classes))
        shape = (num_classes, num_features)
        if features == "categorical":
            self.feature_logits = nnx.Param(jnp.zeros((*shape, num_values)))
        elif features == "gaussian":
            self.means = nnx.Param(jnp.zeros(shape))
            self.log_stds = nnx.Param(jnp.zeros(shape))
        else:
            self.feature_logits = nnx.Param(jnp.zeros(shape))

    def params(self):
        """The model as the inference module's parameter tuple (normalised)."""
        log_prior = jax.nn.log_softmax(self.prior_logits[...])
        if self.features == "categorical":
            return nb.CategoricalParams(log_prior, jax.nn.log_softmax(self.feature_logits[...]))
        if self.features == "gaussian":
            return nb.GaussianParams(log_prior, self.means[...], jnp.exp(2 * self.log_stds[...]))
        logits = self.feature_logits[...]
        return nb.BernoulliParams(
            log_prior, jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
        )

    def fit_exact(self, x, y) -> None:
        """Sets the parameters to the closed-form fit on features ``x [N, D]``, labels ``y [N]``."""
        if self.features == "categorical":
            fitted = nb.categorical_fit(
                x.astype("int32"), y, self.num_classes, self.num_values, self.alpha
            )
            self.feature_logits[...] = fitted.log_probs
        elif self.features == "gaussian":
            fitted = nb.gaussian_fit(x, y, self.num_classes)
            self.means[...] = fitted.means
            self.log_stds[...] = 0.5 * jnp.log(fitted.variances)
        else:
            fitted = nb.bernoulli_fit(x, y, self.num_classes, self.alpha)  # checks x, y first
            self.feature_logits[...] = fitted.log_p - fitted.log_1mp
        self.prior_logits[...] = fitted.log_prior

    def log_joint(self, x: jax.Array) -> jax.Array:
        """log p(x, y = c) for every class, ``[N, C]``."""
        params = self.params()
        if self.features == "categorical":
            return nb.categorical_log_joint(params, x.astype(jnp.int32))
        if self.features == "gaussian":
            return nb.gaussian_log_joint(params, x)
        return nb.bernoulli_log_joint(params, x)

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
        """Draws x ``[n, D]`` (the class is drawn from the prior and dropped)."""
        k_y, k_x = jax.random.split(rng)
        y = jax.random.categorical(k_y, self.params().log_prior, shape=(n,))
        return self.sample_class(k_x, y)

    def sample_class(self, rng: jax.Array, labels: jax.Array) -> jax.Array:
        """Draws x ~ p(x | y) ``[n, D]`` for each class of ``labels [n]``."""
        params = self.params()
        if self.features == "categorical":
            return jax.random.categorical(rng, params.log_probs[labels]).astype(jnp.float32)
        if self.features == "gaussian":
            noise = jax.random.normal(rng, params.means[labels].shape)
            return params.means[labels] + jnp.sqrt(params.variances[labels]) * noise
        return jax.random.bernoulli(rng, jnp.exp(params.log_p[labels])).astype(jnp.float32)

    def flops_per_example(self) -> int:
        """The joint log-likelihood (one pass over D features for C classes), forward and back."""
        params = jax.tree.leaves(nnx.state(self, nnx.Param))
        return 6 * max(int(p.size) for p in params)


def build(config, dataset, rngs: nnx.Rngs) -> NaiveBayes:
    """The naive Bayes model of ``config.model`` for a labelled ``dataset``."""
    del rngs
    from genbench.errors import UsageError

    if not contract.is_labelled(dataset):
        raise UsageError(f"naive_bayes needs a labelled dataset; {dataset.name!r} has no labels")
    features = config.model.features
    if features == "categorical" and dataset.kind != "discrete":
        raise UsageError(
            f"model.features=categorical needs discrete data; {dataset.name!r} is {dataset.kind}"
        )
    return NaiveBayes(
        features, dataset.event_size, dataset.num_classes, dataset.levels, config.model.alpha
    )
