"""What the class-conditional variants of the families share: the label as a one-hot input,
the class prior of the training labels, the check that the data has labels, and a bound
on log p(x) from per-class bounds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genbench import contract


def with_label(v: jax.Array, one_hot: jax.Array | None) -> jax.Array:
    """``v [..., B, F]`` with the one-hot label ``[B, C]`` appended to its last axis
    (broadcast over ``v``'s leading axes, e.g. K importance samples); ``v`` itself when
    ``one_hot`` is None (an unconditional model)."""
    if one_hot is None:
        return v
    return jnp.concatenate([v, jnp.broadcast_to(one_hot, (*v.shape[:-1], one_hot.shape[-1]))], -1)


def training_class_log_prior(dataset, model_name: str) -> tuple[float, ...]:
    """log p(y) of the training labels' class frequencies (a tuple: a static model attribute).

    Args:
      dataset: a labelled ``Dataset``.
      model_name: the model, for the error message.

    Returns:
      ``num_classes`` log-frequencies (a class absent from the training split gets a
      frequency of one half example, so every class can still be drawn).

    Raises:
      UsageError: the dataset has no labels.
    """
    from genbench.errors import UsageError

    if not contract.is_labelled(dataset):
        raise UsageError(
            f"{model_name} with model.conditional=true needs a labelled dataset; "
            f"{dataset.name!r} has no labels"
        )
    counts = np.bincount(np.asarray(dataset.train_labels), minlength=int(dataset.num_classes))
    counts = np.maximum(counts.astype(np.float64), 0.5)
    return tuple(float(v) for v in np.log(counts / counts.sum()))


def draw_labels(rng: jax.Array, log_prior: tuple[float, ...], n: int) -> jax.Array:
    """``n`` classes drawn from ``log_prior``, ``[n]`` int32."""
    return jax.random.categorical(rng, jnp.asarray(log_prior), shape=(n,)).astype(jnp.int32)


def class_marginal_bound(
    log_prior: jax.Array, proposal_scores: jax.Array, scores: jax.Array
) -> jax.Array:
    """A lower bound on log p(x) = log sum_y p(y) p(x | y) from per-class lower bounds.

    For any distribution q(y) over the classes, log p(x) >= sum_y q(y) (log p(y) +
    L(x | y) - log q(y)) whenever L(x | y) <= log p(x | y) (Jensen's inequality over
    y, as an ELBO over a discrete latent); it is tight at q = p(y | x). Here q is the
    posterior that ``proposal_scores`` imply, q(y) proportional to p(y) exp(proposal_y).
    When ``scores`` are unbiased estimates of L(x | y) drawn independently of the
    proposal's, the result is an unbiased estimate of a valid bound: the bound is linear
    in L given q. (Plugging the estimates into log sum_y p(y) exp(L_y) instead is biased
    upwards, the log-sum-exp being convex, unless exp L_y is itself an unbiased estimate
    of p(x | y), as an importance-weighted bound's is.)

    Args:
      log_prior: ``[C]`` log p(y).
      proposal_scores: ``[C, B]`` per-class scores that choose q (estimates of L(x | y)).
      scores: ``[C, B]`` estimates of L(x | y), independent of ``proposal_scores``.

    Returns:
      ``[B]`` nats.
    """
    log_joint = jnp.asarray(log_prior)[:, None]
    log_q = jax.nn.log_softmax(log_joint + proposal_scores, axis=0)
    return jnp.sum(jnp.exp(log_q) * (log_joint + scores - log_q), axis=0)
