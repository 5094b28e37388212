"""The evaluation harness: likelihood, divergence, reconstruction and throughput metrics."""
