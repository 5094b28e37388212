"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-nearest-neighbour manifolds.

The manifold of a feature set Phi is the union of balls centred at each
phi in Phi with radius the distance to its k-th nearest neighbour in Phi
(itself excluded), NN_k(phi, Phi):

    f(psi, Phi) = 1  if  ||psi - phi|| <= NN_k(phi, Phi)  for some phi in Phi, else 0,
    precision   = (1/|Phi_g|) sum_{psi in Phi_g} f(psi, Phi_r),
    recall      = (1/|Phi_r|) sum_{psi in Phi_r} f(psi, Phi_g),

with Phi_r real and Phi_g generated features, k = 3 as in the paper.
Precision is the fraction of samples that look real; recall the fraction of
real data the model covers. Both depend on the set sizes, so records report n.
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 3  # k of the paper
_CHUNK = 1024  # rows of a distance block, bounding memory at _CHUNK * N floats


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``[len(a), len(b)]`` (float64, clipped at 0)."""
    d = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def knn_radii(features: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Squared distance of each point to its k-th nearest other point of the set, ``[N]``."""
    features = np.asarray(features, np.float64)
    if len(features) <= k:
        raise ValueError(f"k-NN manifold needs more than k={k} points, got {len(features)}")
    radii = []
    for start in range(0, len(features), _CHUNK):
        d = _sq_distances(features[start : start + _CHUNK], features)
        # column k: the point itself is the 0-th neighbour at distance 0
        radii.append(np.partition(d, k, axis=1)[:, k])
    return np.concatenate(radii)


def manifold_coverage(queries: np.ndarray, support: np.ndarray, k: int = NEIGHBOURS) -> float:
    """Fraction of ``queries`` inside the k-NN manifold of ``support``."""
    queries = np.asarray(queries, np.float64)
    support = np.asarray(support, np.float64)
    radii = knn_radii(support, k)
    inside = []
    for start in range(0, len(queries), _CHUNK):
        d = _sq_distances(queries[start : start + _CHUNK], support)
        inside.append(np.any(d <= radii[None, :], axis=1))
    return float(np.mean(np.concatenate(inside)))


def precision_recall(
    real: np.ndarray, generated: np.ndarray, k: int = NEIGHBOURS
) -> tuple[float, float]:
    """Improved precision and recall of ``generated`` against ``real`` features.

    Args:
      real: ``[N, D]`` real features.
      generated: ``[M, D]`` generated features.
      k: neighbourhood size of the manifolds (3 in the paper).

    Returns:
      ``(precision, recall)``, each in [0, 1].
    """
    real = np.asarray(real, np.float64).reshape(len(real), -1)
    generated = np.asarray(generated, np.float64).reshape(len(generated), -1)
    return manifold_coverage(generated, real, k), manifold_coverage(real, generated, k)
