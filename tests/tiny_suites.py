"""A tiny suite for command-line tests: two runs that finish in seconds."""

# Defaults that make any run finish in seconds, and a tiny VAE run.
TINY_DEFAULTS = """
[defaults]
"train.steps" = 20
"train.inner_steps" = 10
"eval.nll_k" = 10
"eval.iwae_k" = [2]
"eval.timing_calls" = 2
"eval.source_samples" = 100
"eval.max_examples" = 100
[[run]]
model = "vae"
dataset = "ring8"
"""

TINY_SUITE = (
    """
description = "two tiny runs"
seeds = {seeds}
"""
    + TINY_DEFAULTS
    + """
[[run]]
model = "autoencoder"
dataset = "digits_binary"
"""
)


def tiny_suite(tmp_path, seeds: int = 1, extra: str = "") -> str:
    """Writes the tiny suite (plus ``extra`` TOML) to ``tmp_path/tiny.toml``; returns its path."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SUITE.format(seeds=seeds) + extra)
    return str(path)
