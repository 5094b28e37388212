"""The structure of a model's training objective, checked against the contract before compiling.

``loss(batch, rng)`` must return ``(losses, metrics)``: ``losses`` a dict with
one scalar float loss per parameter group (exactly the model's groups) and
``metrics`` a dict of scalars by name. A model that returns anything else
(a bare scalar, a tuple of one, a wrong group name) would otherwise fail deep
inside the compiled step with a ``TypeError`` or ``KeyError``. The shared step
checks the returned structure while it traces ``loss`` (on abstract values,
before anything compiles or computes), and names what was expected beside what
came back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax.numpy as jnp

from genbench.errors import PluginError


def check_loss_structure(model, outputs, groups: Sequence[str]) -> None:
    """Checks that ``outputs``, what ``model.loss`` returned while the shared step traced it,
    are ``({group: scalar}, {name: scalar})``.

    It runs at trace time on abstract values, inside the step's own (single) trace,
    so it costs no extra trace and no computation.

    Args:
      model: the NNX module whose ``loss`` returned ``outputs``.
      outputs: the returned value.
      groups: the model's parameter groups; the loss dict must have exactly these keys.

    Raises:
      PluginError: one line naming the model, what was expected and what came back.
    """
    problem = loss_output_problem(outputs, groups)
    if problem is None:
        return
    name = f"{type(model).__module__}.{type(model).__qualname__}"  # the plugin's own module
    expected = ", ".join(repr(g) for g in groups)
    raise PluginError(
        f"{name}.loss(batch, rng) must return (losses, metrics): losses a dict "
        f"{{group: scalar}} with the groups {expected}, metrics a dict "
        f"{{name: scalar}}; {problem}"
    )


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
