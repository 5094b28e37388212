"""Datasets: splits, event shapes and kinds; sources also know their true density.

Importing this package does not import jax; the dataset classes live in
``genbench.data.base`` and the built-in datasets in their own modules.
"""
