"""Per-gene accuracy metrics for imputed expression, and the accuracy score of Li et al.

Every metric compares a predicted cells x genes matrix with the measured one column by
column (one value per gene) and follows the definitions of the SpatialBenchmarking study
(Li et al., Nat Methods 2022), so numbers are comparable with the published tables:

- ``pcc``: Pearson correlation of the raw vectors.
- ``spearman``: Pearson correlation of the ranks (ties get their average rank).
- ``ssim``: each vector divided by its maximum, then the global structural similarity
  ``l * c * s`` with ``C1 = 0.01**2``, ``C2 = 0.03**2``, ``C3 = C2 / 2`` and population
  (ddof 0) moments.
- ``rmse_z``: root mean squared difference of the per-gene z-scores (ddof 0).
- ``js``: Jensen-Shannon divergence (natural log, so in [0, ln 2]) between the two vectors
  normalised to sum to one over cells.

A value that is undefined is NaN, never an exception: PCC, Spearman and RMSE(z) when either
vector is constant, SSIM when either maximum is zero, JS when either vector sums to zero.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import rel_entr
from scipy.stats import rankdata

__all__ = [
    "METRICS",
    "accuracy_score",
    "gene_metrics",
    "jensen_shannon",
    "pearson",
    "rmse_z",
    "spearman",
    "ssim",
]

#: Metric names, and whether a higher value is better.
METRICS: dict[str, bool] = {"pcc": True, "spearman": True, "ssim": True, "rmse_z": False, "js": False}

# The four metrics Li et al. rank to form the accuracy score.
_AS_METRICS = ("pcc", "ssim", "rmse_z", "js")

_SSIM_C1 = 0.01**2
_SSIM_C2 = 0.03**2


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as float64 (cells, genes) arrays of the same shape."""
    arrays = []
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        y = y.toarray() if sp.issparse(y) else np.asarray(y)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2:
            msg = f"{name} must be a 1D vector or a 2D cells x genes matrix, got {y.ndim} dimensions."
            raise ValueError(msg)
        arrays.append(y.astype(np.float64, copy=False))
    a, b = arrays
    if a.shape != b.shape:
        msg = f"y_true and y_pred must have the same shape, got {a.shape} and {b.shape}."
        raise ValueError(msg)
    if a.shape[0] < 2:
        msg = f"At least 2 cells are needed to compare expression vectors, got {a.shape[0]}."
        raise ValueError(msg)
    return a, b


def _column_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denom = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=0) / denom
    r[denom == 0] = np.nan
    # Rounding can push |r| a hair past 1.
    return np.clip(r, -1.0, 1.0)


def pearson(y_true, y_pred) -> np.ndarray:
    """Pearson correlation per gene (column).

    Parameters
    ----------
    y_true, y_pred
        Measured and predicted expression, cells x genes (or one gene as a 1D vector);
        dense or scipy sparse.

    Returns
    -------
    Array of length n_genes; NaN where either column is constant.
    """
    a, b = _pair(y_true, y_pred)
    return _column_pearson(a, b)


def spearman(y_true, y_pred) -> np.ndarray:
    """Spearman rank correlation per gene (average ranks for ties, as :func:`scipy.stats.spearmanr`).

    Parameters
    ----------
    y_true, y_pred
        Measured and predicted expression, cells x genes.

    Returns
    -------
    Array of length n_genes; NaN where either column is constant.
    """
    a, b = _pair(y_true, y_pred)
    return _column_pearson(rankdata(a, axis=0), rankdata(b, axis=0))


def ssim(y_true, y_pred) -> np.ndarray:
    """Structural similarity per gene, as in Li et al. (2022).

    Each column is divided by its maximum (so both lie in [0, 1] for non-negative data),
    then ``SSIM = l * c * s`` with ``l = (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1)``,
    ``c = (2 s1 s2 + C2) / (s1^2 + s2^2 + C2)``, ``s = (s12 + C3) / (s1 s2 + C3)``,
    ``C1 = 0.01^2``, ``C2 = 0.03^2``, ``C3 = C2 / 2`` and population moments over cells.

    Parameters
    ----------
    y_true, y_pred
        Measured and predicted expression, cells x genes.

    Returns
    -------
    Array of length n_genes in [-1, 1]; 1 for identical columns; NaN where a column's
    maximum is zero.
    """
    a, b = _pair(y_true, y_pred)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = a / np.where(a.max(axis=0) == 0, np.nan, a.max(axis=0))
        b = b / np.where(b.max(axis=0) == 0, np.nan, b.max(axis=0))
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = a.std(axis=0), b.std(axis=0)
    s12 = ((a - mu1) * (b - mu2)).mean(axis=0)
    c3 = _SSIM_C2 / 2
    luminance = (2 * mu1 * mu2 + _SSIM_C1) / (mu1**2 + mu2**2 + _SSIM_C1)
    contrast = (2 * s1 * s2 + _SSIM_C2) / (s1**2 + s2**2 + _SSIM_C2)
    structure = (s12 + c3) / (s1 * s2 + c3)
    return luminance * contrast * structure


def rmse_z(y_true, y_pred) -> np.ndarray:
    """Root mean squared error between per-gene z-scores (ddof 0).

    Parameters
    ----------
    y_true, y_pred
        Measured and predicted expression, cells x genes.

    Returns
    -------
    Array of length n_genes, 0 for a perfect prediction (up to a positive affine map),
    at most 2; NaN where either column is constant.
    """
    a, b = _pair(y_true, y_pred)
    sa, sb = a.std(axis=0), b.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        za = (a - a.mean(axis=0)) / np.where(sa == 0, np.nan, sa)
        zb = (b - b.mean(axis=0)) / np.where(sb == 0, np.nan, sb)
    return np.sqrt(((za - zb) ** 2).mean(axis=0))


def jensen_shannon(y_true, y_pred) -> np.ndarray:
    """Jensen-Shannon divergence per gene, each column normalised to a distribution over cells.

    Negative values (possible in a Gaussian model's predictions) are set to zero first,
    since a distribution cannot have negative mass. Natural log, as in Li et al. (2022).

    Parameters
    ----------
    y_true, y_pred
        Measured and predicted expression, cells x genes.

    Returns
    -------
    Array of length n_genes in [0, ln 2]; 0 for identical distributions; NaN where either
    column sums to zero.
    """
    a, b = _pair(y_true, y_pred)
    a, b = np.clip(a, 0, None), np.clip(b, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = a / np.where(a.sum(axis=0) == 0, np.nan, a.sum(axis=0))
        q = b / np.where(b.sum(axis=0) == 0, np.nan, b.sum(axis=0))
    m = (p + q) / 2
    js = 0.5 * rel_entr(p, m).sum(axis=0) + 0.5 * rel_entr(q, m).sum(axis=0)
    # rel_entr is exact at 0 but tiny negative values can come from rounding.
    return np.clip(js, 0.0, None)


def gene_metrics(y_true, y_pred, *, genes: Sequence[str] | None = None) -> pd.DataFrame:
    """All per-gene metrics in one table.

    Parameters
    ----------
    y_true, y_pred
        Measured and predicted expression, cells x genes (dense or scipy sparse).
    genes
        Gene names for the index (default ``0 .. n_genes - 1``).

    Returns
    -------
    DataFrame indexed by gene with columns ``pcc``, ``spearman``, ``ssim``, ``rmse_z``, ``js``.
    """
    a, b = _pair(y_true, y_pred)
    if genes is not None and len(genes) != a.shape[1]:
        msg = f"genes has {len(genes)} names but the matrices have {a.shape[1]} columns."
        raise ValueError(msg)
    table = pd.DataFrame(
        {
            "pcc": pearson(a, b),
            "spearman": spearman(a, b),
            "ssim": ssim(a, b),
            "rmse_z": rmse_z(a, b),
            "js": jensen_shannon(a, b),
        },
        index=pd.Index(list(genes) if genes is not None else range(a.shape[1]), name="gene"),
    )
    return table


def accuracy_score(table: pd.DataFrame, *, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Accuracy score (AS) of Li et al. (Nat Methods 2022) for several methods on one dataset.

    For each metric the methods are ranked so that the best gets rank ``N`` and the worst
    rank 1 (``N`` = number of methods; higher is better for PCC, Spearman and SSIM, lower for
    RMSE(z) and JS); each rank is divided by ``N``; AS is the mean of these scaled ranks over
    the metrics. So AS lies in ``[1/N, 1]`` and equals 1 for a method that is best on every
    metric. This is what the SpatialBenchmarking code computes (``get_score`` then the sum
    over the four metrics divided by 4), with two explicit choices where it is silent: tied
    methods share their average rank, and a missing (NaN) metric ranks last (the original
    filled NaN with 0, which made a NaN RMSE or JS the *best* value).

    Parameters
    ----------
    table
        One row per method (index = method name), one column per metric, holding that
        method's mean metric over genes (e.g. the ``mean`` block of :func:`~stcross.benchmark.summarize`).
    metrics
        Metrics to rank; default those of ``pcc``, ``ssim``, ``rmse_z``, ``js`` (the four used
        by Li et al.) that are columns of ``table``.

    Returns
    -------
    DataFrame indexed by method: one scaled-rank column per metric and ``AS``, sorted by AS
    (best first).
    """
    if metrics is None:
        metrics = [m for m in _AS_METRICS if m in table.columns]
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        msg = f"Unknown metrics {unknown}; known: {sorted(METRICS)}."
        raise ValueError(msg)
    missing = [m for m in metrics if m not in table.columns]
    if missing or not metrics:
        msg = f"table needs columns for the metrics {metrics or list(_AS_METRICS)}; missing {missing or metrics}."
        raise ValueError(msg)
    n_methods = len(table)
    if n_methods == 0:
        msg = "table has no methods (rows) to rank."
        raise ValueError(msg)
    scores = pd.DataFrame(index=table.index)
    for metric in metrics:
        values = pd.to_numeric(table[metric], errors="coerce")
        # ascending=True gives the largest value the largest rank; NaN ranks 1 (last).
        ranks = values.rank(ascending=METRICS[metric], method="average", na_option="top")
        scores[metric] = ranks / n_methods
    scores["AS"] = scores[metrics].mean(axis=1)
    return scores.sort_values("AS", ascending=False)
