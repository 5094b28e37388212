"""Divergences to a known source: KL(p || q) on fresh source samples, and the source entropy."""

from __future__ import annotations

import jax
import numpy as np

from genbench import contract
from genbench.metrics.batching import ModelFunction
from genbench.stats import mean_and_se


def source_metrics(model, source, view, eval_cfg, rng: jax.Array):
    """``entropy_source`` and ``kl_to_source`` = E_{x~p}[log p(x) - log q(x)], with errors.

    log q is the model's exact ``log_prob`` where it has one; otherwise its
    IWAE bound with ``eval.nll_k`` samples or its variational bound ``vlb``,
    which makes the estimate an upper bound on the KL (the estimator tag says
    ``iwae_k{K}`` or ``vlb``).

    Args:
      model: NNX module with ``log_prob``, ``iwae_bound`` or ``vlb``.
      source: the dataset; measured only for a ``Source`` that the model sees as
        it is (no dequantisation), so that both densities live on one scale.
      view: the model's ``DataView`` of the dataset.
      eval_cfg: the ``eval`` section (``source_samples``, ``nll_k``, ``batch_size``).
      rng: PRNG key.

    Returns:
      ``(metrics, estimators)``; empty when the dataset is not a source.
    """
    if not contract.is_source(source) or view.dequantized:
        return {}, {}
    k_ent, k_x, k_q = jax.random.split(rng, 3)
    if source.kind == "sequence":
        return _kl_rate(model, source, eval_cfg, k_ent, k_x, k_q)
    entropy = source.entropy(k_ent)
    metrics = {"entropy_source": entropy.value, "entropy_source_se": entropy.se}
    estimators = {"entropy_source": "closed_form" if entropy.se == 0 else "monte_carlo"}
    if "labelled_source" in contract.dataset_capabilities(source) and contract.has(
        model, "log_joint"
    ):
        return _joint_kl(model, source, eval_cfg, k_x, k_q, metrics, estimators)
    if contract.has(model, "log_prob"):
        fn, estimator = (lambda m, x, r: m.log_prob(x)), "exact"
    elif contract.has(model, "iwae_bound"):
        k = eval_cfg.nll_k
        fn, estimator = (lambda m, x, r: m.iwae_bound(x, r, k)), f"iwae_k{k}"
    elif contract.has(model, "vlb"):
        fn, estimator = (lambda m, x, r: m.vlb(x, r)), "vlb"
    else:
        return metrics, estimators
    x = np.asarray(source.sample(k_x, eval_cfg.source_samples))
    log_p = np.asarray(jax.jit(source.log_prob)(x))
    log_q = ModelFunction(model, fn, eval_cfg.batch_size).map(x.reshape(len(x), -1), k_q)
    metrics["kl_to_source"], metrics["kl_to_source_se"] = mean_and_se(log_p - log_q)
    estimators["kl_to_source"] = estimator
    return metrics, estimators


def _joint_kl(model, source, eval_cfg, k_x, k_q, metrics, estimators):
    """kl_to_source over the joint p(x, y) of a labelled source and a class-conditional model."""
    x, y = source.sample_labelled(k_x, eval_cfg.source_samples)
    log_p = np.asarray(jax.jit(source.log_joint_prob)(x, y))
    joint = ModelFunction(model, lambda m, xs, r: m.log_joint(xs), eval_cfg.batch_size)
    log_q_all = joint.map(np.asarray(x), k_q)
    log_q = np.take_along_axis(log_q_all, np.asarray(y)[:, None], axis=1)[:, 0]
    metrics["kl_to_source"], metrics["kl_to_source_se"] = mean_and_se(log_p - log_q)
    estimators["kl_to_source"] = "exact"
    return metrics, estimators


def _kl_rate(model, source, eval_cfg, k_ent, k_x, k_q):
    """kl_rate_to_source = E[log p(x_{1:T}) - log q(x_{1:T})] / T on fresh sequences.

    log p is the source's exact sequence log-probability (DESIGN §5), so a
    perfect model scores 0 at any T; the standard error is across sequences.
    """
    steps, n = eval_cfg.source_steps, eval_cfg.source_samples
    entropy = source.entropy(k_ent, num_steps=steps)
    metrics = {"entropy_rate_source": entropy.value, "entropy_rate_source_se": entropy.se}
    estimators = {"entropy_rate_source": "closed_form" if entropy.se == 0 else "monte_carlo"}
    if not contract.has(model, "log_prob"):
        return metrics, estimators
    states, x = source.sample_with_states(k_x, n, steps)
    log_p = np.asarray(jax.jit(source.log_prob)(x))
    log_q = ModelFunction(model, lambda m, xs, r: m.log_prob(xs), eval_cfg.batch_size).map(
        np.asarray(x), k_q
    )
    metrics["kl_rate_to_source"], metrics["kl_rate_to_source_se"] = mean_and_se(
        (log_p - log_q) / steps
    )
    estimators["kl_rate_to_source"] = "exact"
    # Sources whose "states" are observed (Markov contexts) have no hidden path to decode.
    if contract.has(model, "viterbi") and contract.has_hidden_states(source):
        decoded = ModelFunction(model, lambda m, xs, r: m.viterbi(xs), eval_cfg.batch_size).map(
            np.asarray(x), k_q
        )
        metrics["viterbi_accuracy"] = matched_accuracy(np.asarray(states), decoded)
    return metrics, estimators


def matched_accuracy(true_states: np.ndarray, decoded: np.ndarray) -> float:
    """Fraction of steps where the decoded state equals the true one, after the best
    one-to-one matching of learned to true states (Hungarian algorithm on the confusion)."""
    from scipy.optimize import linear_sum_assignment

    k = int(max(true_states.max(), decoded.max())) + 1
    confusion = np.zeros((k, k))
    np.add.at(confusion, (decoded.ravel(), true_states.ravel()), 1)
    rows, cols = linear_sum_assignment(-confusion)
    return float(confusion[rows, cols].sum() / true_states.size)
