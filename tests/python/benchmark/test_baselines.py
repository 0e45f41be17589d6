"""Neighbour baselines, gene folds and the cross-validation harness (stcross.benchmark)."""
from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import stcross
from stcross.benchmark import (
    cross_validate,
    gene_folds,
    knn_library_baseline,
    naive_topk_baseline,
    summarize,
)


def _pair(seed: int = 0, *, counts: bool = True):
    """SC: 90 cells x 20 genes; ST: 40 cells x 9 genes (8 shared with SC, 1 ST-only)."""
    rng = np.random.default_rng(seed)
    if counts:
        # Large means: no two cells share a normalised profile, so there are no top-k ties.
        sc_x = rng.poisson(rng.gamma(2.0, 15.0, size=(90, 20))).astype(np.float32)
        st_x = rng.poisson(rng.gamma(2.0, 10.0, size=(40, 9))).astype(np.float32)
    else:
        sc_x = rng.gamma(2.0, 1.0, size=(90, 20)).astype(np.float32)
        st_x = rng.gamma(2.0, 1.0, size=(40, 9)).astype(np.float32)
    sc_genes = [f"g{i}" for i in range(20)]
    st_genes = [f"g{i}" for i in (3, 1, 7, 0, 12, 5, 9, 15)] + ["st_only"]
    adata_sc = ad.AnnData(sc_x, var=pd.DataFrame(index=sc_genes))
    adata_sc.obs_names = [f"sc{i}" for i in range(90)]
    adata_st = ad.AnnData(st_x, var=pd.DataFrame(index=st_genes))
    adata_st.obs_names = [f"st{i}" for i in range(40)]
    adata_st.obsm["spatial"] = rng.uniform(size=(40, 2))
    return adata_sc, adata_st


def _dense_reference(adata_sc, adata_st, genes, *, k, temperature, counts, library):
    """Straightforward dense version of the baselines (full ST x SC similarity matrix)."""
    panel = [g for g in adata_st.var_names if g in set(adata_sc.var_names)]
    sc_x = np.asarray(adata_sc.X, dtype=np.float64)
    st_x = np.asarray(adata_st.X, dtype=np.float64)
    a = sc_x[:, adata_sc.var_names.get_indexer(panel)]
    b = st_x[:, adata_st.var_names.get_indexer(panel)]
    target = sc_x[:, adata_sc.var_names.get_indexer(genes)]
    if counts:
        keep = a.sum(1) > 0
        a, target = a[keep], target[keep]
    feats = []
    for x in (a, b):
        if counts:
            lib = x.sum(1, keepdims=True)
            x = np.log1p(x / np.where(lib > 0, lib, 1) * 1e4)
        x = (x - x.mean(0)) / x.std(0)
        x = x - x.mean(1, keepdims=True)
        feats.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    sim = feats[1] @ feats[0].T
    idx = np.argsort(-sim, axis=1)[:, :k]
    top = np.take_along_axis(sim, idx, 1)
    if temperature is None:
        w = np.full(top.shape, 1.0 / k)
    else:
        w = np.exp(temperature * top)
        w /= w.sum(1, keepdims=True)
    if counts and library:
        frac = target / a.sum(1, keepdims=True)
        return np.einsum("ck,ckg->cg", w, frac[idx]) * b.sum(1, keepdims=True)
    return np.einsum("ck,ckg->cg", w, target[idx])


def _dense(x):
    return x.toarray() if sp.issparse(x) else np.asarray(x)


GENES = ["g2", "g4", "g3", "g19", "g11"]


@pytest.mark.parametrize("counts", [True, False])
def test_knn_library_chunked_equals_dense(counts):
    adata_sc, adata_st = _pair(counts=counts)
    out = knn_library_baseline(adata_sc, adata_st, genes=GENES, k=25, temperature=10.0, counts=counts, chunk_size=7)
    expected = _dense_reference(adata_sc, adata_st, GENES, k=25, temperature=10.0, counts=counts, library=True)
    np.testing.assert_allclose(out.X, expected, rtol=1e-5, atol=1e-6)
    assert list(out.var_names) == GENES
    assert list(out.obs_names) == list(adata_st.obs_names)
    np.testing.assert_array_equal(out.obsm["spatial"], adata_st.obsm["spatial"])
    assert out.uns["stcross_baseline"]["n_panel_genes"] == 8
    # Chunking changes memory, not the answer.
    whole = knn_library_baseline(adata_sc, adata_st, genes=GENES, k=25, counts=counts, chunk_size=1000)
    np.testing.assert_allclose(whole.X, out.X, rtol=1e-6)


@pytest.mark.parametrize("counts", [True, False])
def test_naive_topk_chunked_equals_dense(counts):
    adata_sc, adata_st = _pair(seed=3, counts=counts)
    out = naive_topk_baseline(adata_sc, adata_st, genes=GENES, k=10, counts=counts, chunk_size=6)
    expected = _dense_reference(adata_sc, adata_st, GENES, k=10, temperature=None, counts=counts, library=False)
    np.testing.assert_allclose(out.X, expected, rtol=1e-5, atol=1e-6)


def test_sparse_input_and_library_scale():
    adata_sc, adata_st = _pair(seed=5)
    dense_out = knn_library_baseline(adata_sc, adata_st, genes=GENES, k=15)
    sparse_sc = adata_sc.copy()
    sparse_sc.X = sp.csr_matrix(sparse_sc.X)
    sparse_out = knn_library_baseline(sparse_sc, adata_st, genes=GENES, k=15)
    np.testing.assert_allclose(sparse_out.X, dense_out.X, rtol=1e-6)
    # Doubling an ST cell's counts doubles its prediction (library scaling), neighbours unchanged.
    doubled = adata_st.copy()
    doubled.X[0] *= 2
    out2 = knn_library_baseline(adata_sc, doubled, genes=GENES, k=15)
    np.testing.assert_allclose(out2.X[0], 2 * dense_out.X[0], rtol=1e-5)


def test_sc_cell_without_panel_counts_is_left_out():
    # A cell with no panel counts but a held-out count would have an infinite fraction.
    adata_sc, adata_st = _pair(seed=7)
    panel = [g for g in adata_st.var_names if g in set(adata_sc.var_names)]
    adata_sc.X[0, adata_sc.var_names.get_indexer(panel)] = 0
    adata_sc.X[0, adata_sc.var_names.get_indexer(["g2"])] = 1000
    out = knn_library_baseline(adata_sc, adata_st, genes=["g2"], k=89)
    assert out.uns["stcross_baseline"]["n_sc_cells_used"] == 89
    assert np.isfinite(out.X).all()
    assert out.X.max() <= adata_st.X.sum(1).max()
    expected = knn_library_baseline(adata_sc[1:].copy(), adata_st, genes=["g2"], k=89)
    np.testing.assert_allclose(out.X, expected.X)


def test_baselines_do_not_modify_inputs_and_validate():
    adata_sc, adata_st = _pair()
    sc_before, st_before = adata_sc.copy(), adata_st.copy()
    knn_library_baseline(adata_sc, adata_st, genes=GENES, k=5)
    naive_topk_baseline(adata_sc, adata_st, genes=GENES, k=5)
    np.testing.assert_array_equal(adata_sc.X, sc_before.X)
    np.testing.assert_array_equal(adata_st.X, st_before.X)
    assert list(adata_st.var_names) == list(st_before.var_names)

    with pytest.raises(ValueError, match="not SC genes"):
        knn_library_baseline(adata_sc, adata_st, genes=["nope"])
    renamed = adata_st.copy()
    renamed.var_names = [g.upper() for g in renamed.var_names]
    with pytest.raises(ValueError, match="No ST gene"):
        knn_library_baseline(adata_sc, renamed, genes=GENES)
    negative = adata_st.copy()
    negative.X[0, 0] = -1
    with pytest.raises(ValueError, match="negative"):
        knn_library_baseline(adata_sc, negative, genes=GENES)
    with pytest.raises(ValueError, match="k must"):
        naive_topk_baseline(adata_sc, adata_st, genes=GENES, k=0)


def test_gene_folds_partition_and_determinism():
    genes = [f"g{i}" for i in range(33)]
    folds = gene_folds(genes, 5, seed=0)
    assert folds == gene_folds(genes, 5, seed=0)
    assert folds != gene_folds(genes, 5, seed=1)
    assert sorted(g for fold in folds for g in fold) == sorted(genes)
    assert [len(f) for f in folds] == [7, 7, 7, 6, 6]
    expected = np.array_split(np.random.default_rng(0).permutation(33), 5)
    assert folds == [[genes[i] for i in part] for part in expected]
    with pytest.raises(ValueError, match="Too few shared genes"):
        gene_folds(genes[:9], 5)
    with pytest.raises(ValueError, match="unique"):
        gene_folds(["a", "a", "b", "c"], 2)
    with pytest.raises(ValueError, match="n_folds"):
        gene_folds(genes, 1)


@pytest.fixture(scope="module")
def osmfish_subset():
    adata_sc, adata_st = stcross.datasets.osmfish()
    return adata_sc, adata_st[:500].copy()


def test_cross_validate_knn_on_real_osmfish(osmfish_subset):
    adata_sc, adata_st = osmfish_subset
    st_before = adata_st.copy()
    df, predictions = cross_validate(adata_sc, adata_st, method="knn200", progress=False, return_predictions=True)
    assert list(df.columns) == ["gene", "fold", "method", "pcc", "spearman", "ssim", "rmse_z", "js", "fold_time_s"]
    assert len(df) == 33 and df["gene"].is_unique
    assert set(df["fold"]) == set(range(5))
    assert np.isfinite(df["pcc"]).all()
    assert df.attrs["method"] == "knn200" and df.attrs["counts"] is True
    assert df.attrs["total_time_s"] > 0
    # Predictions per fold cover exactly that fold's held-out genes, for every ST cell.
    assert len(predictions) == 5
    for fold, imputed in enumerate(predictions):
        assert list(imputed.var_names) == df.loc[df["fold"] == fold, "gene"].tolist()
        assert imputed.n_obs == adata_st.n_obs
    np.testing.assert_array_equal(_dense(adata_st.X), _dense(st_before.X))

    naive = cross_validate(adata_sc, adata_st, method="naive50", progress=False)
    assert naive["gene"].tolist() == df["gene"].tolist()
    # The library-scaled weighted baseline is the stronger one (0.22 vs 0.12 here).
    assert df["pcc"].mean() > naive["pcc"].mean() + 0.05
    summary = summarize(pd.concat([df, naive]))
    assert summary.loc["knn200", "AS"] > summary.loc["naive50", "AS"]
    assert summary.loc["knn200", "n_genes"] == 33


def test_cross_validate_rejects_bad_arguments(osmfish_subset):
    adata_sc, adata_st = osmfish_subset
    with pytest.raises(ValueError, match="method must be"):
        cross_validate(adata_sc, adata_st, method="tangram", progress=False)
    with pytest.raises(ValueError, match="Too few shared genes"):
        cross_validate(adata_sc, adata_st[:, :8], method="knn200", progress=False)


def test_cross_validate_stcross_path_keeps_uncertainty_layers(osmfish_subset):
    adata_sc, adata_st = osmfish_subset
    small_sc, small_st = adata_sc[:120].copy(), adata_st[:120].copy()
    df, predictions = cross_validate(
        small_sc,
        small_st,
        n_folds=2,
        method="stcross",
        train_kwargs={"max_epochs": 1, "device": "cpu", "batch_size": 64},
        return_predictions=True,
        progress=False,
    )
    assert len(df) == 33 and (df["method"] == "stcross").all()
    assert np.isfinite(df[["pcc", "ssim", "rmse_z", "js"]].to_numpy()).all()
    for fold, imputed in enumerate(predictions):
        held_out = df.loc[df["fold"] == fold, "gene"].tolist()
        assert list(imputed.var_names) == held_out
        assert {"mean", "sd", "lower", "upper", "p_zero"} <= set(imputed.layers)
        assert imputed.uns["stcross_cv"]["held_out"] == held_out
    assert small_st.n_vars == 33
