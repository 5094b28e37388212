"""A few hundred of a trained model's samples, kept in its record so plots need no re-run."""

from __future__ import annotations

import jax
import numpy as np

from genbench import contract
from genbench.metrics.sample_quality import draw_samples, to_data_space

KEPT_SAMPLES = 256  # enough to show the modes of a 2-D mixture; a small image grid uses the first
KEPT_IMAGES = 64  # images are larger: an 8 x 8 grid
DECIMALS = 4  # 2-D points to 1e-4: far below what a plot can show, and a short record


def kept_samples(model, dataset, view, seed: int) -> dict | None:
    """The samples a record keeps: of 2-D data and of images, from models that sample.

    Args:
      model: the trained NNX module.
      dataset: its ``Dataset`` (or ``Source``).
      view: the model's ``DataView`` of the dataset.
      seed: the run's seed (the samples' key derives from it, apart from the metrics' keys).

    Returns:
      ``{"shape": one example's shape, "values": [[...], ...]}`` in data space (flat
      examples), or None where nothing is kept (no ``sample``; data neither 2-D nor images).
    """
    image = contract.image_shape(dataset)
    planar = dataset.kind == "continuous" and dataset.event_size == 2
    if not contract.has(model, "sample") or (image is None and not planar):
        return None
    n = KEPT_IMAGES if image is not None else KEPT_SAMPLES
    key = jax.random.fold_in(jax.random.key(seed), 0x5A3F)
    flat = to_data_space(draw_samples(model, key, n, n), dataset, view)
    values = np.round(flat.astype(np.float64), DECIMALS)
    return {"shape": list(image or (2,)), "values": values.tolist()}
