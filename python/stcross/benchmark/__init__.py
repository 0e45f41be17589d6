"""Benchmarks for imputation: per-gene metrics, simple baselines and gene-fold cross-validation.

Example::

    import stcross
    sc, st = stcross.datasets.osmfish()
    df = stcross.benchmark.cross_validate(sc, st, method="knn200", progress=False)
    stcross.benchmark.summarize(df)
"""
from __future__ import annotations

from ..data.folds import gene_folds
from .baselines import knn_library_baseline, naive_topk_baseline, panel_genes
from .cross_validation import METHODS, cross_validate, looks_like_counts, summarize
from .metrics import (
    METRICS,
    accuracy_score,
    gene_metrics,
    jensen_shannon,
    pearson,
    rmse_z,
    spearman,
    ssim,
)

__all__ = [
    "METHODS",
    "METRICS",
    "accuracy_score",
    "cross_validate",
    "gene_folds",
    "gene_metrics",
    "jensen_shannon",
    "knn_library_baseline",
    "looks_like_counts",
    "naive_topk_baseline",
    "panel_genes",
    "pearson",
    "rmse_z",
    "spearman",
    "ssim",
    "summarize",
]
