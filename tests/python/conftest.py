"""Shared fixtures: a small synthetic SC/ST pair with known structure."""
from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest


def make_pair(n_sc: int = 240, n_st: int = 200, n_genes: int = 40, n_panel: int = 16, seed: int = 0):
    """Counts from 4 cell types laid out in 4 spatial bands; the ST panel is a gene subset.

    ST measures the panel genes at half the SC depth, like an imaging panel.
    """
    rng = np.random.default_rng(seed)
    n_types = 4
    profiles = rng.gamma(0.6, 1.0, size=(n_types, n_genes)) + 0.05
    profiles[np.arange(n_genes) % n_types, np.arange(n_genes)] += 4.0  # each gene marks one type
    profiles /= profiles.sum(1, keepdims=True)
    type_sc = rng.integers(0, n_types, n_sc)
    type_st = rng.integers(0, n_types, n_st)
    lib_sc = rng.lognormal(np.log(2000), 0.3, n_sc)
    lib_st = rng.lognormal(np.log(600), 0.3, n_st)
    counts_sc = rng.poisson(profiles[type_sc] * lib_sc[:, None]).astype(np.float32)
    panel = np.arange(n_panel)
    counts_st_full = rng.poisson(profiles[type_st] * lib_st[:, None]).astype(np.float32)
    x = type_st + rng.uniform(0, 1, n_st)
    y = rng.uniform(0, 4, n_st)
    genes = [f"Gene{i}" for i in range(n_genes)]
    sc = ad.AnnData(
        counts_sc,
        obs=pd.DataFrame({"cell_type": pd.Categorical(type_sc.astype(str))}, index=[f"sc{i}" for i in range(n_sc)]),
        var=pd.DataFrame(index=genes),
    )
    st = ad.AnnData(
        counts_st_full[:, panel],
        obs=pd.DataFrame({"cell_type": pd.Categorical(type_st.astype(str))}, index=[f"st{i}" for i in range(n_st)]),
        var=pd.DataFrame(index=[genes[i] for i in panel]),
    )
    st.obsm["spatial"] = np.column_stack([x, y])
    truth = pd.DataFrame(counts_st_full, index=st.obs_names, columns=genes)
    return sc, st, truth


def correlated_features(n_a: int = 70, n_b: int = 45, n_genes: int = 12, seed: int = 0):
    """Two feature matrices with correlated genes and an offset between them (dense-reference tests)."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_genes, n_genes))
    a = rng.normal(size=(n_a, n_genes)) @ mixing
    b = rng.normal(size=(n_b, n_genes)) @ mixing + 0.5
    return a, b


def dense_top_k(sim: np.ndarray, k: int):
    """Each row's k largest similarities, best first (ties by column order): the reference for top-k."""
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sim, order, axis=1)


@pytest.fixture
def pair():
    sc, st, _ = make_pair()
    return sc, st


@pytest.fixture
def pair_with_truth():
    return make_pair()
