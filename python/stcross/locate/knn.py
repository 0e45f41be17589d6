"""kNN location: the similarity-weighted mean position of a cell's nearest ST cells in the latent space."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..neighbors import softmax_weights, standardize_rows, top_k_similar


def check_n_neighbors(n_neighbors) -> int:
    if isinstance(n_neighbors, bool) or int(n_neighbors) != n_neighbors or n_neighbors < 1:
        msg = f"n_neighbors must be a positive integer, got {n_neighbors}."
        raise InputError(msg)
    return int(n_neighbors)


def position_and_spread(neighbours: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of each cell's neighbour positions (n_query, k, dims), and the root of their
    summed per-axis weighted variances."""
    mean = np.einsum("qk,qkd->qd", weights, neighbours)
    sd = np.sqrt(np.einsum("qk,qk->q", weights, ((neighbours - mean[:, None, :]) ** 2).sum(2)))
    return mean, sd


def knn_locations(
    z_st: np.ndarray,
    coords: np.ndarray,
    z_query: np.ndarray,
    *,
    panel_st: np.ndarray | None = None,
    panel_query: np.ndarray | None = None,
    n_neighbors: int = 10,
    seed: int = 0,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-weighted mean position of the nearest ST cells in latent space.

    Similarity is the Pearson correlation of latent vectors (rows centred, then cosine);
    weights are a softmax at inverse temperature 10 relative to the best neighbour. The
    spread of the neighbours' positions is the uncertainty. ``seed`` seeds the approximate
    index of a large search (:func:`~stcross.neighbors.top_k_similar`); exact searches use no
    randomness. The panel genes are not used.
    """
    n_neighbors = check_n_neighbors(n_neighbors)
    index, similarity = top_k_similar(standardize_rows(z_query), standardize_rows(z_st), n_neighbors, device=str(device), seed=seed)
    weights = softmax_weights(similarity, inverse_temperature=10.0)
    # Dense gather, not neighbors.weighted_mean: the sd needs each neighbour's position, and
    # the sparse product sums in another order (last bits differ).
    return position_and_spread(coords[index], weights)
