"""Plots: imputed genes with their uncertainty on the tissue, inferred SC locations, calibration.

Every function draws with matplotlib's object API on the axes it is given (or on a new figure),
works under the non-interactive ``Agg`` backend, never calls ``plt.show()``, writes a PNG/PDF
when ``save=`` is given, and returns what it drew on.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1 import make_axes_locatable

__all__ = ["calibration", "embedding", "history", "locations", "spatial_gene"]

_REFERENCE_GREY = "#d0d0d0"
_MODALITY_COLOURS = {"SC": "#1b9e77", "ST": "#d95f02"}
# Cells drawn by embedding(): more only slow the plot down without changing what it shows.
_MAX_DRAWN = 100_000


def _point_size(n: int) -> float:
    # Dense tissues need small dots; tiny examples need visible ones.
    return float(np.clip(4e4 / max(n, 1), 0.5, 20.0))


def _save(fig: Figure, save: str | Path | None) -> None:
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=150, bbox_inches="tight")


def _column(matrix, j: int) -> np.ndarray:
    col = matrix[:, j]
    if sp.issparse(col):
        col = col.toarray()
    return np.asarray(col, dtype=np.float64).ravel()


def _gene_index(adata, gene: str) -> int:
    if gene not in adata.var_names:
        shown = list(adata.var_names[:10])
        msg = f"Gene {gene!r} is not in the imputed object ({adata.n_vars} genes, e.g. {shown})."
        raise ValueError(msg)
    return int(adata.var_names.get_loc(gene))


def _widest_axes(coords: np.ndarray) -> tuple[int, int]:
    # For a 3D tissue the two widest axes give the most informative projection.
    extent = np.nanmax(coords, axis=0) - np.nanmin(coords, axis=0)
    first, second = sorted(np.argsort(-extent, kind="stable")[:2].tolist())
    return first, second


def _coords_2d(coords, dims: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Two plotting columns of ``coords`` and a drawing order (deepest first) for 3D tissues."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] < 2:
        msg = f"Coordinates must be a (cells, 2 or 3) array, got shape {coords.shape}."
        raise ValueError(msg)
    dims = _widest_axes(coords) if dims is None else tuple(int(d) for d in dims)
    if len(dims) != 2 or any(d < 0 or d >= coords.shape[1] for d in dims):
        msg = f"dims must name two of the {coords.shape[1]} coordinate axes, got {dims}."
        raise ValueError(msg)
    xy = coords[:, list(dims)]
    rest = [d for d in range(coords.shape[1]) if d not in dims]
    # Draw far points first so the visible surface of a 3D tissue ends up on top.
    order = np.argsort(coords[:, rest[0]], kind="stable") if rest else np.arange(coords.shape[0])
    return xy, order


def _limits(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1, 99])
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
        if hi <= lo:
            # A constant map: centre the colour scale on the value.
            half = max(abs(lo) * 0.5, 1e-12)
            lo, hi = lo - half, hi + half
    return float(lo), float(hi)


def _constant_note(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    if finite.size and np.ptp(finite) <= 1e-6 * max(1.0, float(np.abs(finite).max())):
        return f" = {finite[0]:.3g} everywhere"
    return ""


def _colorbar(ax: Axes, art) -> None:
    # A colour bar as tall as the (equal-aspect) map, rather than as tall as the figure.
    cax = make_axes_locatable(ax).append_axes("right", size="4%", pad=0.05)
    ax.figure.colorbar(art, cax=cax)


def _map(ax: Axes, xy: np.ndarray, order: np.ndarray, values: np.ndarray, *, cmap: str, title: str, size: float):
    lo, hi = _limits(values)
    art = ax.scatter(
        xy[order, 0], xy[order, 1], c=values[order], s=size, cmap=cmap, vmin=lo, vmax=hi, linewidths=0, rasterized=True
    )
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    _colorbar(ax, art)
    return art


def spatial_gene(
    imputed,
    gene: str,
    *,
    spatial_key: str = "spatial",
    uncertainty: Literal["sd", "width"] = "sd",
    measured=None,
    dims: Sequence[int] | None = None,
    cmap: str = "viridis",
    uncertainty_cmap: str = "magma",
    point_size: float | None = None,
    ax: Sequence[Axes] | None = None,
    save: str | Path | None = None,
) -> Figure:
    """Map an imputed gene's predictive mean and its uncertainty side by side on the tissue.

    Parameters
    ----------
    imputed
        AnnData from :meth:`stcross.CrossModalModel.impute` (ST cells x genes) with layers
        ``"mean"`` (falls back to ``X``) and ``"sd"`` or ``"lower"``/``"upper"``, and coordinates
        in ``obsm[spatial_key]``.
    gene
        Gene to show.
    spatial_key
        Key of the coordinates in ``imputed.obsm``.
    uncertainty
        ``"sd"``: predictive standard deviation; ``"width"``: width of the prediction interval
        (``upper - lower``, at the level in ``imputed.uns["stcross"]["interval"]``).
    measured
        Optional measured values of the gene for the same cells (1D array-like); adds a third
        panel with them and the Pearson correlation with the mean (for held-out genes).
    dims
        Which two coordinate axes to plot, e.g. ``(0, 2)``; ``None`` picks the two with the
        widest extent (for 2D: both). For 3D tissues points are drawn from the far side of
        the remaining axis to the near side.
    cmap, uncertainty_cmap
        Colour maps of the expression and the uncertainty panels (colour limits are the 1st
        and 99th percentiles).
    point_size
        Marker size; chosen from the number of cells when ``None``.
    ax
        Two axes (three with ``measured``) to draw on; a new figure when ``None``.
    save
        File to write the figure to (format from the suffix).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` holding the panels.
    """
    j = _gene_index(imputed, gene)
    if spatial_key not in imputed.obsm:
        msg = f"imputed.obsm has no {spatial_key!r} coordinates; available: {list(imputed.obsm.keys())}."
        raise ValueError(msg)
    xy, order = _coords_2d(imputed.obsm[spatial_key], dims)
    mean = _column(imputed.layers["mean"] if "mean" in imputed.layers else imputed.X, j)
    if uncertainty == "sd":
        if "sd" not in imputed.layers:
            msg = "imputed has no 'sd' layer; pass uncertainty='width' or impute with stcross."
            raise ValueError(msg)
        spread = _column(imputed.layers["sd"], j)
        spread_title = "predictive sd"
    elif uncertainty == "width":
        if "lower" not in imputed.layers or "upper" not in imputed.layers:
            msg = "imputed needs 'lower' and 'upper' layers for uncertainty='width'."
            raise ValueError(msg)
        spread = _column(imputed.layers["upper"], j) - _column(imputed.layers["lower"], j)
        level = imputed.uns.get("stcross", {}).get("interval")
        spread_title = f"{level:.0%} interval width" if level is not None else "interval width"
    else:
        msg = f"uncertainty must be 'sd' or 'width', got {uncertainty!r}."
        raise ValueError(msg)

    panels = [(mean, cmap, f"{gene}: imputed mean"), (spread, uncertainty_cmap, f"{gene}: {spread_title}")]
    if measured is not None:
        truth = np.asarray(measured, dtype=np.float64).ravel()
        if truth.shape[0] != imputed.n_obs:
            msg = f"measured has {truth.shape[0]} values but imputed has {imputed.n_obs} cells."
            raise ValueError(msg)
        ok = np.isfinite(truth) & np.isfinite(mean)
        r = np.corrcoef(truth[ok], mean[ok])[0, 1] if ok.sum() > 2 and truth[ok].std() > 0 else np.nan
        panels.insert(0, (truth, cmap, f"{gene}: measured (PCC {r:.2f})"))

    if ax is None:
        extent = np.ptp(xy, axis=0)
        aspect = float(extent[1] / extent[0]) if extent[0] > 0 else 1.0
        height = float(np.clip(4.2 * aspect + 0.8, 2.2, 5.5))
        width = float(np.clip((height - 0.8) / aspect + 1.0, 2.5, 4.6))
        fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), height), squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(ax) if not isinstance(ax, Axes) else [ax]
        if len(axes) != len(panels):
            msg = f"ax must hold {len(panels)} axes for these panels, got {len(axes)}."
            raise ValueError(msg)
        fig = axes[0].figure
    size = point_size if point_size is not None else _point_size(imputed.n_obs)
    for a, (values, colours, title) in zip(axes, panels):
        _map(a, xy, order, values, cmap=colours, title=title + _constant_note(values), size=size)
    _save(fig, save)
    return fig


def _palette(n: int) -> list:
    base = [plt.get_cmap(name).colors for name in ("tab20", "tab20b", "tab20c")]
    colours = [c for group in base for c in group]
    if n > len(colours):
        colours = [plt.get_cmap("hsv")(i / n) for i in range(n)]
    return colours[:n]


def locations(
    locations_df: pd.DataFrame,
    *,
    color=None,
    reference_coords=None,
    dims: Sequence[str] | None = None,
    size_by_sd: bool = False,
    point_size: float | None = None,
    legend: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
    save: str | Path | None = None,
) -> Axes:
    """Single cells at their inferred positions, optionally over the ST cells in grey.

    Parameters
    ----------
    locations_df
        Output of :meth:`stcross.CrossModalModel.locate`: one row per SC cell with coordinate
        columns (``x``, ``y`` and for 3D ``z``) and optionally ``sd``.
    color
        Labels (categorical: one colour each, with a legend) or numbers (colour bar) for the
        SC cells: an array in row order, or a :class:`pandas.Series` aligned on the index.
    reference_coords
        ST coordinates (``(cells, 2 or 3)`` array, e.g. ``adata_st.obsm["spatial"]``) drawn
        in light grey underneath.
    dims
        Two coordinate columns to plot; ``None``: ``("x", "y")``, or for 3D the two of
        ``x``, ``y``, ``z`` with the widest extent. The reference uses the matching axes
        (x=0, y=1, z=2).
    size_by_sd
        Shrink markers of uncertain cells (marker area falls as ``sd`` grows).
    point_size
        Marker size; chosen from the number of cells when ``None``.
    legend
        Draw a legend for categorical labels.
    title
        Axes title.
    ax
        Axes to draw on; a new figure when ``None``.
    save
        File to write the figure to.

    Returns
    -------
    The :class:`~matplotlib.axes.Axes` drawn on.
    """
    if not isinstance(locations_df, pd.DataFrame):
        msg = f"locations_df must be a pandas DataFrame (from model.locate()), got {type(locations_df).__name__}."
        raise TypeError(msg)
    if dims is None:
        present = [d for d in ("x", "y", "z") if d in locations_df.columns]
        if len(present) < 2:
            msg = f"locations_df needs coordinate columns x, y[, z]; has {list(locations_df.columns)}."
            raise ValueError(msg)
        i, j = _widest_axes(locations_df[present].to_numpy(dtype=np.float64))
        dims = (present[i], present[j])
    missing = [d for d in dims if d not in locations_df.columns]
    if len(dims) != 2 or missing:
        msg = (
            f"dims must name two coordinate columns of locations_df; missing {missing}, "
            f"have {list(locations_df.columns)}."
        )
        raise ValueError(msg)
    xy = locations_df[list(dims)].to_numpy(dtype=np.float64)
    n = xy.shape[0]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 4.8))
    fig = ax.figure
    size = point_size if point_size is not None else _point_size(n)

    if reference_coords is not None:
        ref = np.asarray(reference_coords, dtype=np.float64)
        axis_of = {"x": 0, "y": 1, "z": 2}
        ref_dims = [axis_of.get(d, i) for i, d in enumerate(dims)]
        ref_xy, _ = _coords_2d(ref, ref_dims)
        ax.scatter(ref_xy[:, 0], ref_xy[:, 1], s=_point_size(ref.shape[0]), c=_REFERENCE_GREY, linewidths=0,
                   rasterized=True, label="_reference")

    sizes = np.full(n, size)
    if size_by_sd and "sd" in locations_df.columns:
        sd = locations_df["sd"].to_numpy(dtype=np.float64)
        scale = np.nanmedian(sd) if np.isfinite(sd).any() and np.nanmedian(sd) > 0 else 1.0
        sizes = size * 2.0 / (1.0 + np.nan_to_num(sd / scale, nan=1.0))

    if color is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c="#1f77b4", linewidths=0, rasterized=True)
    else:
        if isinstance(color, pd.Series) and locations_df.index.isin(color.index).all():
            # Align on cell names, so a label column of adata_sc.obs works in any order.
            labels = color.reindex(locations_df.index).to_numpy()
        else:
            labels = np.asarray(color)
        if labels.shape[0] != n:
            msg = f"color must have one value per SC cell ({n}), got {len(color)}."
            raise ValueError(msg)
        numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
        if numeric:
            art = ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=labels.astype(np.float64), cmap="viridis",
                             linewidths=0, rasterized=True)
            _colorbar(ax, art)
        else:
            cats = pd.Categorical(labels)
            colours = _palette(len(cats.categories))
            for code, (name, colour) in enumerate(zip(cats.categories, colours)):
                sel = cats.codes == code
                ax.scatter(xy[sel, 0], xy[sel, 1], s=sizes[sel], color=colour, linewidths=0, label=str(name),
                           rasterized=True)
            if legend and len(cats.categories) > 0:
                ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, markerscale=2.0, frameon=False,
                          ncol=1 if len(cats.categories) <= 16 else 2)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(dims[0])
    ax.set_ylabel(dims[1])
    ax.set_title(title if title is not None else f"{n} SC cells at inferred positions", fontsize=10)
    _save(fig, save)
    return ax


def _coverage_table(data, observed, group: str | None) -> tuple[pd.DataFrame, str | None]:
    """Normalise the accepted inputs of :func:`calibration` to columns nominal, empirical[, group]."""
    if isinstance(data, Mapping) and not hasattr(data, "obs_names"):
        table = pd.DataFrame({"nominal": list(data.keys()), "empirical": list(data.values())})
    elif isinstance(data, pd.DataFrame):
        table = data.copy()
        if "empirical" not in table.columns and "coverage" in table.columns:
            table = table.rename(columns={"coverage": "empirical"})
        missing = {"nominal", "empirical"} - set(table.columns)
        if missing:
            msg = (
                "The coverage table needs columns 'nominal' and 'empirical' (or 'coverage'); "
                f"missing {sorted(missing)}."
            )
            raise ValueError(msg)
    elif hasattr(data, "obs_names") and hasattr(data, "layers"):
        if observed is None:
            msg = "Pass observed= (measured values of the imputed genes, cells x genes) to plot an imputed AnnData."
            raise ValueError(msg)
        if "lower" not in data.layers or "upper" not in data.layers:
            msg = "The imputed AnnData needs 'lower' and 'upper' layers."
            raise ValueError(msg)
        truth = observed.X if hasattr(observed, "X") else observed
        truth = truth.toarray() if sp.issparse(truth) else np.asarray(truth, dtype=np.float64)
        lower = data.layers["lower"]
        upper = data.layers["upper"]
        lower = lower.toarray() if sp.issparse(lower) else np.asarray(lower)
        upper = upper.toarray() if sp.issparse(upper) else np.asarray(upper)
        if truth.shape != lower.shape:
            msg = f"observed has shape {truth.shape} but the imputed values have shape {lower.shape}."
            raise ValueError(msg)
        inside = (truth >= lower) & (truth <= upper)
        info = data.uns.get("stcross", {})
        level = float(info.get("interval", np.nan))
        label = "calibrated" if info.get("calibrated") else "uncalibrated"
        table = pd.DataFrame(
            {
                "nominal": [level],
                "empirical": [float(inside.mean())],
                "width": [float(np.median(upper - lower))],
                "group": [label],
            }
        )
        group = "group"
    else:
        msg = (
            "calibration() takes a DataFrame with columns nominal, empirical[, group], a {nominal: empirical} "
            f"mapping, or an imputed AnnData with observed=; got {type(data).__name__}."
        )
        raise TypeError(msg)
    if group is not None and group not in table.columns:
        msg = f"group column {group!r} is not in the table (columns: {list(table.columns)})."
        raise ValueError(msg)
    return table, group


def calibration(
    data,
    *,
    observed=None,
    group: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    save: str | Path | None = None,
) -> Axes:
    """Calibration curve of prediction intervals: nominal vs empirical coverage.

    Parameters
    ----------
    data
        One of

        - a :class:`pandas.DataFrame` with columns ``nominal`` and ``empirical`` (or
          ``coverage``), one row per interval level, optionally a group column (method,
          calibrated/uncalibrated, gene group) giving one curve per group;
        - a mapping ``{nominal: empirical}``;
        - an imputed AnnData (layers ``"lower"``, ``"upper"``) together with ``observed``:
          plots the pooled coverage at its interval level.
    observed
        Measured values for the imputed AnnData (array or AnnData, same cells x genes).
    group
        Column of ``data`` that separates curves.
    title
        Axes title.
    ax
        Axes to draw on; a new figure when ``None``.
    save
        File to write the figure to.

    Returns
    -------
    The :class:`~matplotlib.axes.Axes` drawn on.
    """
    table, group = _coverage_table(data, observed, group)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.4, 4.2))
    fig = ax.figure
    ax.plot([0, 1], [0, 1], ls="--", c="0.5", lw=1, label="ideal")
    groups = [(None, table)] if group is None else list(table.groupby(group, sort=False))
    for name, part in groups:
        part = part.sort_values("nominal")
        label = "empirical" if name is None else str(name)
        ax.plot(part["nominal"], part["empirical"], marker="o", ms=4, lw=1.5, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("empirical coverage")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.set_title(title if title is not None else "Interval calibration", fontsize=10)
    _save(fig, save)
    return ax


def history(
    history: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    ax: Axes | None = None,
    save: str | Path | None = None,
) -> Figure:
    """Training curves: each loss term against the epoch.

    Parameters
    ----------
    history
        :attr:`stcross.CrossModalModel.history` (one row per epoch, one column per term).
    columns
        Terms to draw; when ``None`` every numeric column except timings, with each
        ``validation_<term>`` column drawn dashed on its term's panel.
    ax
        One axes to draw every term on; otherwise a new figure with one panel per term
        (terms differ in scale).
    save
        File to write the figure to.

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on.
    """
    if not isinstance(history, pd.DataFrame) or history.empty:
        msg = "history must be a non-empty DataFrame (model.history after training)."
        raise ValueError(msg)
    if columns is None:
        # Validation terms are drawn next to their training term; timings are not losses.
        columns = [
            c for c in history.columns
            if pd.api.types.is_numeric_dtype(history[c]) and not str(c).startswith("validation_")
            and c not in ("seconds", "epoch")
        ]
    missing = [c for c in columns if c not in history.columns]
    if missing or not columns:
        msg = f"history has no columns {missing or columns}; it has {list(history.columns)}."
        raise ValueError(msg)
    epochs = np.arange(1, len(history) + 1)
    if ax is not None:
        for c in columns:
            ax.plot(epochs, history[c].to_numpy(dtype=np.float64), label=str(c))
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8, frameon=False)
        fig = ax.figure
    else:
        n_cols = min(len(columns), 3)
        n_rows = int(np.ceil(len(columns) / n_cols))
        fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.4 * n_cols, 2.6 * n_rows), squeeze=False)
        for a, c in zip(axes.ravel(), columns):
            a.plot(epochs, history[c].to_numpy(dtype=np.float64), lw=1.5, label="train")
            if f"validation_{c}" in history.columns:
                a.plot(epochs, history[f"validation_{c}"].to_numpy(dtype=np.float64), lw=1.5, ls="--",
                       label="validation")
                a.legend(fontsize=7, frameon=False)
            a.set_title(str(c), fontsize=9)
            a.set_xlabel("epoch", fontsize=8)
            a.tick_params(labelsize=7)
        for a in axes.ravel()[len(columns):]:
            a.set_visible(False)
        fig.tight_layout()
    _save(fig, save)
    return fig


def embedding(
    embedding_sc: np.ndarray,
    embedding_st: np.ndarray,
    *,
    title: str | None = None,
    seed: int = 0,
    ax: Axes | None = None,
    save: str | Path | None = None,
) -> Axes:
    """SC and ST cells of a joint embedding on its first two principal components, coloured by modality.

    Parameters
    ----------
    embedding_sc, embedding_st
        Cells x dimensions, e.g. ``model.joint_embedding("sc")`` and ``("st")``.
    title
        Axes title (default names the view).
    seed
        Seeds the drawing order (cells are drawn shuffled, so neither modality hides the
        other) and, above 100,000 cells, which 100,000 are drawn.
    ax
        Axes to draw on; a new figure otherwise.
    save
        File to write the figure to.

    Returns
    -------
    The :class:`~matplotlib.axes.Axes` drawn on.
    """
    a, b = np.asarray(embedding_sc, np.float64), np.asarray(embedding_st, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or a.shape[1] < 2 or not len(a) or not len(b):
        msg = f"embedding_sc and embedding_st must be cells x dimensions with the same (>= 2) dimensions; got {a.shape} and {b.shape}."
        raise ValueError(msg)
    both = np.vstack([a, b])
    both -= both.mean(axis=0)
    # PCA from the dims x dims covariance: memory stays that of the embedding, whatever the cells.
    axes = np.linalg.eigh(both.T @ both)[1][:, ::-1][:, :2]
    pcs = both @ axes
    is_st = np.r_[np.zeros(len(a), bool), np.ones(len(b), bool)]
    # Shuffled, so neither modality hides the other; at most MAX_DRAWN cells, drawn at random.
    order = np.random.default_rng(seed).permutation(len(both))[:_MAX_DRAWN]
    colours = np.where(is_st[order], _MODALITY_COLOURS["ST"], _MODALITY_COLOURS["SC"])
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(pcs[order, 0], pcs[order, 1], c=colours, s=_point_size(order.size), linewidths=0)
    for label, n in (("SC", len(a)), ("ST", len(b))):
        ax.scatter([], [], c=_MODALITY_COLOURS[label], s=12, label=f"{label} ({n} cells)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "joint embedding, by modality")
    _save(ax.figure, save)
    return ax
