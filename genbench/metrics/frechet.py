"""Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, "FID").

For N(mu_1, C_1) and N(mu_2, C_2),

    FD = ||mu_1 - mu_2||^2 + tr C_1 + tr C_2 - 2 tr (C_1^{1/2} C_2 C_1^{1/2})^{1/2},

the squared 2-Wasserstein distance between the two Gaussians. The trace of the
matrix square root is computed from eigen-decompositions of symmetric
positive semi-definite matrices in float64 (C_1^{1/2} from ``eigh`` of C_1,
then the eigenvalues of the symmetric C_1^{1/2} C_2 C_1^{1/2}, clipped at 0),
which needs no ``sqrtm`` of a non-symmetric product and no ad-hoc ``eps * I``
for singular covariances. The estimate from samples is biased upwards in the
sample size n, so records report n beside it (``frechet_distance_n``).
"""

from __future__ import annotations

import numpy as np


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric PSD matrix (negative eigenvalues clipped)."""
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def gaussian_frechet_distance(
    mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray
) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2).

    Args:
      mu1, mu2: ``[D]`` means.
      cov1, cov2: ``[D, D]`` symmetric PSD covariances.

    Returns:
      the distance, >= 0 (float64 arithmetic).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    root1 = _psd_sqrt(0.5 * (cov1 + cov1.T))
    middle = root1 @ (0.5 * (cov2 + cov2.T)) @ root1
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (middle + middle.T)), 0.0, None)))
    value = np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * cross
    return float(max(value, 0.0))


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted (mean, unbiased covariance) to ``x`` and ``y``.

    Args:
      x: ``[N, D]`` features of one set (e.g. model samples).
      y: ``[M, D]`` features of the other (e.g. real data); N, M >= 2.

    Returns:
      FD as a float.
    """
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    cov_x = np.atleast_2d(np.cov(x, rowvar=False))
    cov_y = np.atleast_2d(np.cov(y, rowvar=False))
    return gaussian_frechet_distance(x.mean(0), cov_x, y.mean(0), cov_y)
