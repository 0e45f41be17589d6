"""Cross-modal partner graph: each cell's k most similar cells of the other modality.

The paper builds a dense SC x ST correlation matrix; that is O(N*M) memory and fails at
tens of thousands of cells. We only keep what is used, the top-k lists, computed one
chunk of query cells at a time (:func:`~stcross.neighbors.top_k_similar`), so memory is
O((N + M) * k + chunk * M).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..neighbors import standardize_rows, top_k_similar


@dataclass(frozen=True)
class PartnerGraph:
    """Top-k cross-modal neighbours in both directions.

    Attributes
    ----------
    st_to_sc, sc_to_st
        Integer arrays (n_st, k) and (n_sc, k): partner indices, most similar first.
    st_to_sc_sim, sc_to_st_sim
        The matching Pearson similarities on the shared genes.
    """

    st_to_sc: np.ndarray
    sc_to_st: np.ndarray
    st_to_sc_sim: np.ndarray
    sc_to_st_sim: np.ndarray


def joint_pca(a: np.ndarray, b: np.ndarray, n_pcs: int) -> tuple[np.ndarray, np.ndarray]:
    """Project two feature matrices (same columns) onto principal axes fitted on both.

    Each modality contributes equally to the axes, whatever its number of cells. The
    axes come from the genes x genes scatter matrix (exact and deterministic; panels
    have at most a few thousand genes).
    """
    if n_pcs <= 0 or n_pcs >= a.shape[1]:
        return a, b
    scatter = a.T @ a / len(a) + b.T @ b / len(b)
    _, vectors = np.linalg.eigh(scatter.astype(np.float64))
    axes = vectors[:, ::-1][:, :n_pcs].astype(a.dtype)
    return a @ axes, b @ axes


def build_partner_graph(
    features_sc: np.ndarray,
    features_st: np.ndarray,
    k: int,
    *,
    n_pcs: int = 50,
    device: str = "cpu",
) -> PartnerGraph:
    """Build the partner graph from per-gene standardised features on the shared genes."""
    a, b = joint_pca(features_sc, features_st, n_pcs)
    a, b = standardize_rows(a), standardize_rows(b)
    st_to_sc, st_to_sc_sim = top_k_similar(b, a, k, device=device)
    sc_to_st, sc_to_st_sim = top_k_similar(a, b, k, device=device)
    return PartnerGraph(st_to_sc, sc_to_st, st_to_sc_sim, sc_to_st_sim)
