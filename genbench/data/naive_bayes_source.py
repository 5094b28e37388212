"""A naive-Bayes source with known parameters: exact joint density and entropy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genbench.data.base import Estimate, Source
from genbench.data.configs import NaiveBayesSourceConfig
from genbench.inference import naive_bayes as nb


class NaiveBayesSource(Source):
    """y ~ Categorical(prior), x_d | y ~ Bernoulli(theta[y, d]), independently.

    Samples are labelled; ``log_prob`` is the marginal log p(x) and
    ``log_joint_prob`` the joint log p(x, y). The entropy of the joint is closed
    form: H(Y) + sum_c p(c) sum_d H(Bernoulli(theta[c, d])).
    """

    def __init__(self, config: NaiveBayesSourceConfig):
        rng = np.random.default_rng(config.source_seed)
        self.prior = rng.dirichlet(np.ones(config.num_classes)).astype(np.float32)
        self.theta = rng.beta(0.5, 0.5, (config.num_classes, config.num_features))
        self.theta = np.clip(self.theta, 1e-3, 1 - 1e-3).astype(np.float32)
        self.params = nb.BernoulliParams(
            jnp.log(self.prior), jnp.log(self.theta), jnp.log1p(-self.theta)
        )
        self.fresh = False
        key = jax.random.key(config.source_seed + 1)
        k_train, k_test = jax.random.split(key)
        train, train_y = (np.asarray(a) for a in self.sample_labelled(k_train, config.n_train))
        test, test_y = (np.asarray(a) for a in self.sample_labelled(k_test, config.n_test))
        super().__init__(
            "naive_bayes_source",
            train,
            test,
            "binary",
            train_labels=train_y.astype(np.int32),
            test_labels=test_y.astype(np.int32),
            num_classes=config.num_classes,
        )

    def sample_labelled(self, rng: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """Draws ``(x [n, D], y [n])``."""
        k_y, k_x = jax.random.split(rng)
        y = jax.random.categorical(k_y, jnp.log(self.prior), shape=(n,))
        x = jax.random.bernoulli(k_x, jnp.asarray(self.theta)[y]).astype(jnp.float32)
        return x, y

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        return self.sample_labelled(rng, n)[0]

    def log_joint_prob(self, x: jax.Array, y: jax.Array) -> jax.Array:
        """log p(x, y), ``[n]``."""
        joint = nb.bernoulli_log_joint(self.params, x)
        return jnp.take_along_axis(joint, y[:, None].astype(jnp.int32), axis=1)[:, 0]

    def log_prob(self, x: jax.Array) -> jax.Array:
        return nb.log_marginal(nb.bernoulli_log_joint(self.params, x))

    def entropy(self, rng=None, n: int = 0) -> Estimate:
        """Entropy of the joint (x, y) in nats, closed form."""
        p, t = self.prior.astype(np.float64), self.theta.astype(np.float64)
        feature = -(t * np.log(t) + (1 - t) * np.log1p(-t)).sum(axis=1)
        return Estimate(float(-(p * np.log(p)).sum() + (p * feature).sum()))


def naive_bayes_source(config: NaiveBayesSourceConfig) -> NaiveBayesSource:
    """The naive-Bayes source of ``config``."""
    return NaiveBayesSource(config)
