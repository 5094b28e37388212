"""Classification metrics of models with a class-conditional joint ``log_joint(x) -> [N, C]``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genbench import contract
from genbench.metrics.batching import ModelFunction, test_examples
from genbench.stats import mean_and_se


def classification_metrics(model, dataset, view, eval_cfg, rng: jax.Array):
    """``accuracy`` of arg max_c p(y = c | x) against the test labels.

    Returns:
      ``(metrics, estimators)``; empty unless the model has ``log_joint`` and
      the dataset is labelled.
    """
    if not contract.has(model, "log_joint") or not contract.is_labelled(dataset):
        return {}, {}
    data = test_examples(dataset, eval_cfg)
    labels = np.asarray(dataset.test_labels[: len(data)])

    def predict(m, x, r):
        return jnp.argmax(m.log_joint(view.transform(x.reshape(x.shape[0], -1), r)), axis=-1)

    predicted = ModelFunction(model, predict, eval_cfg.batch_size).map(data, rng)
    accuracy, se = mean_and_se(predicted == labels)
    return {"accuracy": accuracy, "accuracy_se": se}, {}
