"""Likelihood metrics by capability: exact ``log_prob``, ELBO, KL term, IWAE bounds and a
diffusion model's variational bound (``vlb``).

All values are nats per example of the *dataset's* values: the data view's
log-Jacobian is added, so a continuous model of dequantised grey digits is
compared on the discrete data (DESIGN §5).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from genbench import contract
from genbench.metrics.batching import (
    ModelFunction,
    SeedsFunction,
    stacked_states,
    test_examples,
)
from genbench.stats import mean_and_se

# The estimator tag of an exact density of dequantised data: E_u[log q((x + u) / L)] plus
# the log-Jacobian lower-bounds the discrete log P(x) (Theis et al. 2016, section 3.1), so
# its nll and bits_per_dim are upper bounds on the discrete data's, not exact values.
DEQUANTIZED_BOUND = "dequantized_bound"


def exact_estimator(model, dataset) -> str:
    """The tag of ``model``'s exact ``log_prob`` on ``dataset``: ``exact``, or
    ``DEQUANTIZED_BOUND`` for a continuous density of binary or discrete data."""
    dequantized = model.input_kind == "continuous" and dataset.kind in ("binary", "discrete")
    return DEQUANTIZED_BOUND if dequantized else "exact"


def likelihood_metrics(model, dataset, view, eval_cfg, rng: jax.Array):
    """Every likelihood-type metric ``model`` supports, on the test split of ``dataset``.

    Args:
      model: NNX module; capabilities used: ``log_prob(x)``, ``elbo(x, rng)``,
        ``kl_posterior_prior(x)``, ``iwae_bound(x, rng, k)``, ``vlb(x, rng)``.
      dataset: the ``Dataset``; its test split (capped at ``eval.max_examples``) is used.
      view: the ``DataView`` of the dataset for this model.
      eval_cfg: the ``eval`` config section (``iwae_k``, ``nll_k``, ``batch_size``).
      rng: PRNG key of the evaluation.

    Returns:
      ``(metrics, estimators)``: metric name -> value (``_se`` for standard
      errors) and likelihood metric name -> how it was estimated.
    """
    return likelihood_metrics_seeds([model], dataset, view, eval_cfg, [rng])[0]


def likelihood_metrics_seeds(models, dataset, view, eval_cfg, rngs) -> list[tuple[dict, dict]]:
    """``likelihood_metrics`` of each of a seed group's models, each per-example function
    run once for all of them (``SeedsFunction``: vmapped over the models' states).

    Args:
      models: trained models of one structure (a seed group's); one model is measured
        without the seed axis.
      dataset, view, eval_cfg: as for ``likelihood_metrics``.
      rngs: one evaluation key per model.

    Returns:
      One ``(metrics, estimators)`` per model, what ``likelihood_metrics`` gives it alone.
    """
    data = test_examples(dataset, eval_cfg)
    model = models[0]  # capabilities belong to the class: equal for every seed
    results = [({}, {}) for _ in models]
    jac = view.log_jacobian

    def flat(x):
        return x.reshape(x.shape[0], -1)

    states = stacked_states(models) if len(models) > 1 else None  # once for every function

    def per_example(fn, key) -> np.ndarray:  # [seeds, examples]
        keys = [jax.random.fold_in(rng, key) for rng in rngs]
        if len(models) == 1:
            return ModelFunction(model, fn, eval_cfg.batch_size).map(data, keys[0])[None]
        seeds = SeedsFunction(models, fn, eval_cfg.batch_size, states)
        return seeds.map(data, jnp.stack(keys))

    def record(name, values, estimator=None):
        for (metrics, estimators), row in zip(results, values, strict=True):
            metrics[name], metrics[f"{name}_se"] = mean_and_se(row)
            if estimator is not None:
                estimators[name] = estimator

    if contract.has(model, "log_prob"):
        log_p = per_example(lambda m, x, r: m.log_prob(view.transform(flat(x), r)), 1) + jac
        record("nll", -log_p, exact_estimator(model, dataset))
    if contract.has(model, "elbo"):
        elbo = per_example(lambda m, x, r: m.elbo(view.transform(flat(x), r), r), 2) + jac
        record("elbo", elbo, "elbo")
    if contract.has(model, "kl_posterior_prior"):
        kl = per_example(lambda m, x, r: m.kl_posterior_prior(view.transform(flat(x), r)), 3)
        record("kl_posterior_prior", kl, "closed_form")
    if contract.has(model, "iwae_bound"):
        for k in sorted({*eval_cfg.iwae_k, eval_cfg.nll_k}):
            bound = (
                per_example(
                    lambda m, x, r, k=k: m.iwae_bound(view.transform(flat(x), r), r, k), 100 + k
                )
                + jac
            )
            if k in eval_cfg.iwae_k:
                record(f"iwae_bound_k{k}", bound, f"iwae_k{k}")
            if k == eval_cfg.nll_k:
                record(f"nll_iwae_k{k}", -bound, f"iwae_k{k}")
    nll_known = {"nll", f"nll_iwae_k{eval_cfg.nll_k}"} & results[0][0].keys()
    if contract.has(model, "vlb") and not nll_known:
        # A diffusion model's variational bound: -vlb is an upper bound on nll.
        bound = per_example(lambda m, x, r: m.vlb(view.transform(flat(x), r), r), 4) + jac
        record("nll", -bound, "vlb")
    for trained, (metrics, estimators) in zip(models, results, strict=True):
        _derived_metrics(trained, dataset, data, eval_cfg, metrics, estimators)
    return results


def _derived_metrics(model, dataset, data, eval_cfg, metrics: dict, estimators: dict) -> None:
    """Adds to one model's likelihood metrics what follows from them: the IWAE nll where
    there is no exact one, per-token and per-dimension units, next-token cross-entropy."""
    if "nll" not in metrics and (name := f"nll_iwae_k{eval_cfg.nll_k}") in metrics:
        metrics["nll"], metrics["nll_se"] = metrics[name], metrics[f"{name}_se"]
        estimators["nll"] = estimators[name]
    if "nll" in metrics and dataset.kind == "sequence":
        # Sequences: nats and bits per token (step), not per sequence.
        steps = data.shape[1]
        for name in [k for k in metrics if k.startswith(("nll", "elbo", "iwae_bound"))]:
            metrics[name] /= steps
        metrics["bits_per_token"] = metrics["nll"] / math.log(2)
        estimators["bits_per_token"] = estimators["nll"]
        # Perplexity exp(nll per token); for character-level data also bits per character.
        metrics["perplexity"] = math.exp(min(metrics["nll"], 700.0))
        estimators["perplexity"] = estimators["nll"]
        if contract.is_char_level(dataset):
            metrics["bits_per_char"] = metrics["bits_per_token"]
            estimators["bits_per_char"] = estimators["nll"]
        if contract.has(model, "log_prob") and (window := contract.train_window(model)):
            windows = block_windows(data, window)
            if len(windows):
                xent = next_token_xent(model, windows, eval_cfg)
                metrics["next_token_xent"], metrics["next_token_xent_se"] = mean_and_se(xent)
                estimators["next_token_xent"] = "exact"
    elif "nll" in metrics:
        dim = int(np.prod(data.shape[1:]))
        metrics["bits_per_dim"] = metrics["nll"] / (dim * math.log(2))
        estimators["bits_per_dim"] = estimators["nll"]


def block_windows(rows: np.ndarray, window: int) -> np.ndarray:
    """Windows ``[M, window]`` of a model's block cut from sequence ``rows [N, L]``.

    Each row gives the windows starting at 0, B, 2B, ... (B = window - 1) that fit
    in it, so that every target after a row's first token (up to the last full
    window) is scored once, with contexts of 1..B tokens as in nanoGPT's random
    windows; empty when the rows are shorter than one window.
    """
    length = rows.shape[1]
    starts = range(0, length - window + 1, window - 1)
    return np.concatenate([rows[:, s : s + window] for s in starts]) if starts else rows[:0]


def next_token_xent(model, windows: np.ndarray, eval_cfg) -> np.ndarray:
    """nanoGPT's loss of each window: the mean cross-entropy (nats) of its tokens 1..B.

    A window's next-token log-probabilities sum to log q(x_{0:B}) - log q(x_0), so
    only the model's exact ``log_prob`` is needed, and genbench's first-token term
    (which nanoGPT does not have) drops out.

    Args:
      model: a sequence model with ``log_prob``.
      windows: ``[M, B + 1]`` symbol windows (``block_windows``).
      eval_cfg: the ``eval`` config section (``batch_size``).

    Returns:
      ``[M]`` mean next-token cross-entropies.
    """

    def conditional(m, x, rng):
        del rng
        return m.log_prob(x) - m.log_prob(x[:, :1])

    log_q = ModelFunction(model, conditional, eval_cfg.batch_size).map(windows, jax.random.key(0))
    return -log_q / (windows.shape[1] - 1)
