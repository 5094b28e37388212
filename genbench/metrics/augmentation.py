"""Generated data as training data: the Classification Accuracy Score and an augmentation score.

For a model that samples a given class (``sample_class``) on labelled data, the
harness's fixed feature classifier (``genbench.metrics.features``: the same
architecture, standardisation, optimiser, steps and seed) is trained three times
and each time tested on the real test split (capped at ``eval.max_examples``):

- ``real_accuracy``: trained on the real training split. This is the cached
  classifier whose features Fréchet distance and precision/recall use.
- ``cas_accuracy``: the Classification Accuracy Score (Ravuri and Vinyals 2019),
  trained on generated examples only: one per training label, so each class has
  as many as the real training split has.
- ``augmented_accuracy``: trained on the real training split plus those generated
  examples (as many as the real ones); ``augmentation_gain`` = augmented − real,
  with the standard error of the paired per-example difference.

Each accuracy has its ``_se`` over the test examples (a binomial proportion), and
``cas_n`` records the generated examples. Samples are mapped back to the data's
values first (``to_data_space``), as for the other sample metrics. A model that
cannot sample by class gets none of these metrics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genbench import contract
from genbench.metrics.batching import ModelFunction, test_examples
from genbench.metrics.features import feature_extractor, train_classifier
from genbench.metrics.sample_quality import to_data_space
from genbench.stats import mean_and_se


def _sample_class(model, labels: jax.Array, rng: jax.Array) -> jax.Array:
    return model.sample_class(rng, labels.astype(jnp.int32))


def draw_class_samples(model, rng: jax.Array, labels: np.ndarray, batch_size: int) -> np.ndarray:
    """One sample of ``model`` for each of ``labels``, drawn ``batch_size`` at a time.

    Args:
      model: NNX module with ``sample_class(rng, labels)``.
      rng: PRNG key; batch i uses ``fold_in(rng, i)``.
      labels: ``[N]`` integer classes.
      batch_size: samples per compiled call (the last batch is padded).

    Returns:
      ``[N, ...]`` samples in the model's view of the data.
    """
    classes = np.asarray(labels, np.float32)  # carried as floats by the padded batches
    return ModelFunction(model, _sample_class, batch_size).map(classes, rng)


def augmentation_metrics(model, dataset, view, eval_cfg, rng: jax.Array):
    """``cas_accuracy``, ``real_accuracy``, ``augmented_accuracy`` and ``augmentation_gain``.

    Args:
      model: NNX module; measured only if it has ``sample_class``.
      dataset: the ``Dataset``; measured only if labelled with at least two classes.
      view: the model's ``DataView`` of the dataset.
      eval_cfg: the ``eval`` section (``batch_size``, ``max_examples``).
      rng: PRNG key of the generated examples.

    Returns:
      ``(metrics, estimators)``; both empty for a model or dataset the group does not apply to.
    """
    if not contract.has(model, "sample_class") or not contract.is_labelled(dataset):
        return {}, {}
    num_classes = int(dataset.num_classes)
    if num_classes < 2:
        return {}, {}
    train_y = np.asarray(dataset.train_labels, np.int32)
    real_x = np.asarray(dataset.train, np.float32).reshape(len(train_y), -1)
    test_x = test_examples(dataset, eval_cfg)
    test_x = np.asarray(test_x, np.float32).reshape(len(test_x), -1)
    test_y = np.asarray(dataset.test_labels[: len(test_x)])
    samples = draw_class_samples(model, rng, train_y, eval_cfg.batch_size)
    generated = to_data_space(samples, dataset, view)
    if generated.shape != real_x.shape:
        raise ValueError(
            f"{type(model).__name__}.sample_class gives examples of size {generated.shape[1]}, "
            f"but dataset {dataset.name!r} has examples of size {real_x.shape[1]}"
        )
    classifiers = {
        "real": feature_extractor(dataset),
        "cas": train_classifier(generated, train_y, num_classes),
        "augmented": train_classifier(
            np.concatenate([real_x, generated]), np.concatenate([train_y, train_y]), num_classes
        ),
    }
    correct = {name: c.predict(test_x) == test_y for name, c in classifiers.items()}
    metrics: dict[str, float] = {}
    for name, hits in correct.items():
        metrics[f"{name}_accuracy"], metrics[f"{name}_accuracy_se"] = mean_and_se(hits)
    gain = correct["augmented"].astype(np.float64) - correct["real"]
    metrics["augmentation_gain"], metrics["augmentation_gain_se"] = mean_and_se(gain)
    metrics["cas_n"] = float(len(generated))
    return metrics, {}
