"""Conformal calibration of imputation intervals on held-out ST panel genes.

The predictive distribution gives every imputed value a mean ``m`` and a spread ``sd``,
but nothing guarantees that its intervals cover what a gene nobody measured would show.
:func:`calibrate_model` measures that: it splits the ST panel genes into folds, trains the
model again with each fold's genes hidden from ST (same settings and seed), predicts them
as if unmeasured, and turns the errors into conformal scores

    s = (y - m) / max(sd, sd_floor),

signed, so that intervals can be asymmetric. At impute time a central interval of level
``a`` is ``[m + q_lo * sd, m + q_hi * sd]`` with ``q_lo``, ``q_hi`` the finite-sample-corrected
empirical quantiles of the scores at ``(1 - a) / 2`` and ``(1 + a) / 2``. The score
distribution is stored on a fine grid of quantile levels, so any level can be asked for.

Genes differ in how well they are predicted, so the scores are kept per gene group
(stratum): quantile bins of the gene's mean prediction, optionally split further by its
mean predicted P(0); a group with too few genes falls back to the coarser group, then to
all genes pooled.

Non-negative data (counts, or any data whose held-out values are all >= 0): both bounds are
clipped at 0, and a zero is then always under the upper bound, so zeros count as covered
from above (their upper score is -inf). Coverage is counted with zeros included. Counts get
integer bounds ``ceil(lower)`` and ``floor(upper)``: the tightest integer interval holding
exactly the integers of the continuous one, so coverage is unchanged and widths shrink.
Where no integer lies inside, the lower bound is lowered to the upper one (a point interval),
which can only add coverage.

The guarantee is marginal over the values of genes exchangeable with the panel genes: an
imputed gene that behaves unlike every panel gene is not covered by it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .folds import gene_folds
from .inputs import MIN_SHARED_GENES
from .likelihoods import get_likelihood
from .progress import report as report_progress

__all__ = ["Calibration", "calibrate_model", "fit_calibration", "heldout_predictions"]

logger = logging.getLogger("stcross")

FORMAT_VERSION = 1
# Quantile levels at which score distributions are stored: 0.001 steps in the tails (where
# 80-99% intervals read them), 0.01 steps in between.
GRID = np.unique(
    np.round(np.concatenate([np.linspace(0, 0.1, 101), np.linspace(0.1, 0.9, 81), np.linspace(0.9, 1, 101)]), 6)
)
MIN_GENES_TOTAL = 5
# Count spreads below half a count are below the data's resolution.
DEFAULT_COUNT_SD_FLOOR = 0.5


@dataclasses.dataclass
class ScoreTable:
    """The conformal scores of one gene group, as quantiles on :data:`GRID`.

    Attributes
    ----------
    lower
        Quantiles of the scores that decide the lower bound.
    upper
        Quantiles of the scores that decide the upper bound (``-inf`` where a value sits at
        the support's minimum and is covered by any upper bound).
    n_values
        Number of scores (cells x genes).
    n_genes
        Number of calibration genes in the group.
    """

    lower: np.ndarray
    upper: np.ndarray
    n_values: int
    n_genes: int

    @classmethod
    def from_scores(cls, lower: np.ndarray, upper: np.ndarray, n_genes: int) -> ScoreTable:
        return cls(
            lower=np.quantile(lower, GRID, method="inverted_cdf"),
            upper=np.quantile(upper, GRID, method="inverted_cdf"),
            n_values=int(lower.size),
            n_genes=int(n_genes),
        )

    def quantiles(self, interval: float) -> tuple[float, float]:
        """``(q_lo, q_hi)`` of a central interval, with the split-conformal rank correction.

        The upper bound is the ``ceil((n + 1)(1 + a) / 2)``-th smallest score and the lower
        one the ``floor((n + 1)(1 - a) / 2)``-th; read at the nearest stored level on the
        conservative side.
        """
        n = self.n_values
        p_hi = min(np.ceil((n + 1) * (1 + interval) / 2) / n, 1.0)
        p_lo = max(np.floor((n + 1) * (1 - interval) / 2) / n, 0.0)
        hi = min(int(np.searchsorted(GRID, p_hi - 1e-12, side="left")), len(GRID) - 1)
        lo = max(int(np.searchsorted(GRID, p_lo + 1e-12, side="right")) - 1, 0)
        return float(self.lower[lo]), float(self.upper[hi])

    def to_dict(self) -> dict[str, Any]:
        return {
            "lower": _encode(self.lower),
            "upper": _encode(self.upper),
            "n_values": self.n_values,
            "n_genes": self.n_genes,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ScoreTable:
        return cls(
            lower=_decode(values["lower"]),
            upper=_decode(values["upper"]),
            n_values=int(values["n_values"]),
            n_genes=int(values["n_genes"]),
        )


def _encode(values: np.ndarray) -> list[float | None]:
    # Strict JSON has no infinities: -inf (a score that never binds) is written as null.
    return [None if not np.isfinite(v) else float(v) for v in values]


def _decode(values: Sequence[float | None]) -> np.ndarray:
    return np.array([-np.inf if v is None else float(v) for v in values], dtype=np.float64)


def gene_statistics(mean: np.ndarray, p_zero: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene grouping statistics: mean prediction over cells and mean predicted P(0)."""
    return np.asarray(mean).mean(axis=0, dtype=np.float64), np.asarray(p_zero).mean(axis=0, dtype=np.float64)


def _inner_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Quantile cut points splitting ``values`` into ``n_bins`` groups of about equal size."""
    if n_bins <= 1 or values.size == 0:
        return np.empty(0)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))
    # A cut at the minimum would leave an empty bin (ties, e.g. a constant statistic).
    return edges[edges > values.min()]


@dataclasses.dataclass
class Calibration:
    """Conformal score distributions by gene group; turns predictive spreads into intervals.

    Built by :func:`calibrate_model` (through :meth:`stcross.CrossModalModel.calibrate`) or
    :func:`fit_calibration`; saved with the model (:meth:`to_dict` / :meth:`from_dict`).

    Attributes
    ----------
    tables
        Score tables by group key: ``"pooled"``, ``"L{i}"`` (level bin ``i``) and
        ``"L{i}Z{j}"`` (zero bin ``j`` within level bin ``i``); groups with fewer than
        ``min_genes`` genes are absent and fall back to the coarser group.
    level_edges
        Cut points of the genes' mean prediction.
    zero_edges
        For each level bin, the cut points of the genes' mean predicted P(0).
    sd_floor
        Spreads below this are raised to it before scaling.
    support_min
        Bounds are clipped at this value (0 for non-negative data), or ``None``.
    discrete
        Whether values are counts (integer bounds).
    likelihood
        ST likelihood of the calibrated model.
    info
        Provenance: genes, folds, epochs, time (JSON-serialisable).
    """

    tables: dict[str, ScoreTable]
    level_edges: np.ndarray
    zero_edges: list[np.ndarray]
    sd_floor: float
    support_min: float | None
    discrete: bool
    likelihood: str
    min_genes: int
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    # -- using it ----------------------------------------------------------------------
    def groups(self, mean: np.ndarray, p_zero: np.ndarray) -> list[str]:
        """Group key of each gene (column) of a cells x genes prediction."""
        level, zero = gene_statistics(mean, p_zero)
        level_bin = np.searchsorted(self.level_edges, level, side="right")
        keys = []
        for i, z in zip(level_bin, zero):
            zero_bin = int(np.searchsorted(self.zero_edges[i], z, side="right")) if len(self.zero_edges) > i else 0
            for key in (f"L{i}Z{zero_bin}", f"L{i}", "pooled"):
                if key in self.tables:
                    keys.append(key)
                    break
        return keys

    def interval(
        self, summary: Mapping[str, np.ndarray], genes: Sequence[str] | None, interval: float, *, n_samples: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated central ``interval`` bounds for a predictive summary.

        Parameters
        ----------
        summary
            Cells x genes arrays ``"mean"``, ``"sd"`` and ``"p_zero"`` (as from
            :func:`stcross.predictive.predictive_summary`).
        genes
            Names of the columns (only used in messages).
        interval
            Nominal coverage, strictly between 0 and 1.
        n_samples
            Latent draws behind ``summary["sd"]``; a warning is logged when it differs from
            the draws used for calibrating (the spreads then have another scale).

        Returns
        -------
        ``(lower, upper)``, float32 arrays of the summary's shape.
        """
        if not 0 < interval < 1:
            msg = f"interval must lie strictly between 0 and 1, got {interval}."
            raise ValueError(msg)
        calibrated_draws = int(self.info.get("n_samples", 0))
        if n_samples is not None and int(n_samples) != calibrated_draws:
            logger.warning(
                "Calibrated with n_samples=%d but imputing with n_samples=%d: the spreads differ in scale, "
                "so the calibrated coverage may not hold; calibrate with the same n_samples.",
                calibrated_draws,
                int(n_samples),
            )
        mean = np.asarray(summary["mean"], np.float64)
        sd = np.asarray(summary["sd"], np.float64)
        p_zero = np.asarray(summary["p_zero"], np.float64)
        keys = self.groups(mean, p_zero)
        q_lo = np.empty(mean.shape[1])
        q_hi = np.empty(mean.shape[1])
        for key in set(keys):
            columns = np.array([k == key for k in keys])
            q_lo[columns], q_hi[columns] = self.tables[key].quantiles(interval)
        lower, upper = self.bounds(mean, sd, q_lo, q_hi)
        return lower.astype(np.float32), upper.astype(np.float32)

    def bounds(self, mean: np.ndarray, sd: np.ndarray, q_lo, q_hi) -> tuple[np.ndarray, np.ndarray]:
        """``mean + q * max(sd, sd_floor)``, clipped to the support, integers for counts."""
        scale = np.maximum(sd, self.sd_floor)
        with np.errstate(invalid="ignore"):  # -inf * 0 cannot happen: scale >= sd_floor > 0
            lower = mean + np.asarray(q_lo) * scale
            upper = mean + np.asarray(q_hi) * scale
        if self.support_min is not None:
            lower = np.maximum(lower, self.support_min)
            upper = np.maximum(upper, self.support_min)
        if self.discrete:
            # Inward rounding keeps exactly the integers of [lower, upper].
            lower, upper = np.ceil(lower - 1e-6), np.floor(upper + 1e-6)
        return np.minimum(lower, upper), upper

    def summary(self) -> pd.DataFrame:
        """One row per stored group: genes, values, and the 90% quantiles ``q_lo``, ``q_hi``."""
        rows = []
        for key, table in self.tables.items():
            q_lo, q_hi = table.quantiles(0.9)
            rows.append({"group": key, "n_genes": table.n_genes, "n_values": table.n_values, "q_lo_90": q_lo, "q_hi_90": q_hi})
        return pd.DataFrame(rows).set_index("group")

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (infinite scores as ``null``)."""
        return {
            "format_version": FORMAT_VERSION,
            "grid": GRID.tolist(),
            "tables": {key: table.to_dict() for key, table in self.tables.items()},
            "level_edges": self.level_edges.tolist(),
            "zero_edges": [edges.tolist() for edges in self.zero_edges],
            "sd_floor": float(self.sd_floor),
            "support_min": None if self.support_min is None else float(self.support_min),
            "discrete": bool(self.discrete),
            "likelihood": self.likelihood,
            "min_genes": int(self.min_genes),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Calibration:
        """Rebuild a calibration written by :meth:`to_dict`."""
        if values.get("format_version") != FORMAT_VERSION:
            msg = (
                f"The saved calibration has format {values.get('format_version')}; this stcross reads format "
                f"{FORMAT_VERSION}. Run model.calibrate() again."
            )
            raise ValueError(msg)
        if not np.allclose(values["grid"], GRID):
            msg = "The saved calibration was stored on another quantile grid; run model.calibrate() again."
            raise ValueError(msg)
        return cls(
            tables={key: ScoreTable.from_dict(table) for key, table in values["tables"].items()},
            level_edges=np.asarray(values["level_edges"], np.float64),
            zero_edges=[np.asarray(e, np.float64) for e in values["zero_edges"]],
            sd_floor=float(values["sd_floor"]),
            support_min=None if values["support_min"] is None else float(values["support_min"]),
            discrete=bool(values["discrete"]),
            likelihood=str(values["likelihood"]),
            min_genes=int(values["min_genes"]),
            info=dict(values.get("info", {})),
        )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}: {t.n_genes} genes" for k, t in self.tables.items())
        return f"Calibration({self.likelihood}, {len(self.tables)} groups [{sizes}])"


def conformal_scores(
    truth: np.ndarray, mean: np.ndarray, sd: np.ndarray, *, sd_floor: float, support_min: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Signed scaled residuals deciding the lower and the upper bound.

    ``(y - m) / max(sd, sd_floor)`` for both, except that a value at ``support_min`` is
    inside any upper bound clipped there (its upper score is ``-inf``).
    """
    scores = (np.asarray(truth) - mean) / np.maximum(sd, np.asarray(sd_floor, sd.dtype))
    upper = scores.copy()
    if support_min is not None:
        upper[np.asarray(truth) <= support_min] = -np.inf
    return scores, upper


def fit_calibration(
    truth: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    p_zero: np.ndarray,
    *,
    likelihood: str,
    level_bins: int = 3,
    zero_bins: int = 1,
    min_genes: int = 5,
    sd_floor: float | None = None,
    nonnegative: bool | None = None,
    info: dict[str, Any] | None = None,
) -> Calibration:
    """Build a :class:`Calibration` from held-out predictions with known truth.

    Parameters
    ----------
    truth, mean, sd, p_zero
        Cells x genes arrays: measured values of held-out genes and their predicted mean,
        sd and P(0) from a model that did not see them.
    likelihood
        ST likelihood (``"nb"``, ``"zinb"``, ``"poisson"``: counts; ``"gaussian"``).
    level_bins
        Gene groups by quantile bins of the mean prediction (1: no grouping).
    zero_bins
        Within each level bin, further groups by the mean predicted P(0) (1: none).
    min_genes
        A group needs this many genes; smaller ones fall back to the coarser group.
    sd_floor
        Spreads below this are raised to it (default 0.5 for counts; for other data 1e-3
        of the median predicted sd).
    nonnegative
        Clip bounds at 0. Default: for counts, and for other data when every held-out
        value is >= 0 (logged).
    info
        Extra provenance stored with the calibration.

    Returns
    -------
    The calibration.
    """
    # float32 is ample for scores and halves the memory of large panels.
    truth, mean, sd, p_zero = (np.asarray(a, np.float32) for a in (truth, mean, sd, p_zero))
    if not (truth.shape == mean.shape == sd.shape == p_zero.shape) or truth.ndim != 2:
        msg = f"truth, mean, sd and p_zero must be cells x genes arrays of one shape; got {[a.shape for a in (truth, mean, sd, p_zero)]}."
        raise ValueError(msg)
    n_genes = truth.shape[1]
    if n_genes < MIN_GENES_TOTAL:
        msg = f"Calibration needs held-out predictions of at least {MIN_GENES_TOTAL} genes, got {n_genes}."
        raise ValueError(msg)
    for name, value in (("level_bins", level_bins), ("zero_bins", zero_bins), ("min_genes", min_genes)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            msg = f"{name} must be a positive integer, got {value!r}."
            raise ValueError(msg)
    if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(sd)) or not np.all(np.isfinite(truth)):
        msg = "Held-out predictions or truth contain NaN or infinite values; cannot calibrate."
        raise ValueError(msg)
    discrete = get_likelihood(likelihood).is_count
    if sd_floor is None:
        positive = sd[sd > 0]
        sd_floor = DEFAULT_COUNT_SD_FLOOR if discrete else 1e-3 * (float(np.median(positive)) if positive.size else 1.0)
    if not sd_floor > 0:
        msg = f"sd_floor must be positive, got {sd_floor}."
        raise ValueError(msg)
    if nonnegative is None:
        nonnegative = discrete or bool(truth.min() >= 0)
        if nonnegative and not discrete:
            logger.info("Every held-out value is >= 0: calibrated intervals are clipped at 0.")
    support_min = 0.0 if nonnegative else None
    lower_scores, upper_scores = conformal_scores(truth, mean, sd, sd_floor=sd_floor, support_min=support_min)

    level, zero = gene_statistics(mean, p_zero)
    level_edges = _inner_edges(level, level_bins)
    level_bin = np.searchsorted(level_edges, level, side="right")
    tables = {"pooled": ScoreTable.from_scores(lower_scores.ravel(), upper_scores.ravel(), n_genes)}
    zero_edges = []
    for i in range(len(level_edges) + 1):
        members = np.flatnonzero(level_bin == i)
        edges = _inner_edges(zero[members], zero_bins)
        zero_edges.append(edges)
        if len(level_edges) and members.size >= min_genes:
            tables[f"L{i}"] = ScoreTable.from_scores(lower_scores[:, members].ravel(), upper_scores[:, members].ravel(), members.size)
        zero_bin = np.searchsorted(edges, zero[members], side="right")
        for j in range(len(edges) + 1):
            sub = members[zero_bin == j]
            if len(edges) and sub.size >= min_genes:
                tables[f"L{i}Z{j}"] = ScoreTable.from_scores(lower_scores[:, sub].ravel(), upper_scores[:, sub].ravel(), sub.size)
    finest = [k for k in tables if k != "pooled" and ("Z" in k) == (zero_bins > 1)]
    n_groups = (len(level_edges) + 1) * (zero_bins if zero_bins > 1 else 1) if (level_bins > 1 or zero_bins > 1) else 0
    if len(finest) < n_groups:
        logger.info(
            "Calibration: %d of %d gene groups have fewer than %d genes and use a coarser group.",
            n_groups - len(finest), n_groups, min_genes,
        )
    return Calibration(
        tables=tables,
        level_edges=level_edges,
        zero_edges=zero_edges,
        sd_floor=float(sd_floor),
        support_min=support_min,
        discrete=discrete,
        likelihood=likelihood,
        min_genes=int(min_genes),
        info=dict(info or {}),
    )


def heldout_predictions(
    model,
    *,
    n_folds: int = 5,
    seed: int = 0,
    max_epochs: int | None = None,
    n_samples: int = 0,
    max_cells: int | None = 50_000,
    progress: bool = False,
) -> dict[str, Any]:
    """Predict every ST panel gene from a model trained without it, fold by fold.

    Parameters
    ----------
    model
        A trained :class:`stcross.CrossModalModel`; its data, settings and training
        configuration are reused (its own weights are not touched).
    n_folds
        Folds of the shared genes (permuted with ``seed``); each is hidden in turn.
    seed
        Seed of the gene permutation.
    max_epochs
        Cap on each refit's epochs (default: the model's own training settings).
    n_samples
        Latent draws for the predictive summaries (as in :meth:`~stcross.CrossModalModel.impute`).
    max_cells
        Keep the predictions of at most this many ST cells (a random subset drawn with
        ``seed``; ``None``: all): enough for the score quantiles, and memory stays bounded.
        The refits always use every cell.
    progress
        Show the refits' progress bars.

    Returns
    -------
    Dict with ``genes`` (shared genes in model order), ``folds`` (lists of genes), ``epochs``
    (of each refit), ``cells`` (row indices of the kept ST cells) and cells x genes float32
    arrays ``truth``, ``mean``, ``sd``, ``p_zero``.
    """
    model.require_trained()
    genes = list(model.shared_genes)
    n_folds = _check_folds(n_folds, len(genes))
    folds = gene_folds(genes, n_folds, seed=seed)
    settings = model.train_config
    if max_epochs is not None:
        if isinstance(max_epochs, bool) or int(max_epochs) != max_epochs or max_epochs < 1:
            msg = f"max_epochs must be a positive integer or None, got {max_epochs!r}."
            raise ValueError(msg)
        limit = int(max_epochs) if settings.max_epochs is None else min(int(max_epochs), settings.max_epochs)
        settings = dataclasses.replace(settings, max_epochs=limit)
    truth_all = model.data[1].targets.matrix  # ST targets: the shared genes in model order
    position = {g: i for i, g in enumerate(genes)}
    n_cells = len(model.st_cells)
    if max_cells is not None and (isinstance(max_cells, bool) or int(max_cells) < 1):
        msg = f"max_cells must be a positive integer or None, got {max_cells!r}."
        raise ValueError(msg)
    cells = np.arange(n_cells)
    if max_cells is not None and n_cells > max_cells:
        cells = np.sort(np.random.default_rng(seed).choice(n_cells, int(max_cells), replace=False))
    out = {k: np.empty((cells.size, len(genes)), np.float32) for k in ("truth", "mean", "sd", "p_zero")}
    epochs = []
    report_progress("calibrating", 0, n_folds)
    for k, held in enumerate(folds):
        started = time.perf_counter()
        with _quiet_refit():
            inner = model.with_st_genes_hidden(held)
            # threads=None: the refits run under the thread count calibrate() was called with.
            inner.train(config=settings, device=str(model.device), progress_bar=progress, threads=None)
            imputed = inner.impute(genes=held, n_samples=n_samples, seed=seed, threads=None)
        columns = [position[g] for g in held]
        for key in ("mean", "sd", "p_zero"):
            out[key][:, columns] = np.asarray(imputed[:, held].layers[key])[cells]
        block = truth_all[cells][:, columns]
        out["truth"][:, columns] = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        epochs.append(len(inner.history))
        logger.info(
            "Calibration fold %d/%d: %d genes hidden, %d epochs, %.1f s.",
            k + 1, n_folds, len(held), epochs[-1], time.perf_counter() - started,
        )
        report_progress("calibrating", k + 1, n_folds)
    return {"genes": genes, "folds": folds, "epochs": epochs, "cells": cells, **out}


@contextlib.contextmanager
def _quiet_refit():
    """Silence a refit's own log (its data checks repeat the trained model's, already logged;
    its training and imputation lines would bury the one line per fold)."""
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _check_folds(n_folds: int, n_genes: int) -> int:
    if isinstance(n_folds, bool) or int(n_folds) != n_folds or n_folds < 2:
        msg = f"n_folds must be an integer of at least 2, got {n_folds!r}."
        raise InputError(msg)
    n_folds = int(n_folds)
    needed = max(MIN_GENES_TOTAL, 2 * n_folds)
    while needed - -(-needed // n_folds) < MIN_SHARED_GENES:  # each refit keeps enough genes to find partners
        needed += 1
    if n_genes < needed:
        msg = (
            f"Too few ST panel genes to calibrate: {n_genes} shared genes, but {n_folds}-fold calibration "
            f"needs at least {needed} (at least {MIN_GENES_TOTAL} overall, two held-out genes per fold and "
            f"{MIN_SHARED_GENES} kept to train each fold's model). Use fewer folds, or keep the uncalibrated "
            "predictive intervals."
        )
        raise InputError(msg)
    return n_folds


def calibrate_model(
    model,
    *,
    n_folds: int = 5,
    seed: int = 0,
    max_epochs: int | None = None,
    level_bins: int = 3,
    zero_bins: int = 1,
    min_genes: int = 5,
    sd_floor: float | None = None,
    nonnegative: bool | None = None,
    n_samples: int = 0,
    max_cells: int | None = 50_000,
    progress: bool = False,
) -> Calibration:
    """Conformal calibration of a trained model's intervals on held-out panel genes.

    Hides each of ``n_folds`` folds of the shared genes in turn, trains the model again
    without them (same architecture, training settings and seed; ``n_folds`` extra fits),
    predicts them, and fits a :class:`Calibration` to the scaled errors
    (see :func:`fit_calibration` for the grouping options).

    Parameters
    ----------
    model
        A trained :class:`stcross.CrossModalModel`.
    n_folds
        Gene folds (at least 2; needs at least ``max(5, 2 * n_folds)`` shared genes).
    seed
        Seed of the gene permutation.
    max_epochs
        Cap on each refit's epochs, to make calibration cheaper (default: as trained).
    level_bins, zero_bins, min_genes, sd_floor, nonnegative
        See :func:`fit_calibration`.
    n_samples
        Latent draws behind the spreads; impute with the same value.
    max_cells
        Score at most this many ST cells per gene (see :func:`heldout_predictions`).
    progress
        Show the refits' progress bars.

    Returns
    -------
    The calibration (:meth:`stcross.CrossModalModel.calibrate` stores it on the model).

    Raises
    ------
    ValueError
        If there are too few shared genes for the folds.
    """
    started = time.perf_counter()
    held = heldout_predictions(
        model,
        n_folds=n_folds,
        seed=seed,
        max_epochs=max_epochs,
        n_samples=n_samples,
        max_cells=max_cells,
        progress=progress,
    )
    info = {
        "method": "split-conformal, scaled residuals, gene-fold hold-out of the ST panel",
        "n_folds": int(n_folds),
        "seed": int(seed),
        "max_epochs": None if max_epochs is None else int(max_epochs),
        "epochs": [int(e) for e in held["epochs"]],
        "n_samples": int(n_samples),
        "genes": held["genes"],
        "n_cells_scored": int(held["truth"].shape[0]),
        "time_s": 0.0,
    }
    calibration = fit_calibration(
        held["truth"],
        held["mean"],
        held["sd"],
        held["p_zero"],
        likelihood=model.likelihoods[1],
        level_bins=level_bins,
        zero_bins=zero_bins,
        min_genes=min_genes,
        sd_floor=sd_floor,
        nonnegative=nonnegative,
        info=info,
    )
    calibration.info["time_s"] = round(time.perf_counter() - started, 3)
    logger.info("Calibrated on %d panel genes in %.1f s: %r", len(held["genes"]), calibration.info["time_s"], calibration)
    return calibration
