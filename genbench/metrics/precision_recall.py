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
The neighbour searches are scikit-learn's ``NearestNeighbors`` (exact).
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 3  # k of the paper
_CHUNK = 1024  # queries per radius search, bounding memory at _CHUNK * N neighbours


def _nearest_neighbors(**options):
    """scikit-learn's exact ``NearestNeighbors``, imported at first use: importing scikit-learn
    takes about a second, which every ``genbench`` process would pay at start."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(**options)


def knn_radii(features: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Distance of each point to its k-th nearest other point of the set, ``[N]``.

    Args:
      features: ``[N, D]`` points, N > k.
      k: which neighbour.

    Returns:
      ``NN_k(phi, Phi)`` for each point (float64).

    Raises:
      ValueError: N <= k.
    """
    features = np.asarray(features, np.float64)
    if len(features) <= k:
        raise ValueError(f"k-NN manifold needs more than k={k} points, got {len(features)}")
    # k + 1 neighbours: the point itself is the 0-th, at distance 0.
    distances, _ = _nearest_neighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    return distances[:, k]


def manifold_coverage(queries: np.ndarray, support: np.ndarray, k: int = NEIGHBOURS) -> float:
    """Fraction of ``queries`` inside the k-NN manifold of ``support``.

    Args:
      queries: ``[M, D]`` points.
      support: ``[N, D]`` points whose k-NN balls make the manifold, N > k.
      k: neighbourhood size.

    Returns:
      The fraction in [0, 1].
    """
    queries = np.asarray(queries, np.float64)
    support = np.asarray(support, np.float64)
    radii = knn_radii(support, k)
    # Only support points within the largest radius can hold a query in their ball.
    index = _nearest_neighbors(radius=float(radii.max())).fit(support)
    inside = 0
    for start in range(0, len(queries), _CHUNK):
        distances, neighbours = index.radius_neighbors(queries[start : start + _CHUNK])
        rows = np.repeat(np.arange(len(neighbours)), [len(n) for n in neighbours])
        within = np.concatenate(distances) <= radii[np.concatenate(neighbours).astype(np.intp)]
        inside += np.count_nonzero(np.bincount(rows[within], minlength=len(neighbours)))
    return float(inside / len(queries))


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
