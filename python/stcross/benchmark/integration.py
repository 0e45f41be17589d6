"""How joint a joint embedding is: modality mixing and label conservation among latent neighbours.

Both use each cell's nearest neighbours by cosine similarity (the cell itself left out).

- Mixing: the share of a cell's neighbours that come from the other modality, divided by that
  share under perfect mixing (the other modality's cells / all cells), averaged per modality.
  1 means mixed, 0 means the modalities sit apart.
- Label purity: the share of a cell's neighbours that carry its label (e.g. a cell type), to
  check that mixing did not blur biology; compare it with the same score on the input genes.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..neighbors import top_k_similar, unit_rows


def _neighbours(x: np.ndarray, k: int, device: str) -> np.ndarray:
    """Each row's ``k`` most cosine-similar other rows (itself removed)."""
    if not 1 <= k < len(x):
        msg = f"k must lie between 1 and the number of cells - 1 ({len(x) - 1}), got {k}."
        raise InputError(msg)
    unit = unit_rows(np.asarray(x, dtype=np.float32))
    index, _ = top_k_similar(unit, unit, k + 1, device=device)
    rows = np.arange(len(x))[:, None]
    # Drop the cell itself (usually first; identical rows may put it elsewhere), keep k others.
    keep = index != rows
    return np.stack([row[mask][:k] for row, mask in zip(index, keep)])


def mixing_per_cell(z_sc: np.ndarray, z_st: np.ndarray, *, k: int = 20, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Each cell's mixing score (SC cells, ST cells): its share of other-modality neighbours over the expected share."""
    z = np.vstack([z_sc, z_st])
    is_st = np.r_[np.zeros(len(z_sc), bool), np.ones(len(z_st), bool)]
    other = is_st[_neighbours(z, k, device)] != is_st[:, None]
    score = other.mean(1) / (np.where(is_st, len(z_sc), len(z_st)) / len(z))
    return score[~is_st], score[is_st]


def modality_mixing(z_sc: np.ndarray, z_st: np.ndarray, *, k: int = 20, device: str = "cpu") -> tuple[float, float]:
    """Mixing score of the SC and the ST cells in a joint embedding (1 mixed, 0 apart)."""
    sc, st = mixing_per_cell(z_sc, z_st, k=k, device=device)
    return float(sc.mean()), float(st.mean())


def label_purity(x: np.ndarray, labels, *, k: int = 20, device: str = "cpu") -> float:
    """Mean share of a cell's ``k`` nearest cells (cosine on ``x``) that carry its label."""
    labels = np.asarray(labels).astype(str)
    if len(labels) != len(x):
        msg = f"labels has {len(labels)} entries for {len(x)} cells."
        raise InputError(msg)
    return float((labels[_neighbours(x, k, device)] == labels[:, None]).mean())
