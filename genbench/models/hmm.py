"""Hidden Markov models as thin NNX modules over ``genbench.inference.hmm``.

Parameters are unconstrained logits (initial, transition and emission), so
the same model is fitted by Baum-Welch (``em_step``) or by gradient maximum
likelihood through the shared training step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.inference import hmm


class CategoricalHMM(nnx.Module):
    """K hidden states, M symbols.

    Args:
      num_states: K.
      num_symbols: M.
      num_steps: default length of sampled sequences.
      rngs: the random initialisation (EM needs a non-symmetric start).
    """

    input_kind = "sequence"

    def __init__(self, num_states: int, num_symbols: int, num_steps: int, *, rngs: nnx.Rngs):
        key = rngs.params()
        k_pi, k_a, k_b = jax.random.split(key, 3)
        self.initial_logits = nnx.Param(0.5 * jax.random.normal(k_pi, (num_states,)))
        self.transition_logits = nnx.Param(0.5 * jax.random.normal(k_a, (num_states, num_states)))
        self.emission_logits = nnx.Param(0.5 * jax.random.normal(k_b, (num_states, num_symbols)))
        self.num_steps = num_steps

    def params(self):
        """(pi, A, B) as probabilities."""
        return (
            jax.nn.softmax(self.initial_logits[...]),
            jax.nn.softmax(self.transition_logits[...], axis=-1),
            jax.nn.softmax(self.emission_logits[...], axis=-1),
        )

    def set_params(self, pi, A, B) -> None:
        """Sets the logits from probabilities."""
        self.initial_logits[...] = jnp.log(pi)
        self.transition_logits[...] = jnp.log(A)
        self.emission_logits[...] = jnp.log(B)

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x_{1:T}) of each sequence ``[N, T]`` (integer symbols)."""
        return hmm.categorical_log_likelihood(*self.params(), x.astype(jnp.int32))

    def loss(self, batch, rng):
        """Negative log-likelihood per step, averaged over the batch of sequences."""
        del rng
        per_step = self.log_prob(batch) / batch.shape[-1]
        return {"params": -jnp.mean(per_step)}, {}

    def em_step(self, observations) -> jax.Array:
        """One Baum-Welch iteration on ``observations [N, T]``; returns log p before it."""
        new, log_lik = _baum_welch(*self.params(), jnp.asarray(observations, jnp.int32))
        self.set_params(*new)
        return log_lik

    def viterbi(self, x: jax.Array) -> jax.Array:
        """Most probable state paths ``[N, T]``."""
        pi, A, B = self.params()
        return hmm.viterbi(pi, A, hmm.categorical_emission_log_likelihoods(B, x.astype(jnp.int32)))

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws ``[n, num_steps]`` symbol sequences."""
        return hmm.sample_categorical(rng, *self.params(), self.num_steps, n)[1]

    def flops_per_example(self) -> int:
        """Forward recursion forward and backward: ~6 (K^2 + K) per step."""
        K = self.transition_logits.shape[0]
        return 6 * self.num_steps * (K * K + K)


_baum_welch = jax.jit(hmm.categorical_baum_welch_step)


def build(config, dataset, rngs: nnx.Rngs) -> CategoricalHMM:
    """The HMM of ``config.model`` for a categorical ``sequence`` dataset."""
    from genbench.errors import UsageError

    if dataset.kind != "sequence" or not dataset.levels:
        raise UsageError(
            f"hmm needs a sequence dataset of symbols; {dataset.name!r} is {dataset.kind}"
        )
    return CategoricalHMM(
        config.model.num_states, dataset.levels, dataset.train.shape[1], rngs=rngs
    )
