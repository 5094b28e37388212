"""Hidden Markov models as thin NNX modules over ``genbench.inference.hmm``.

Parameters are unconstrained (logits for the initial, transition and
categorical emission distributions; means and log-variances for Gaussian
emissions), so the same model is fitted by Baum-Welch (``em_step``) or by
gradient maximum likelihood through the shared training step.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from genbench import contract
from genbench.inference import hmm, hmm_em


class _HMM(nnx.Module):
    """The Markov chain shared by every emission type: pi and A as logits.

    Subclasses give ``emission_log_likelihoods(x) -> [N, T, K]``, log p(x_t | z_t = k).
    """

    input_kind = "sequence"

    def _init_chain(self, key: jax.Array, num_states: int, num_steps: int) -> None:
        k_pi, k_a = jax.random.split(key)
        self.initial_logits = nnx.Param(0.5 * jax.random.normal(k_pi, (num_states,)))
        self.transition_logits = nnx.Param(0.5 * jax.random.normal(k_a, (num_states, num_states)))
        self.num_steps = num_steps

    def _chain(self):
        return (
            jax.nn.softmax(self.initial_logits[...]),
            jax.nn.softmax(self.transition_logits[...], axis=-1),
        )

    def _set_chain(self, pi, A) -> None:
        self.initial_logits[...] = jnp.log(pi)
        self.transition_logits[...] = jnp.log(A)

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x_{1:T}) of each sequence (the forward recursion)."""
        pi, A = self._chain()
        return hmm.forward(pi, A, self.emission_log_likelihoods(x))[0]

    def loss(self, batch, rng):
        """Negative log-likelihood per step, averaged over the batch of sequences."""
        del rng
        per_step = self.log_prob(batch) / self.num_steps
        return {"params": -jnp.mean(per_step)}, {}

    def viterbi(self, x: jax.Array) -> jax.Array:
        """Most probable state paths ``[N, T]``."""
        return hmm.viterbi(*self._chain(), self.emission_log_likelihoods(x))

    def resolved_config(self) -> dict[str, object]:
        """The config values that ``0`` / ``auto`` stood for, as the record stores them."""
        return {
            "model.num_states": int(self.transition_logits.shape[0]),
            "model.emissions": self.emissions,
        }

    def flops_per_example(self) -> int:
        """Forward recursion forward and backward: ~6 (K^2 + K) per step."""
        K = self.transition_logits.shape[0]
        return 6 * self.num_steps * (K * K + K)


class CategoricalHMM(_HMM):
    """K hidden states, M symbols.

    Args:
      num_states: K.
      num_symbols: M.
      num_steps: T, the length of sampled sequences.
      rngs: the random initialisation (EM needs a non-symmetric start).
    """

    emissions = "categorical"

    def __init__(self, num_states: int, num_symbols: int, num_steps: int, *, rngs: nnx.Rngs):
        k_chain, k_b = jax.random.split(rngs.params())
        self._init_chain(k_chain, num_states, num_steps)
        self.emission_logits = nnx.Param(0.5 * jax.random.normal(k_b, (num_states, num_symbols)))

    def params(self):
        """(pi, A, B) as probabilities."""
        return (*self._chain(), jax.nn.softmax(self.emission_logits[...], axis=-1))

    def set_params(self, pi, A, B) -> None:
        """Sets the logits from probabilities."""
        self._set_chain(pi, A)
        self.emission_logits[...] = jnp.log(B)

    def emission_log_likelihoods(self, x: jax.Array) -> jax.Array:
        B = jax.nn.softmax(self.emission_logits[...], axis=-1)
        return hmm.categorical_emission_log_likelihoods(B, x.astype(jnp.int32))

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x_{1:T}) of each sequence ``[N, T]`` (integer symbols): the fast path."""
        return hmm.categorical_log_likelihood(*self.params(), x.astype(jnp.int32))

    def em_step(self, observations) -> jax.Array:
        """One Baum-Welch iteration on ``observations [N, T]``; returns log p before it."""
        old = self.params()
        new, log_lik = _categorical_em(*old, jnp.asarray(observations, jnp.int32))
        self.set_params(*_keep_unvisited(new, old))
        return log_lik

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws ``[n, T]`` symbol sequences."""
        return hmm.sample_categorical(rng, *self.params(), self.num_steps, n)[1]


class GaussianHMM(_HMM):
    """K hidden states, diagonal Gaussian emissions of dimension D.

    Inputs are sequences ``[N, T, D]`` or the same flattened to ``[N, T * D]``
    (the harness flattens examples; an 8x8 digit is read as 8 rows of 8).

    Args:
      num_states: K.
      frame_dim: D, the dimension of one observation.
      num_steps: T.
      input_kind: ``"sequence"`` for sequence data, ``"continuous"`` for images
        read as rows (dequantised by the data view when they are discrete).
      data_mean, data_std: scale of the data, for the initial means and variances.
      min_variance: floor of every variance, relative to data_std^2. A state
        whose variance collapses onto a few points has an unbounded likelihood
        (as in Gaussian mixtures); hmmlearn's ``min_covar`` is the same guard.
      rngs: the random initialisation.
    """

    emissions = "gaussian"

    def __init__(
        self,
        num_states: int,
        frame_dim: int,
        num_steps: int,
        *,
        input_kind: str = "sequence",
        data_mean: float = 0.0,
        data_std: float = 1.0,
        min_variance: float = 1e-3,
        rngs: nnx.Rngs,
    ):
        k_chain, k_mu = jax.random.split(rngs.params())
        self._init_chain(k_chain, num_states, num_steps)
        self.means = nnx.Param(
            data_mean + data_std * jax.random.normal(k_mu, (num_states, frame_dim))
        )
        self.log_variances = nnx.Param(jnp.full((num_states, frame_dim), 2 * math.log(data_std)))
        self.frame_dim = frame_dim
        self.input_kind = input_kind
        self.min_variance = min_variance * data_std**2

    def frames(self, x: jax.Array) -> jax.Array:
        """``x`` as ``[N, T, D]`` (any T: the harness also scores longer sequences)."""
        return x.reshape(x.shape[0], -1, self.frame_dim)

    def params(self):
        """(pi, A, means, variances)."""
        variances = jnp.exp(self.log_variances[...]) + self.min_variance
        return (*self._chain(), self.means[...], variances)

    def set_params(self, pi, A, means, variances) -> None:
        self._set_chain(pi, A)
        self.means[...] = means
        self.log_variances[...] = jnp.log(jnp.maximum(variances - self.min_variance, 1e-30))

    def emission_log_likelihoods(self, x: jax.Array) -> jax.Array:
        _, _, means, variances = self.params()
        return hmm.gaussian_emission_log_likelihoods(means, variances, self.frames(x))

    def em_step(self, observations) -> jax.Array:
        """One Baum-Welch iteration on ``observations``; returns log p before it."""
        x = self.frames(jnp.asarray(observations, jnp.float32))
        old = self.params()
        new, log_lik = _gaussian_em(*old, x, min_variance=2 * self.min_variance)
        self.set_params(*_keep_unvisited(new, old))
        return log_lik

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws ``n`` sequences, shaped like the training examples."""
        pi, A, means, variances = self.params()
        k_z, k_x = jax.random.split(rng)
        states = hmm.sample_states(k_z, pi, A, self.num_steps, n)
        noise = jax.random.normal(k_x, (n, self.num_steps, self.frame_dim))
        x = means[states] + jnp.sqrt(variances[states]) * noise
        return x if self.input_kind == "sequence" else x.reshape(n, -1)

    def flops_per_example(self) -> int:
        """The chain's count plus ~4 K D per step for the emission densities."""
        K = self.transition_logits.shape[0]
        return super().flops_per_example() + 4 * self.num_steps * K * self.frame_dim


def _keep_unvisited(new, old):
    """The M-step's parameters, except rows of a state with no expected count (0/0 there),
    which keep their old values, as a state nobody visits gives no evidence."""
    return tuple(
        jnp.where(jnp.all(jnp.isfinite(n), axis=-1, keepdims=True), n, o)
        for n, o in zip(new, old, strict=True)
    )


DEFAULT_NUM_STATES = 8  # the model's K on data whose generating K is unknown
_categorical_em = jax.jit(hmm_em.categorical_baum_welch_step)
_gaussian_em = jax.jit(hmm_em.gaussian_baum_welch_step, static_argnames="min_variance")


def build(config, dataset, rngs: nnx.Rngs) -> _HMM:
    """The HMM of ``config.model`` for ``dataset``.

    Symbol sequences get categorical emissions; real-valued sequences
    ``[T, D]`` and images (read as rows, ``dataset.image_shape``) get Gaussian
    ones. ``model.emissions`` may also name the type explicitly.
    """
    from genbench.errors import UsageError

    num_states = config.model.num_states or contract.known_num_states(dataset) or DEFAULT_NUM_STATES
    emissions = config.model.emissions
    symbols = dataset.kind == "sequence" and dataset.levels > 0
    if emissions == "auto":
        emissions = "categorical" if symbols else "gaussian"
    if emissions == "categorical":
        if not symbols:
            raise UsageError(
                f"a categorical hmm needs a sequence dataset of symbols; "
                f"{dataset.name!r} is {dataset.kind}"
            )
        return CategoricalHMM(num_states, dataset.levels, dataset.train.shape[1], rngs=rngs)
    if dataset.kind == "sequence" and not symbols and len(dataset.event_shape) == 2:
        (num_steps, frame_dim), kind, scale = dataset.event_shape, "sequence", 1.0
    elif contract.image_shape(dataset) is not None:
        (num_steps, frame_dim), kind = dataset.image_shape, "continuous"
        # Rows are dequantised to [0, 1) by the data view before the model sees them.
        scale = float(max(dataset.levels, 2)) if dataset.kind in ("binary", "discrete") else 1.0
    else:
        raise UsageError(
            f"a gaussian hmm needs real-valued sequences [T, D] or images read as rows; "
            f"{dataset.name!r} is {dataset.kind} with shape {dataset.event_shape}"
        )
    train = dataset.train.reshape(-1, frame_dim) / scale
    return GaussianHMM(
        num_states,
        frame_dim,
        num_steps,
        input_kind=kind,
        data_mean=float(train.mean()),
        data_std=float(max(train.std(), 1e-3)),
        rngs=rngs,
    )
