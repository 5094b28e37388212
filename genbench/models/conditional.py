"""What the class-conditional variants of the families share: the label as a one-hot input,
the class prior of the training labels, and the check that the data has labels."""

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
