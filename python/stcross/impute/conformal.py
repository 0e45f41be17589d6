"""Conformal maths of the imputation intervals: scores, their grouped quantiles, calibrated bounds.

Pure NumPy on held-out predictions (:mod:`stcross.impute.heldout_masked` produces them from one
masked-gene training, :mod:`stcross.impute.calibration` by refitting the model with panel genes
hidden). The errors become conformal scores

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

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..likelihoods import get_likelihood

__all__ = ["Calibration", "ScoreTable", "conformal_scores", "fit_calibration", "gene_statistics"]

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

    Built by :func:`stcross.impute.calibration.calibrate_model` (through :meth:`stcross.CrossModalModel.calibrate`) or
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
        return self.groups_of(*gene_statistics(mean, p_zero))

    def groups_of(self, level: np.ndarray, zero: np.ndarray) -> list[str]:
        """Group key of each gene from its :func:`gene_statistics` (mean prediction, mean P(0))."""
        level_bin = np.searchsorted(self.level_edges, level, side="right")
        keys = []
        for i, z in zip(level_bin, zero):
            zero_bin = int(np.searchsorted(self.zero_edges[i], z, side="right")) if len(self.zero_edges) > i else 0
            for key in (f"L{i}Z{zero_bin}", f"L{i}", "pooled"):
                if key in self.tables:
                    keys.append(key)
                    break
        return keys

    def gene_quantiles(self, level: np.ndarray, zero: np.ndarray, interval: float) -> tuple[np.ndarray, np.ndarray]:
        """Each gene's lower and upper score quantile for ``interval``, from its :func:`gene_statistics`."""
        keys = self.groups_of(level, zero)
        q_lo = np.empty(len(keys))
        q_hi = np.empty(len(keys))
        for key in set(keys):
            columns = np.array([k == key for k in keys])
            q_lo[columns], q_hi[columns] = self.tables[key].quantiles(interval)
        return q_lo, q_hi

    def check_interval(self, interval: float, n_samples: int | None) -> None:
        """Refuse an impossible ``interval``; warn when ``n_samples`` differs from calibration's."""
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

    def interval(
        self, summary: Mapping[str, np.ndarray], genes: Sequence[str] | None, interval: float, *, n_samples: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated central ``interval`` bounds for a predictive summary.

        Parameters
        ----------
        summary
            Cells x genes arrays ``"mean"``, ``"sd"`` and ``"p_zero"`` (as from
            :meth:`stcross.impute.predictive.Predictor.summary`).
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
        self.check_interval(interval, n_samples)
        mean = np.asarray(summary["mean"], np.float64)
        sd = np.asarray(summary["sd"], np.float64)
        q_lo, q_hi = self.gene_quantiles(*gene_statistics(mean, np.asarray(summary["p_zero"], np.float64)), interval)
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


