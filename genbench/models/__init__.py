"""Model families: one file each, thin Flax NNX modules over ``genbench.inference``.

Importing this package does not import jax; ``genbench.models.configs`` holds
the config dataclasses that the CLI checks.
"""
