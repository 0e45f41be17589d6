"""impute(out=...): the streamed file equals the in-memory result, opens lazily, and refuses bad paths."""
from __future__ import annotations

import logging

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest

import stcross
from stcross.errors import InputError

from conftest import make_pair

LAYERS = ("mean", "sd", "p_zero", "lower", "upper")


def _trained(likelihoods=("zinb", "nb"), config=None):
    sc, st, _ = make_pair()
    if likelihoods[0] == "gaussian":
        sc, st = sc.copy(), st.copy()
        sc.X, st.X = np.log1p(sc.X), np.log1p(st.X)
    model = stcross.CrossModalModel(sc, st, likelihood_sc=likelihoods[0], likelihood_st=likelihoods[1], config=config)
    return model.train(max_epochs=2, progress_bar=False)


@pytest.fixture(scope="module")
def counts_model():
    return _trained()


def _assert_same(memory: ad.AnnData, streamed: ad.AnnData) -> None:
    """Equal to float32 rounding: the decoder computes a gene chunk's rows as a narrower matrix product,
    whose sums run in another order. Integer (count) bounds may then round to the neighbouring integer."""
    assert list(streamed.var_names) == list(memory.var_names)
    assert list(streamed.obs_names) == list(memory.obs_names)
    for key in ("mean", "sd", "p_zero"):
        np.testing.assert_allclose(streamed.layers[key][:], memory.layers[key], rtol=1e-5, atol=1e-6)
    for key in ("lower", "upper"):
        values, expected = streamed.layers[key][:], memory.layers[key]
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1.0)
        assert np.mean(~np.isclose(values, expected, rtol=1e-5, atol=1e-6)) < 0.002
    np.testing.assert_array_equal(streamed.X[:], streamed.layers["mean"][:])
    np.testing.assert_array_equal(streamed.obsm["spatial"], memory.obsm["spatial"])
    pd.testing.assert_frame_equal(streamed.var, memory.var)
    assert streamed.uns["stcross"] == memory.uns["stcross"]


@pytest.mark.parametrize("n_samples", [0, 3])
def test_streamed_counts_equal_the_in_memory_result(counts_model, tmp_path, n_samples):
    memory = counts_model.impute(n_samples=n_samples, batch_size=64)
    # Gene chunks that do not divide the genes, cell batches that do not divide the cells.
    streamed = counts_model.impute(n_samples=n_samples, batch_size=64, out=tmp_path / "x.h5ad", genes_per_chunk=7)
    _assert_same(memory, streamed)
    assert isinstance(streamed.layers["sd"], h5py.Dataset)  # read on access, not loaded


def test_streamed_calibrated_intervals_equal_the_in_memory_ones(tmp_path):
    model = _trained()
    model.calibrate(n_folds=2, max_epochs=1)
    memory = model.impute(batch_size=50)
    streamed = model.impute(batch_size=50, out=tmp_path / "x.h5ad", genes_per_chunk=5)
    assert streamed.uns["stcross"]["calibrated"]
    _assert_same(memory, streamed)


def test_streamed_gaussian_with_the_neighbour_blend(tmp_path):
    model = _trained(("gaussian", "gaussian"))
    assert model.neighbor_blend > 0
    memory = model.impute()
    streamed = model.impute(out=tmp_path / "x.h5ad", genes_per_chunk=6)
    _assert_same(memory, streamed)


def test_the_file_is_a_standard_h5ad_without_a_second_copy_of_the_mean(counts_model, tmp_path):
    path = tmp_path / "x.h5ad"
    streamed = counts_model.impute(genes=["Gene20", "Gene21"], out=path)
    with h5py.File(path, "r") as file:
        assert isinstance(file.get("X", getlink=True), h5py.SoftLink)
        assert sorted(file["layers"]) == sorted(LAYERS)
    eager = ad.read_h5ad(path)
    np.testing.assert_array_equal(eager.X, eager.layers["mean"])
    np.testing.assert_array_equal(eager.layers["sd"], streamed.layers["sd"][:])
    reopened = stcross.read_imputation(path)
    subset = reopened[:10, ["Gene21"]].to_memory()
    np.testing.assert_array_equal(subset.layers["upper"], streamed.layers["upper"][:10, 1:2])


def test_out_paths_are_checked_before_any_work(counts_model, tmp_path):
    with pytest.raises(InputError, match=r"\.h5ad file"):
        counts_model.impute(out=tmp_path / "x.csv")
    with pytest.raises(InputError, match="does not exist"):
        counts_model.impute(out=tmp_path / "missing" / "x.h5ad")
    path = tmp_path / "x.h5ad"
    path.write_text("mine")
    with pytest.raises(InputError, match="overwrite=True"):
        counts_model.impute(out=path)
    assert path.read_text() == "mine"
    with pytest.raises(InputError, match="genes_per_chunk"):
        counts_model.impute(out=tmp_path / "y.h5ad", genes_per_chunk=0)
    assert not (tmp_path / "y.h5ad").exists()


def test_a_failed_write_leaves_no_file(counts_model, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(stcross.impute.to_disk, "_write_gene_chunk", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        counts_model.impute(out=tmp_path / "x.h5ad")
    assert list(tmp_path.iterdir()) == []


def test_read_imputation_refuses_other_files(tmp_path):
    path = tmp_path / "other.h5ad"
    ad.AnnData(np.ones((3, 2), np.float32)).write_h5ad(path)
    with pytest.raises(InputError, match="not an stcross imputation"):
        stcross.read_imputation(path)
    with pytest.raises(InputError, match="No imputation file"):
        stcross.read_imputation(tmp_path / "none.h5ad")


def test_streaming_reports_progress_per_gene_chunk(counts_model, tmp_path, caplog):
    """A long write shows progress (the R package draws it as a bar): one record per gene chunk."""
    from stcross.progress import PROGRESS_FIELD

    with caplog.at_level(logging.DEBUG, logger="stcross"):
        streamed = counts_model.impute(out=tmp_path / "x.h5ad", genes_per_chunk=7)
    reported = [getattr(r, PROGRESS_FIELD) for r in caplog.records if hasattr(r, PROGRESS_FIELD)]
    n = streamed.n_vars
    assert reported == [("imputing to disk", min(n, done), n) for done in range(7, n + 7, 7)]
