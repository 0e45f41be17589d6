"""Thin wrappers around the peer methods (Tangram, gimVI, SpaGE via tissue-sc, TISSUE).

Each wrapper takes plain AnnData objects (SC with every gene, ST with only the genes
it may see) and returns a dense ``(n_st_cells, n_genes)`` float64 array for the
requested genes, in the requested order. Inputs are copied before a peer touches
them: Tangram and TISSUE rename and filter genes in place.

These run only in the peers' own environment (see README.md); nothing here is
imported by the ``stcross`` package.
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("stcross.peers")


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)


def _lower_copy(adata):
    out = adata.copy()
    out.var_names = [g.lower() for g in out.var_names]
    return out


def tangram_impute(adata_sc, adata_st, genes, *, epochs=500, seed=0):
    """Tangram (mode "cells"): map SC cells onto ST cells, project the hidden genes.

    Training genes are all genes ST and SC share; ``genes`` must be in SC.
    """
    import tangram as tg

    sc_ = _lower_copy(adata_sc)
    st_ = _lower_copy(adata_st)
    tg.pp_adatas(sc_, st_, genes=None)
    ad_map = tg.map_cells_to_space(
        sc_, st_, mode="cells", num_epochs=epochs, device="cpu", random_state=seed,
        verbose=False,
    )
    ad_ge = tg.project_genes(ad_map, sc_)
    wanted = [g.lower() for g in genes]
    out = np.zeros((adata_st.n_obs, len(wanted)))
    present = set(ad_ge.var_names)
    for j, g in enumerate(wanted):
        # project_genes drops genes that are zero in every SC cell: their projection is 0
        if g in present:
            out[:, j] = _dense(ad_ge[:, g].X).ravel()
    return out, ad_map


def tangram_mapping(adata_query, adata_ref, *, epochs=500, seed=0):
    """Tangram cell-to-spot probabilities of query cells over reference ST cells.

    Returns the ``(n_query, n_ref)`` mapping matrix (rows sum to one).
    """
    import tangram as tg

    q = _lower_copy(adata_query)
    r = _lower_copy(adata_ref)
    tg.pp_adatas(q, r, genes=None)
    ad_map = tg.map_cells_to_space(
        q, r, mode="cells", num_epochs=epochs, device="cpu", random_state=seed, verbose=False,
    )
    return np.asarray(ad_map.X, dtype=np.float64)


def spage_impute(adata_sc, adata_st, genes, *, n_pv=10):
    """SpaGE as packaged in tissue-sc (``tissue.main.spage_impute``)."""
    import tissue.main as tm

    pred = tm.spage_impute(adata_st.copy(), adata_sc.copy(), genes_to_predict=list(genes), n_pv=n_pv)
    return np.asarray(pred[list(genes)].to_numpy(), dtype=np.float64)


def gimvi_impute(adata_sc, adata_st, genes, *, epochs=200, seed=0):
    """gimVI (scvi-tools, default likelihoods zinb for SC, nb for ST).

    ST cells with no counts over the visible genes cannot be encoded (log library of
    zero); as in tissue-sc's gimVI wrapper they are left out of training and get 0.
    """
    import scvi
    from scvi.external import GIMVI

    scvi.settings.seed = seed
    sc_ = adata_sc.copy()
    st_ = adata_st.copy()
    sc_.X = _dense(sc_.X).astype(np.float32)
    st_.X = _dense(st_.X).astype(np.float32)
    keep_st = st_.X.sum(axis=1) > 0
    keep_sc = sc_.X.sum(axis=1) > 0
    st_ = st_[keep_st].copy()
    sc_ = sc_[keep_sc].copy()
    GIMVI.setup_anndata(sc_)
    GIMVI.setup_anndata(st_)
    model = GIMVI(sc_, st_)
    model.train(max_epochs=epochs, accelerator="cpu", devices=1, enable_progress_bar=False,
                callbacks=[_epoch_logger()])
    _, imputed_st = model.get_imputed_values(normalized=False)
    idx = [list(sc_.var_names).index(g) for g in genes]
    out = np.zeros((adata_st.n_obs, len(genes)))
    out[keep_st] = imputed_st[:, idx]
    return out


def _epoch_logger(every: int = 25):
    """A Lightning callback that logs progress every ``every`` epochs (no progress bar)."""
    from lightning.pytorch.callbacks import Callback

    class EpochLogger(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            epoch = trainer.current_epoch + 1
            if epoch % every == 0:
                log.info("gimVI epoch %d/%d", epoch, trainer.max_epochs)

    return EpochLogger()


def tissue_intervals(adata_sc, adata_st, genes, *, alpha=0.1, n_pv=10, n_folds=10,
                     n_neighbors=15, k=4, k2=2):
    """TISSUE calibrated intervals on SpaGE predictions, following its tutorial.

    ``adata_st`` holds only the visible genes (they are TISSUE's calibration genes);
    ``genes`` are predicted. Returns ``(pred, lower, upper)`` for ``genes``.
    """
    import tissue.main as tm

    st_ = _lower_copy(adata_st)
    sc_ = _lower_copy(adata_sc)
    sc_.X = _dense(sc_.X)
    st_.X = _dense(st_.X)
    target = [g.lower() for g in genes]
    calib = list(st_.var_names)
    tm.predict_gene_expression(st_, sc_, target, method="spage", n_folds=n_folds, n_pv=n_pv)
    tm.build_spatial_graph(st_, method="fixed_radius", n_neighbors=n_neighbors)
    key = "spage_predicted_expression"
    tm.conformalize_spatial_uncertainty(st_, key, calib_genes=calib,
                                        grouping_method="kmeans_gene_cell", k=k, k2=k2)
    tm.conformalize_prediction_interval(st_, key, calib_genes=calib, alpha_level=alpha)
    pred = st_.obsm[key][target].to_numpy(dtype=np.float64)
    lo = st_.obsm[key + "_lo"][target].to_numpy(dtype=np.float64)
    hi = st_.obsm[key + "_hi"][target].to_numpy(dtype=np.float64)
    return pred, lo, hi
