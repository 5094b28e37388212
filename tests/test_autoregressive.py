"""MADE and PixelCNN: autoregressive structure (gradient checks) and exact normalisation."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench.models.made import MADEModel
from genbench.models.masked import MADE, connectivity, layer_degrees
from genbench.models.pixelcnn import PixelCNN


def input_jacobian(logits_fn, x):
    """|d logits[d] / d x[j]| summed over examples and output blocks: ``[D_out, D_in]``."""
    jac = jax.jit(jax.jacfwd(lambda v: logits_fn(v[None])[0]))(x)  # [D, (L,) D]
    if jac.ndim == 3:
        jac = jnp.abs(jac).sum(axis=1)
    return np.abs(np.asarray(jac))


def test_made_masks_connect_each_output_to_earlier_inputs_only():
    dim = 5
    layers = layer_degrees(dim, (7, 9), 2)
    paths = np.linalg.multi_dot([connectivity(*layer) for layer in layers])  # [D, 2D]
    for block in range(2):
        reach = paths[:, block * dim : (block + 1) * dim] > 0  # [input, output]
        assert not np.any(np.triu(reach.T, 0)), "output d reads an input >= d"
        assert np.all(np.tril(reach.T, -1)[1:].sum(axis=1) > 0), "an output reads nothing"


def test_made_jacobian_is_strictly_lower_triangular():
    net = MADE(6, (12, 12), 3, "tanh", rngs=nnx.Rngs(0))
    jac = np.abs(np.asarray(jax.jacfwd(net)(jnp.linspace(-1, 1, 6))))  # [3, D, D]
    for block in jac:
        assert np.all(np.triu(block) == 0)  # output i does not move with input j >= i
        assert np.all(np.diag(block, -1) > 0)  # and does with the input just before it


def test_pixelcnn_receptive_field_is_causal_without_a_blind_spot():
    model = PixelCNN((5, 5), 2, 8, 2, 3, rngs=nnx.Rngs(0))
    x = jax.random.bernoulli(jax.random.key(0), 0.5, (25,)).astype(jnp.float32)
    jac = input_jacobian(model.logits, x)  # [pixel, input pixel]
    assert np.all(np.triu(jac) == 0), "a pixel's logits read itself or a later pixel"
    centre = 2 * 5 + 2
    for before in (centre - 1, centre - 5 - 1, centre - 5, centre - 5 + 1):  # left, row above
        assert jac[centre, before] > 0


@pytest.mark.parametrize("levels", [2, 3])
@pytest.mark.parametrize("family", ["made", "pixelcnn"])
def test_probabilities_of_every_image_sum_to_one_and_samples_follow_them(family, levels):
    if family == "made":
        model = MADEModel(4, levels, (8,), "relu", rngs=nnx.Rngs(0))
    else:
        model = PixelCNN((2, 2), levels, 8, 1, 3, rngs=nnx.Rngs(0))
    every = np.array(list(itertools.product(range(levels), repeat=4)), np.float32)
    probs = np.exp(np.asarray(model.log_prob(every), np.float64))
    assert abs(probs.sum() - 1) < 1e-5
    n = 4000
    samples = np.asarray(model.sample(jax.random.key(1), n))
    codes = samples @ levels ** np.arange(3, -1, -1)
    counts = np.bincount(codes.astype(int), minlength=len(every))
    expected = n * probs
    # Pearson's chi-square over all images: far below its 0.1% tail (df = 15 or 80).
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < (40 if levels == 2 else 130)
