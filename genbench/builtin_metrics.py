"""The built-in metric groups, in the order ``evaluate`` measures them (each group's key
derives from its name, so the order sets only the order of a record's metrics)."""

from __future__ import annotations

from genbench.registry import MetricEntry, register_metric


def register_builtin_metrics() -> None:
    """Registers the likelihood, reconstruction, classification, source, sample-quality,
    augmentation and molecule metric groups (``genbench.metrics``)."""
    register_metric(
        MetricEntry(
            "likelihood",
            "genbench.metrics.likelihood:likelihood_metrics",
            "nll, bits_per_dim (sequences: bits_per_token, perplexity, bits_per_char, "
            "next_token_xent), elbo, kl_posterior_prior, iwae_bound_k*, nll_iwae_k*",
            seeds_factory="genbench.metrics.likelihood:likelihood_metrics_seeds",
        )
    )
    register_metric(
        MetricEntry(
            "reconstruction",
            "genbench.metrics.reconstruction:reconstruction_metrics",
            "recon_bce or recon_mse",
        )
    )
    register_metric(
        MetricEntry(
            "classification",
            "genbench.metrics.classification:classification_metrics",
            "accuracy (models with a class-conditional log_joint, labelled data)",
        )
    )
    register_metric(
        MetricEntry(
            "source",
            "genbench.metrics.divergence:source_metrics",
            "entropy_source, kl_to_source (datasets with a known density)",
        )
    )
    register_metric(
        MetricEntry(
            "sample_quality",
            "genbench.metrics.sample_quality:sample_quality_metrics",
            "modes_captured, high_quality_frac, reverse_kl_modes (2-D mixtures), frechet_distance,"
            " precision, recall, log_prob_source_of_samples (models that sample)",
        )
    )
    register_metric(
        MetricEntry(
            "augmentation",
            "genbench.metrics.augmentation:augmentation_metrics",
            "cas_accuracy (classification accuracy score), real_accuracy, augmented_accuracy,"
            " augmentation_gain (models that sample a given class, labelled data)",
        )
    )
    register_metric(
        MetricEntry(
            "molecules",
            "genbench.metrics.molecules:molecule_metrics",
            "validity, uniqueness, novelty of sampled SMILES (MOSES; needs rdkit)",
        )
    )
