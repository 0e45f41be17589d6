"""Plots: return their figure/axes, draw what they are given, write image files, reject bad input."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from stcross import pl

PNG_MAGIC = b"\x89PNG"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _imputed(n: int = 60, dim: int = 2, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    mean = rng.gamma(2.0, 1.0, size=(n, 3)).astype(np.float32)
    sd = rng.uniform(0.1, 1.0, size=(n, 3)).astype(np.float32)
    coords = rng.uniform(0, 1, size=(n, dim)) * np.array([10.0, 1.0, 5.0][:dim])
    adata = ad.AnnData(
        X=mean.copy(),
        obs=pd.DataFrame(index=[f"st{i}" for i in range(n)]),
        var=pd.DataFrame(index=["g1", "g2", "g3"]),
        obsm={"spatial": coords},
    )
    adata.layers["mean"] = mean
    adata.layers["sd"] = sd
    adata.layers["lower"] = mean - 2 * sd
    adata.layers["upper"] = mean + 2 * sd
    adata.uns["stcross"] = {"interval": 0.9, "calibrated": False}
    return adata


def _scatter_values(ax: Axes) -> np.ndarray:
    return np.asarray(ax.collections[0].get_array())


def test_spatial_gene_draws_mean_and_sd_and_saves(tmp_path):
    imp = _imputed()
    out = tmp_path / "sub" / "g2.png"
    fig = pl.spatial_gene(imp, "g2", save=out)
    assert isinstance(fig, Figure)
    maps = [a for a in fig.axes if a.get_title()]  # the colour bars have no title
    assert len(maps) == 2
    assert np.allclose(np.sort(_scatter_values(maps[0])), np.sort(imp.layers["mean"][:, 1]))
    assert np.allclose(np.sort(_scatter_values(maps[1])), np.sort(imp.layers["sd"][:, 1]))
    assert out.read_bytes()[:4] == PNG_MAGIC


def test_spatial_gene_width_measured_and_given_axes():
    imp = _imputed()
    truth = imp.layers["mean"][:, 0] + 0.1
    fig, axes = plt.subplots(1, 3)
    out = pl.spatial_gene(imp, "g1", uncertainty="width", measured=truth, ax=axes)
    assert out is fig
    assert "PCC 1.00" in axes[0].get_title()
    width = imp.layers["upper"][:, 0] - imp.layers["lower"][:, 0]
    assert np.allclose(np.sort(_scatter_values(axes[2])), np.sort(width), atol=1e-5)
    assert "90% interval width" in axes[2].get_title()


def test_spatial_gene_3d_uses_widest_axes_or_chosen_ones():
    imp = _imputed(dim=3)
    coords = imp.obsm["spatial"]
    fig = pl.spatial_gene(imp, "g1")
    offsets = fig.axes[0].collections[0].get_offsets()
    # Widest extents are axes 0 (x10) and 2 (x5); points are drawn far side first along axis 1.
    order = np.argsort(coords[:, 1], kind="stable")
    assert np.allclose(offsets, coords[order][:, [0, 2]])
    fig = pl.spatial_gene(imp, "g1", dims=(1, 2))
    assert np.allclose(np.sort(fig.axes[0].collections[0].get_offsets()[:, 0]), np.sort(coords[:, 1]))


def test_spatial_gene_says_when_the_uncertainty_is_constant():
    imp = _imputed()
    imp.layers["sd"][:, 2] = 0.25  # e.g. a Gaussian likelihood's per-gene spread
    fig = pl.spatial_gene(imp, "g3")
    assert fig.axes[1].get_title() == "g3: predictive sd = 0.25 everywhere"
    assert "everywhere" not in fig.axes[0].get_title()


def test_spatial_gene_rejects_bad_input():
    imp = _imputed()
    with pytest.raises(ValueError, match="not in the imputed object"):
        pl.spatial_gene(imp, "nope")
    with pytest.raises(ValueError, match="obsm"):
        pl.spatial_gene(imp, "g1", spatial_key="xy")
    with pytest.raises(ValueError, match="uncertainty"):
        pl.spatial_gene(imp, "g1", uncertainty="iqr")
    with pytest.raises(ValueError, match="measured"):
        pl.spatial_gene(imp, "g1", measured=np.zeros(5))


def test_locations_categorical_aligned_by_name_with_reference(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"c{i}" for i in range(40)]
    loc = pd.DataFrame(rng.normal(size=(40, 2)), index=names, columns=["x", "y"])
    loc["sd"] = rng.uniform(0.1, 1, 40)
    labels = pd.Series(["A"] * 10 + ["B"] * 30, index=names)
    out = tmp_path / "loc.png"
    ax = pl.locations(loc, color=labels.iloc[::-1], reference_coords=rng.normal(size=(100, 2)), size_by_sd=True,
                      save=out)
    assert isinstance(ax, Axes)
    assert out.read_bytes()[:4] == PNG_MAGIC
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["A", "B"]
    # Reference first (grey, 100 points), then one collection per label, matched by cell name.
    assert len(ax.collections[0].get_offsets()) == 100
    assert np.allclose(ax.collections[1].get_offsets(), loc[["x", "y"]].to_numpy()[:10])


def test_locations_numeric_3d_and_errors():
    rng = np.random.default_rng(2)
    loc = pd.DataFrame(rng.normal(size=(30, 3)) * [5.0, 0.1, 2.0], columns=["x", "y", "z"])
    ax = pl.locations(loc, color=np.arange(30.0))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "z")
    assert np.allclose(np.asarray(ax.collections[0].get_array()), np.arange(30.0))
    with pytest.raises(ValueError, match="one value per SC cell"):
        pl.locations(loc, color=["a", "b"])
    with pytest.raises(TypeError, match="DataFrame"):
        pl.locations(loc.to_numpy())


def test_calibration_from_table_mapping_and_anndata(tmp_path):
    table = pd.DataFrame(
        {"nominal": [0.5, 0.9, 0.5, 0.9], "coverage": [0.4, 0.8, 0.5, 0.9], "method": ["raw", "raw", "cal", "cal"]}
    )
    out = tmp_path / "cal.png"
    ax = pl.calibration(table, group="method", save=out)
    assert out.read_bytes()[:4] == PNG_MAGIC
    assert [line.get_label() for line in ax.get_lines()] == ["ideal", "raw", "cal"]
    assert np.allclose(ax.get_lines()[1].get_ydata(), [0.4, 0.8])

    ax = pl.calibration({0.8: 0.75, 0.5: 0.45})
    assert np.allclose(ax.get_lines()[1].get_xdata(), [0.5, 0.8])

    imp = _imputed()
    observed = imp.layers["mean"].copy()
    observed[:15] += 100.0  # a quarter of the cells fall outside their intervals
    ax = pl.calibration(imp, observed=observed)
    line = ax.get_lines()[1]
    assert line.get_label() == "uncalibrated"
    assert np.allclose(line.get_xdata(), [0.9]) and np.allclose(line.get_ydata(), [0.75])


def test_calibration_rejects_bad_input():
    with pytest.raises(ValueError, match="nominal"):
        pl.calibration(pd.DataFrame({"level": [0.9], "empirical": [0.9]}))
    with pytest.raises(ValueError, match="observed"):
        pl.calibration(_imputed())
    with pytest.raises(TypeError):
        pl.calibration([0.9, 0.8])


def test_history_panels_and_validation_overlay(tmp_path):
    hist = pd.DataFrame(
        {"total": [3.0, 2.0, 1.5], "kl": [0.1, 0.2, 0.3], "validation_total": [3.2, 2.4, 1.9], "seconds": [1, 1, 1]}
    )
    out = tmp_path / "h.png"
    fig = pl.history(hist, save=out)
    visible = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in visible] == ["total", "kl"]
    assert len(visible[0].get_lines()) == 2  # train and validation
    assert out.read_bytes()[:4] == PNG_MAGIC
    with pytest.raises(ValueError):
        pl.history(pd.DataFrame())


def test_embedding_draws_both_modalities_on_two_components_and_rejects_bad_input(tmp_path):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(30, 6)), rng.normal(size=(50, 6)) + 4.0
    file = tmp_path / "joint.png"
    ax = pl.embedding(a, b, save=file)
    assert file.exists()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SC (30 cells)", "ST (50 cells)"]
    points = ax.collections[0].get_offsets()
    assert points.shape == (80, 2)
    # The modalities sit apart along the first component: the plot shows an offset when there is one.
    colours = ax.collections[0].get_facecolors()
    st_rows = np.all(np.isclose(colours[:, :3], matplotlib.colors.to_rgb("#d95f02")), axis=1)
    assert st_rows.sum() == 50
    assert abs(points[st_rows, 0].mean() - points[~st_rows, 0].mean()) > 5
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="same \\(>= 2\\) dimensions"):
        pl.embedding(a, b[:, :4])
