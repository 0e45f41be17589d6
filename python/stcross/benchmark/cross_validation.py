"""Gene-fold cross-validation of imputation: hide measured ST genes, predict them, score them.

The protocol of DESIGN.md: the shared genes (ST panel genes also in SC, in ST order) are
split into ``n_folds`` folds with :func:`~stcross.benchmark.gene_folds`; each fold's genes are
removed from the ST object, the method is fitted on what is left and predicts the hidden
genes for every ST cell, and the predictions are scored against the raw hidden ST values
with :func:`~stcross.benchmark.gene_metrics`.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.folds import gene_folds
from .baselines import (
    knn_library_baseline,
    layer_matrix,
    naive_topk_baseline,
    panel_genes,
)
from .metrics import METRICS, accuracy_score, gene_metrics

__all__ = ["METHODS", "cross_validate", "looks_like_counts", "summarize"]

logger = logging.getLogger(__name__)

#: Methods :func:`cross_validate` can run.
METHODS = ("stcross", "knn200", "naive50")

_COLUMNS = ["gene", "fold", "method", *METRICS, "fold_time_s"]


def looks_like_counts(x) -> bool:
    """Whether a matrix holds non-negative integer values (dense or scipy sparse)."""
    values = x.data if sp.issparse(x) else np.asarray(x)
    if values.size == 0:
        return True
    return bool(values.min() >= 0 and np.all(values == np.round(values)))


def _dense(x) -> np.ndarray:
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def cross_validate(
    adata_sc: ad.AnnData,
    adata_st: ad.AnnData,
    *,
    n_folds: int = 5,
    seed: int = 0,
    method: Literal["stcross", "knn200", "naive50"] = "stcross",
    model_kwargs: dict[str, Any] | None = None,
    train_kwargs: dict[str, Any] | None = None,
    baseline_kwargs: dict[str, Any] | None = None,
    layer_sc: str | None = None,
    layer_st: str | None = None,
    return_predictions: bool = False,
    progress: bool = True,
) -> pd.DataFrame | tuple[pd.DataFrame, list[ad.AnnData]]:
    """Cross-validate imputation over folds of the shared genes.

    Parameters
    ----------
    adata_sc
        Single-cell reference (cells x genes).
    adata_st
        Spatial cells x panel genes, with coordinates in ``obsm["spatial"]`` for ``"stcross"``.
    n_folds
        Number of gene folds (at least 2; needs at least ``2 * n_folds`` shared genes).
    seed
        Seed of the gene permutation (the model's own seed goes in ``train_kwargs``).
    method
        ``"stcross"``: ``CrossModalModel(adata_sc, adata_st[:, kept], **model_kwargs)``, trained with
        ``train(**train_kwargs)`` (``progress_bar`` defaults to False here), predicting
        ``impute(genes=held_out).layers["mean"]``. ``"knn200"``: :func:`~stcross.benchmark.knn_library_baseline`.
        ``"naive50"``: :func:`~stcross.benchmark.naive_topk_baseline`.
    model_kwargs, train_kwargs
        Passed to the model constructor and ``train`` (``"stcross"`` only).
    baseline_kwargs
        Passed to the baseline (``k``, ``temperature``, ``counts``, ``chunk_size``). When it has no
        ``counts``, counts are assumed when both matrices hold non-negative integers (logged).
    layer_sc, layer_st
        Layers to read instead of ``X``; the truth is read from ``layer_st`` too.
    return_predictions
        Also return each fold's imputed AnnData (ST cells x held-out genes): the model's
        ``impute`` output (layers ``mean``, ``sd``, ``p_zero``, ``lower``, ``upper``) or the
        baseline's; ``uns["stcross_cv"]`` holds the fold, method and held-out genes.
    progress
        Show a progress bar over folds.

    Returns
    -------
    DataFrame with one row per held-out gene and columns ``gene``, ``fold``, ``method``, ``pcc``,
    ``spearman``, ``ssim``, ``rmse_z``, ``js`` and ``fold_time_s`` (wall time of the fold:
    fitting plus prediction). ``df.attrs`` holds run-level information: ``method``,
    ``n_folds``, ``seed``, ``n_shared_genes``, ``n_sc_cells``, ``n_st_cells``, ``total_time_s``,
    ``fold_time_s`` (list), ``counts`` (baselines), ``model_kwargs`` and ``train_kwargs``
    (as strings). With ``return_predictions=True``: ``(df, predictions)``, a list with one
    AnnData per fold.

    Raises
    ------
    ValueError
        For an unknown method, no shared genes, too few shared genes for ``n_folds``, or
        conflicting layer settings.
    """
    if method not in METHODS:
        msg = f"method must be one of {METHODS}, got {method!r}."
        raise ValueError(msg)
    model_kwargs = dict(model_kwargs or {})
    train_kwargs = {"progress_bar": False, **(train_kwargs or {})}
    baseline_kwargs = dict(baseline_kwargs or {})
    for key, value in (("layer_sc", layer_sc), ("layer_st", layer_st)):
        if value is None:
            continue
        if key in model_kwargs and model_kwargs[key] != value:
            msg = f"{key} is given both as an argument ({value!r}) and in model_kwargs ({model_kwargs[key]!r})."
            raise ValueError(msg)
        model_kwargs[key] = value
    if method != "stcross" and (model_kwargs.keys() - {"layer_sc", "layer_st"} or train_kwargs.keys() - {"progress_bar"}):
        logger.info("cross_validate: model_kwargs/train_kwargs are ignored by method %r.", method)
    if method == "stcross" and baseline_kwargs:
        logger.info("cross_validate: baseline_kwargs are ignored by method 'stcross'.")

    shared = panel_genes(adata_sc, adata_st)
    folds = gene_folds(shared, n_folds, seed=seed)
    x_st = layer_matrix(adata_st, layer_st, "adata_st")

    counts = None
    if method != "stcross":
        counts = baseline_kwargs.pop("counts", None)
        if counts is None:
            counts = looks_like_counts(layer_matrix(adata_sc, layer_sc, "adata_sc")) and looks_like_counts(x_st)
            logger.info(
                "cross_validate: treating the data as %s for %s (pass baseline_kwargs={'counts': ...} to choose).",
                "counts" if counts else "non-counts (no library normalisation)",
                method,
            )

    iterator = enumerate(folds)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, total=len(folds), desc=f"CV {method}", unit="fold")

    tables: list[pd.DataFrame] = []
    predictions: list[ad.AnnData] = []
    fold_times: list[float] = []
    start_all = time.perf_counter()
    for fold, held_out in iterator:
        held = set(held_out)
        kept = [g for g in adata_st.var_names if g not in held]
        start = time.perf_counter()
        if method == "stcross":
            imputed = _run_model(adata_sc, adata_st[:, kept].copy(), held_out, model_kwargs, train_kwargs)
            pred = imputed.layers["mean"]
        else:
            fn = knn_library_baseline if method == "knn200" else naive_topk_baseline
            options = {"k": 200 if method == "knn200" else 50, **baseline_kwargs}
            imputed = fn(
                adata_sc,
                adata_st[:, kept],
                genes=held_out,
                counts=counts,
                layer_sc=layer_sc,
                layer_st=layer_st,
                **options,
            )
            pred = imputed.X
        elapsed = time.perf_counter() - start
        fold_times.append(elapsed)

        truth = _dense(x_st[:, adata_st.var_names.get_indexer(held_out)])
        table = gene_metrics(truth, _dense(pred), genes=held_out).reset_index()
        table.insert(1, "fold", fold)
        table.insert(2, "method", method)
        table["fold_time_s"] = elapsed
        tables.append(table)
        logger.info(
            "cross_validate %s fold %d/%d: %d genes, mean PCC %.4f, %.1f s",
            method,
            fold + 1,
            len(folds),
            len(held_out),
            np.nanmean(table["pcc"]) if table["pcc"].notna().any() else np.nan,
            elapsed,
        )
        if return_predictions:
            imputed.uns["stcross_cv"] = {"fold": fold, "method": method, "held_out": list(held_out)}
            predictions.append(imputed)

    result = pd.concat(tables, ignore_index=True)[_COLUMNS]
    result.attrs.update(
        {
            "method": method,
            "n_folds": len(folds),
            "seed": seed,
            "n_shared_genes": len(shared),
            "n_sc_cells": adata_sc.n_obs,
            "n_st_cells": adata_st.n_obs,
            "total_time_s": time.perf_counter() - start_all,
            "fold_time_s": fold_times,
            "counts": counts,
            "model_kwargs": repr(model_kwargs) if method == "stcross" else None,
            "train_kwargs": repr(train_kwargs) if method == "stcross" else None,
        }
    )
    if return_predictions:
        return result, predictions
    return result


def _run_model(
    adata_sc: ad.AnnData,
    adata_st: ad.AnnData,
    held_out: list[str],
    model_kwargs: dict[str, Any],
    train_kwargs: dict[str, Any],
) -> ad.AnnData:
    """Fit a CrossModalModel on the kept genes and impute the held-out ones."""
    # Imported here: stcross imports this subpackage lazily and the model pulls in torch.
    from ..model import CrossModalModel

    model = CrossModalModel(adata_sc, adata_st, **model_kwargs)
    model.train(**train_kwargs)
    imputed = model.impute(genes=list(held_out))
    return imputed[:, list(held_out)].copy()


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per-method summary of one or more :func:`cross_validate` tables.

    Parameters
    ----------
    results
        Per-gene results (several methods may be concatenated).

    Returns
    -------
    DataFrame indexed by method with, for each metric, ``<metric>_mean`` and ``<metric>_median``
    (NaN values skipped), ``n_genes``, ``n_nan_pcc`` (genes whose PCC is undefined), ``time_s``
    (sum of the fold wall times) and, when two or more methods are present, ``AS`` (the
    accuracy score of :func:`~stcross.benchmark.accuracy_score` on the metric means).
    """
    missing = [c for c in _COLUMNS if c not in results.columns]
    if missing:
        msg = f"results lacks the columns {missing}; pass the output of cross_validate."
        raise ValueError(msg)
    grouped = results.groupby("method", sort=False)
    parts = {}
    for metric in METRICS:
        parts[f"{metric}_mean"] = grouped[metric].mean()
        parts[f"{metric}_median"] = grouped[metric].median()
    parts["n_genes"] = grouped["gene"].size()
    parts["n_nan_pcc"] = grouped["pcc"].apply(lambda s: int(s.isna().sum()))
    parts["time_s"] = results.groupby(["method", "fold"], sort=False)["fold_time_s"].first().groupby(level=0, sort=False).sum()
    summary = pd.DataFrame(parts)
    if len(summary) >= 2:
        means = summary[[f"{m}_mean" for m in METRICS]].rename(columns=lambda c: c[: -len("_mean")])
        summary["AS"] = accuracy_score(means)["AS"]
    return summary
