"""The joint embedding: each cell's latent taken halfway towards its cross-modal partners'.

The model's latent space keeps a modality offset that its alignment term leaves free (on the
osmFISH pair almost every ST cell's latent neighbours are ST cells); closing it inside training
cost imputation accuracy (benchmarks/REPORT.md, "Options that mix the modalities"). The joint
embedding closes it after training instead, and so leaves imputation untouched:

1. each modality's latents are centred on their own mean (the shared offset goes);
2. each cell is placed at the midpoint of its centred latent and the mean centred latent of its
   ``n_partners`` best cross-modal partners (the partner graph of the shared genes), so that
   cells with matching expression meet while each keeps half of its own position.

Within a modality the map is an average of nearby latents, so cell types stay apart (label
purity is measured in the report, "Integration of the joint space").
"""
from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = ["DEFAULT_JOINT_PARTNERS", "joint_embedding"]

# Partners averaged per cell; 5 mixed all three benchmark pairs (10 and 20 left BDTNP's ST below 0.7).
DEFAULT_JOINT_PARTNERS = 5
_CHUNK = 65_536


def _partner_means(centred_other: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """Mean of each row's partners' latents, gathered in row chunks (bounded memory)."""
    out = np.empty((len(partners), centred_other.shape[1]), np.float32)
    for start in range(0, len(partners), _CHUNK):
        out[start : start + _CHUNK] = centred_other[partners[start : start + _CHUNK]].mean(axis=1)
    return out


def joint_embedding(
    z_sc: np.ndarray,
    z_st: np.ndarray,
    sc_to_st: np.ndarray,
    st_to_sc: np.ndarray,
    *,
    n_partners: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The joint embedding of SC and ST cells from their latents and cross-modal partners.

    Parameters
    ----------
    z_sc, z_st
        Latent means, cells x dimensions (same dimensions).
    sc_to_st, st_to_sc
        Partner indices into the other modality's rows, best first (as in
        :class:`stcross.data.partners.PartnerGraph`).
    n_partners
        Partners averaged per cell, at most the graph's width (``None``: 5, or the
        graph's width when it is narrower).

    Returns
    -------
    ``(e_sc, e_st)``, float32 arrays of the latents' shapes; the inputs are not modified.
    """
    width = min(sc_to_st.shape[1], st_to_sc.shape[1])
    if n_partners is None:
        n_partners = min(DEFAULT_JOINT_PARTNERS, width)
    if isinstance(n_partners, bool) or int(n_partners) != n_partners or n_partners < 1:
        msg = f"n_partners must be a positive integer, got {n_partners!r}."
        raise InputError(msg)
    if n_partners > width:
        msg = f"n_partners={n_partners} but the partner graph holds {width} partners per cell; use at most {width}."
        raise InputError(msg)
    if len(sc_to_st) != len(z_sc) or len(st_to_sc) != len(z_st) or z_sc.shape[1] != z_st.shape[1]:
        msg = (f"Latents {z_sc.shape} (SC) and {z_st.shape} (ST) do not match the partner graph's "
               f"{len(sc_to_st)} SC and {len(st_to_sc)} ST rows.")
        raise InputError(msg)
    k = int(n_partners)
    centred_sc = np.asarray(z_sc, np.float32) - np.asarray(z_sc, np.float64).mean(axis=0).astype(np.float32)
    centred_st = np.asarray(z_st, np.float32) - np.asarray(z_st, np.float64).mean(axis=0).astype(np.float32)
    e_sc = 0.5 * (centred_sc + _partner_means(centred_st, sc_to_st[:, :k]))
    e_st = 0.5 * (centred_st + _partner_means(centred_sc, st_to_sc[:, :k]))
    return e_sc, e_st
