"""Nearest-neighbour imputation baselines that a cross-modal model has to beat.

Both baselines match every ST cell to its most similar SC cells on the panel genes (the
ST genes also in SC) and average what those SC cells express:

- :func:`knn_library_baseline` (``knn200``): softmax(temperature x Pearson) weights over the
  200 most similar SC cells; with counts, it averages expression *fractions* (SC counts over
  the SC cell's panel total) and multiplies by the ST cell's own panel total, so the
  prediction is on the ST count scale. Library size alone explains much of a raw-count
  correlation; this baseline gets that part for free.
- :func:`naive_topk_baseline` (``naive50``): plain mean of the raw SC expression of the 50
  most similar SC cells, no library scaling.

Similarity: each modality's panel matrix is log-normalised (counts: scaled to 1e4 per cell
over the panel genes, then log1p; non-counts: used as given), z-scored per gene within its
modality, and compared by Pearson correlation across genes. Similarities are computed for
one chunk of ST cells at a time, so memory is O(chunk x n_sc), never O(n_st x n_sc).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..neighbors import (
    softmax_weights,
    standardize_rows,
    top_k_similar,
    weight_matrix,
    weighted_mean,
)

__all__ = ["knn_library_baseline", "naive_topk_baseline", "panel_genes"]

logger = logging.getLogger(__name__)

_TARGET_SUM = 1e4
# Elements of one chunk x n_sc float64 similarity block (32 MiB).
_CHUNK_ELEMENTS = 2**22


def panel_genes(adata_sc: ad.AnnData, adata_st: ad.AnnData) -> list[str]:
    """ST genes also measured in SC, in ST order (exact name match).

    Parameters
    ----------
    adata_sc, adata_st
        The two modalities.

    Returns
    -------
    The shared gene names.

    Raises
    ------
    ValueError
        If gene names repeat within a modality or no gene is shared.
    """
    for name, adata in (("adata_sc", adata_sc), ("adata_st", adata_st)):
        if not isinstance(adata, ad.AnnData):
            msg = f"{name} must be an AnnData, got {type(adata).__name__}."
            raise TypeError(msg)
        if not adata.var_names.is_unique:
            dup = adata.var_names[adata.var_names.duplicated()].unique().tolist()
            msg = f"{name} has duplicated gene names: {dup[:10]}."
            raise ValueError(msg)
        if adata.n_obs == 0 or adata.n_vars == 0:
            msg = f"{name} is empty ({adata.n_obs} cells x {adata.n_vars} genes)."
            raise ValueError(msg)
    sc_genes = set(adata_sc.var_names)
    shared = [g for g in adata_st.var_names if g in sc_genes]
    if not shared:
        msg = (
            "No ST gene is among the SC genes (names are matched exactly, case included): "
            f"ST has e.g. {adata_st.var_names[:5].tolist()}, SC e.g. {adata_sc.var_names[:5].tolist()}."
        )
        raise ValueError(msg)
    return shared


def layer_matrix(adata: ad.AnnData, layer: str | None, name: str):
    if layer is None:
        x = adata.X
    elif layer in adata.layers:
        x = adata.layers[layer]
    else:
        msg = f"{name} has no layer {layer!r}; layers: {list(adata.layers)}."
        raise ValueError(msg)
    if x is None:
        msg = f"{name} has no expression matrix (X is None)."
        raise ValueError(msg)
    return x


def _columns(x, idx: np.ndarray, *, dense: bool):
    """Columns ``idx`` of a dense or sparse matrix, as float64 (dense if asked)."""
    if sp.issparse(x):
        block = sp.csr_matrix(x)[:, idx]
        return block.toarray().astype(np.float64) if dense else block.astype(np.float64)
    return np.asarray(x)[:, idx].astype(np.float64)


def _check_values(x, name: str, *, counts: bool) -> None:
    values = x.data if sp.issparse(x) else np.asarray(x)
    if not np.all(np.isfinite(values)):
        msg = f"{name} contains NaN or infinite values."
        raise ValueError(msg)
    if counts and values.size and values.min() < 0:
        msg = f"{name} has negative values; with counts=True the data must be non-negative counts."
        raise ValueError(msg)


def _log_normalise(x: np.ndarray) -> np.ndarray:
    """normalize_total(1e4) over the given genes, then log1p; all-zero cells stay zero.

    Not :func:`stcross.data.features.log_normalize`: that one is sparse float32 and multiplies by
    1e4 / library, which differs from this float64 x / library * 1e4 in the last bits.
    """
    lib = x.sum(axis=1, keepdims=True)
    return np.log1p(x / np.where(lib > 0, lib, 1.0) * _TARGET_SUM)


def _zscore_stats(panel: np.ndarray, counts: bool, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and sd (ddof 0) of the features, accumulated chunk by chunk."""
    n = panel.shape[0]
    total = np.zeros(panel.shape[1])
    for start in range(0, n, chunk):
        block = panel[start : start + chunk]
        total += (_log_normalise(block) if counts else block).sum(axis=0)
    mean = total / n
    sq = np.zeros(panel.shape[1])
    for start in range(0, n, chunk):
        block = panel[start : start + chunk]
        sq += (((_log_normalise(block) if counts else block) - mean) ** 2).sum(axis=0)
    sd = np.sqrt(sq / n)
    # A gene constant within a modality carries no signal there: it becomes 0 after centring.
    return mean, np.where(sd > 0, sd, 1.0)


def _features(block: np.ndarray, counts: bool, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    f = _log_normalise(block) if counts else block
    # eps=0: only an exactly constant row is special (it becomes 0, matching nothing).
    return standardize_rows((f - mean) / sd, eps=0.0)


def _neighbour_predict(
    sc_panel: np.ndarray,
    st_panel: np.ndarray,
    sc_target,
    *,
    k: int,
    temperature: float | None,
    counts: bool,
    st_scale: np.ndarray | None,
    chunk_size: int | None,
) -> np.ndarray:
    """Average ``sc_target`` rows over each ST cell's most similar SC cells.

    ``temperature=None`` gives equal weights (1/k); otherwise softmax(temperature x Pearson)
    over the k neighbours. ``st_scale`` (if given) multiplies each ST cell's prediction.
    Returns a dense float32 (n_st, n_target_genes) array.
    """
    n_sc, n_st = sc_panel.shape[0], st_panel.shape[0]
    k = min(int(k), n_sc)
    if chunk_size is None:
        chunk_size = max(16, _CHUNK_ELEMENTS // n_sc)
    chunk_size = max(1, min(int(chunk_size), n_st))

    sc_mean, sc_sd = _zscore_stats(sc_panel, counts, chunk_size)
    reference = _features(sc_panel, counts, sc_mean, sc_sd)
    st_mean, st_sd = _zscore_stats(st_panel, counts, chunk_size)

    out = np.empty((n_st, sc_target.shape[1]), dtype=np.float32)
    for start in range(0, n_st, chunk_size):
        stop = min(start + chunk_size, n_st)
        query = _features(st_panel[start:stop], counts, st_mean, st_sd)
        # One block per call: this loop already chunks. float64 in NumPy, neighbours unsorted.
        idx, top = top_k_similar(query, reference, k, chunk_size=len(query), dtype=np.float64, sort=False)
        if temperature is None:
            weights = np.full(top.shape, 1.0 / k)
        else:
            # Scaled before the shift to the best (temperature 1 leaves the logits as they are):
            # the order this baseline was always computed in, which sets the last bits.
            weights = softmax_weights(temperature * top, temperature=1.0)
        # Each ST cell's k weights as a sparse row: the average is one sparse product.
        pred = weighted_mean(weight_matrix(idx, weights, n_sc), sc_target)
        if st_scale is not None:
            pred = pred * st_scale[start:stop, None]
        out[start:stop] = pred
    return out


def _baseline(
    adata_sc: ad.AnnData,
    adata_st: ad.AnnData,
    *,
    method: str,
    genes: Sequence[str] | None,
    k: int,
    temperature: float | None,
    counts: bool,
    library_scaling: bool,
    layer_sc: str | None,
    layer_st: str | None,
    chunk_size: int | None,
) -> ad.AnnData:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        msg = f"k must be a positive integer, got {k!r}."
        raise ValueError(msg)
    if temperature is not None and not (np.isfinite(temperature) and temperature > 0):
        msg = f"temperature must be a positive number, got {temperature!r}."
        raise ValueError(msg)
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
        msg = f"chunk_size must be a positive integer or None, got {chunk_size!r}."
        raise ValueError(msg)
    panel = panel_genes(adata_sc, adata_st)
    n_unmatched = adata_st.n_vars - len(panel)
    if n_unmatched:
        logger.info("%s: %d ST genes are not in SC and are not used for matching.", method, n_unmatched)

    genes = list(adata_sc.var_names) if genes is None else [str(g) for g in genes]
    if not genes:
        msg = "genes is empty: name at least one SC gene to predict."
        raise ValueError(msg)
    if len(set(genes)) != len(genes):
        msg = "genes has repeated names."
        raise ValueError(msg)
    missing = [g for g in genes if g not in adata_sc.var_names]
    if missing:
        msg = f"{len(missing)} requested genes are not SC genes, e.g. {[str(g) for g in missing[:5]]}."
        raise ValueError(msg)

    x_sc = layer_matrix(adata_sc, layer_sc, "adata_sc")
    x_st = layer_matrix(adata_st, layer_st, "adata_st")
    _check_values(x_sc, "adata_sc", counts=counts)
    _check_values(x_st, "adata_st", counts=counts)

    sc_panel = _columns(x_sc, adata_sc.var_names.get_indexer(panel), dense=True)
    st_panel = _columns(x_st, adata_st.var_names.get_indexer(panel), dense=True)
    sc_target = _columns(x_sc, adata_sc.var_names.get_indexer(genes), dense=False)

    keep = np.ones(adata_sc.n_obs, dtype=bool)
    st_scale = None
    if counts:
        sc_lib = sc_panel.sum(axis=1)
        # No panel counts: no similarity signal and an undefined expression fraction.
        keep = sc_lib > 0
        if not keep.any():
            msg = "Every SC cell has zero counts on the panel genes; nothing to match ST cells to."
            raise ValueError(msg)
        if not keep.all():
            logger.info(
                "%s: %d SC cells with no counts on the %d panel genes are left out of the reference.",
                method,
                int((~keep).sum()),
                len(panel),
            )
        sc_panel, sc_target, sc_lib = sc_panel[keep], sc_target[keep], sc_lib[keep]
        if library_scaling:
            if sp.issparse(sc_target):
                sc_target = sp.csr_matrix(sc_target.multiply(1.0 / sc_lib[:, None]))
            else:
                sc_target = sc_target / sc_lib[:, None]
            st_scale = st_panel.sum(axis=1)

    pred = _neighbour_predict(
        sc_panel,
        st_panel,
        sc_target,
        k=k,
        temperature=temperature,
        counts=counts,
        st_scale=st_scale,
        chunk_size=chunk_size,
    )
    result = ad.AnnData(
        X=pred,
        obs=adata_st.obs.copy(),
        var=pd.DataFrame(index=pd.Index(genes, name=None)),
        obsm={key: value.copy() for key, value in adata_st.obsm.items()},
    )
    result.uns["stcross_baseline"] = {
        "method": method,
        "k": int(min(k, int(keep.sum()))),
        "temperature": None if temperature is None else float(temperature),
        "counts": bool(counts),
        "library_scaling": bool(library_scaling and counts),
        "n_panel_genes": len(panel),
        "n_sc_cells_used": int(keep.sum()),
    }
    return result


def knn_library_baseline(
    adata_sc: ad.AnnData,
    adata_st: ad.AnnData,
    *,
    genes: Sequence[str] | None = None,
    k: int = 200,
    temperature: float = 10.0,
    counts: bool = True,
    layer_sc: str | None = None,
    layer_st: str | None = None,
    chunk_size: int | None = None,
) -> ad.AnnData:
    """Similarity-weighted neighbour average with library scaling (the ``knn200`` baseline).

    For each ST cell: take its ``k`` most similar SC cells (Pearson correlation across the
    panel genes, each modality log-normalised and z-scored per gene), weight them by
    ``softmax(temperature x Pearson)``, and average

    - with ``counts=True``: their expression fractions (SC counts divided by the SC cell's
      total over the panel genes), times the ST cell's own total over the panel genes;
    - with ``counts=False`` (log-scale or in-situ intensities, no normalisation, only the
      per-gene z-score for matching): their expression values as given.

    The panel is every ST gene also in SC; pass ``adata_st[:, kept_genes]`` to hide genes.
    SC cells with no counts on the panel genes (counts only) are left out of the reference
    and the number is logged. Similarities are computed for one chunk of ST cells at a time.

    Parameters
    ----------
    adata_sc
        Single-cell reference (cells x genes).
    adata_st
        Spatial cells x panel genes.
    genes
        SC genes to predict; default all SC genes.
    k
        Number of neighbours (capped at the number of SC cells).
    temperature
        Softmax inverse temperature applied to the Pearson similarities.
    counts
        Whether both matrices hold counts (see above).
    layer_sc, layer_st
        Layers to read instead of ``X``.
    chunk_size
        ST cells per similarity block; default keeps a block near 4 million entries.

    Returns
    -------
    AnnData of ST cells x ``genes`` with ``X`` = prediction (float32), ``obs`` and ``obsm``
    copied from ``adata_st``, and ``uns["stcross_baseline"]`` (method, k, temperature,
    counts, library_scaling, n_panel_genes, n_sc_cells_used).
    """
    return _baseline(
        adata_sc,
        adata_st,
        method="knn_library",
        genes=genes,
        k=k,
        temperature=temperature,
        counts=counts,
        library_scaling=True,
        layer_sc=layer_sc,
        layer_st=layer_st,
        chunk_size=chunk_size,
    )


def naive_topk_baseline(
    adata_sc: ad.AnnData,
    adata_st: ad.AnnData,
    *,
    genes: Sequence[str] | None = None,
    k: int = 50,
    counts: bool = True,
    layer_sc: str | None = None,
    layer_st: str | None = None,
    chunk_size: int | None = None,
) -> ad.AnnData:
    """Unweighted mean of the raw SC expression of each ST cell's ``k`` most similar SC cells.

    The ``naive50`` baseline: the same similarity as :func:`knn_library_baseline` (Pearson on
    log-normalised, per-gene z-scored panel genes; ``counts`` decides the normalisation), but
    equal weights and no library scaling, so predictions are on the SC scale. With counts,
    SC cells with no counts on the panel genes are left out of the reference (logged).

    Parameters
    ----------
    adata_sc
        Single-cell reference (cells x genes).
    adata_st
        Spatial cells x panel genes.
    genes
        SC genes to predict; default all SC genes.
    k
        Number of neighbours (capped at the number of SC cells).
    counts
        Whether both matrices hold counts (log-normalised before matching).
    layer_sc, layer_st
        Layers to read instead of ``X``.
    chunk_size
        ST cells per similarity block.

    Returns
    -------
    AnnData of ST cells x ``genes`` as in :func:`knn_library_baseline`.
    """
    return _baseline(
        adata_sc,
        adata_st,
        method="naive_topk",
        genes=genes,
        k=k,
        temperature=None,
        counts=counts,
        library_scaling=False,
        layer_sc=layer_sc,
        layer_st=layer_st,
        chunk_size=chunk_size,
    )
