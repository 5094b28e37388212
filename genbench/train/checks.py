"""The structure of a model's training objective, checked against the contract before compiling.

``loss(batch, rng)`` must return ``(losses, metrics)``: ``losses`` a dict with
one scalar float loss per parameter group (exactly the model's groups) and
``metrics`` a dict of scalars by name. A model that returns anything else
(a bare scalar, a tuple of one, a wrong group name) would otherwise fail deep
inside the compiled step with a ``TypeError`` or ``KeyError``. The check runs
``loss`` under ``jax.eval_shape``: it traces once on abstract values, computes
nothing, and names what was expected beside what came back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from genbench.errors import PluginError


def check_loss_outputs(model, batch, rng: jax.Array, groups: Sequence[str]) -> None:
    """Checks that ``model.loss(batch, rng)`` returns ``({group: scalar}, {name: scalar})``.

    Args:
      model: an NNX module with ``loss``.
      batch: a batch as the step passes it (arrays or ``jax.ShapeDtypeStruct``s).
      rng: a PRNG key.
      groups: the model's parameter groups; the loss dict must have exactly these keys.

    Raises:
      PluginError: one line naming the model, what was expected and what came back.
    """
    graphdef, state = nnx.split(model)
    name = f"{type(model).__module__}.{type(model).__qualname__}"  # the plugin's own module

    def traced(state, batch, rng):
        outputs = nnx.merge(graphdef, state).loss(batch, rng)
        problem = loss_output_problem(outputs, groups)
        if problem is not None:
            expected = ", ".join(repr(g) for g in groups)
            raise PluginError(
                f"{name}.loss(batch, rng) must return (losses, metrics): losses a dict "
                f"{{group: scalar}} with the groups {expected}, metrics a dict "
                f"{{name: scalar}}; {problem}"
            )

    jax.eval_shape(traced, state, batch, rng)


def loss_output_problem(outputs, groups: Sequence[str]) -> str | None:
    """What is wrong with ``loss``'s return value (``None`` when it follows the contract).

    Args:
      outputs: what ``loss`` returned (traced values).
      groups: the model's parameter groups.

    Returns:
      A phrase such as ``"got a float32 scalar"`` or ``"losses has 'gen', not 'generator'"``.
    """
    if not isinstance(outputs, tuple | list) or len(outputs) != 2:
        return f"got {describe(outputs)}"
    losses, metrics = outputs
    if not isinstance(losses, Mapping):
        return f"losses is {describe(losses)}"
    if set(losses) != set(groups):
        got = ", ".join(repr(k) for k in losses) or "no keys"
        return f"losses has {got}, not {', '.join(repr(g) for g in groups)}"
    for group, value in losses.items():
        if not _is_scalar(value, float_only=True):
            return f"losses[{group!r}] is {describe(value)}, not a float scalar"
    if not isinstance(metrics, Mapping):
        return f"metrics is {describe(metrics)}"
    for key, value in metrics.items():
        if not isinstance(key, str):
            return f"metrics has the key {key!r}, not a string"
        if not _is_scalar(value, float_only=False):
            return f"metrics[{key!r}] is {describe(value)}, not a scalar"
    return None


def _is_scalar(value, float_only: bool) -> bool:
    try:
        dtype = jnp.result_type(value)
    except TypeError:
        return False
    kind = jnp.floating if float_only else jnp.number
    return jnp.shape(value) == () and jnp.issubdtype(dtype, kind)


def describe(value) -> str:
    """A short description of a value for an error: ``a float32 array of shape (3,)``."""
    if isinstance(value, Mapping):
        return f"a dict with keys {', '.join(repr(k) for k in value) or '(none)'}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    try:
        dtype, shape = jnp.result_type(value), jnp.shape(value)
    except TypeError:
        return f"a {type(value).__name__}"
    article = "an" if str(dtype)[0] in "aeiou" else "a"  # an int32, a float32
    what = "scalar" if shape == () else f"array of shape {shape}"
    return f"{article} {dtype} {what}"


def example_batch(feeder, transform) -> object:
    """The abstract batch (shapes and dtypes) that the shared step passes to ``loss``.

    Built as ``TrainStep._one_step`` builds it: the feeder's batch of step 0,
    the view's transform applied to the features (the first item of a
    ``(features, labels)`` tuple).
    """

    def make(data, inputs, key):
        k_data, k_view = jax.random.split(key)
        batch = feeder.batch(data, inputs, jnp.int32(0), k_data)
        if isinstance(batch, tuple):
            return (transform(batch[0], k_view), *batch[1:])
        return transform(batch, k_view)

    return jax.eval_shape(make, feeder.data, feeder.call_inputs(0), jax.random.key(0))


def check_step_loss(model, step_fn) -> None:
    """``check_loss_outputs`` of ``model`` on the batch its shared step ``step_fn`` will pass."""
    batch = example_batch(step_fn.feeder, step_fn.transform)
    check_loss_outputs(model, batch, jax.random.key(0), step_fn.groups)
