"""The partner graph against a dense reference: the full correlation matrix, sorted.

Row standardisation and the top-k search themselves are tested in test_neighbors.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import correlated_features, dense_top_k
from stcross.data.partners import build_partner_graph, joint_pca


def _reference_axes(a, b, n_pcs):
    # Eigenvectors of A'A/n_a + B'B/n_b are the right singular vectors of [A/sqrt(n_a); B/sqrt(n_b)].
    stacked = np.vstack([a / np.sqrt(len(a)), b / np.sqrt(len(b))])
    return np.linalg.svd(stacked, full_matrices=False)[2][:n_pcs].T


def _assert_same_up_to_sign(x, y, rtol=1e-6):
    signs = np.sign(np.sum(x * y, axis=0))
    np.testing.assert_allclose(x, y * signs, rtol=rtol, atol=rtol * np.abs(y).max())


def test_joint_pca_matches_the_svd_of_both_modalities_weighted_equally():
    a, b = correlated_features()
    pa, pb = joint_pca(a, b, 5)
    axes = _reference_axes(a, b, 5)
    _assert_same_up_to_sign(pa, a @ axes)
    _assert_same_up_to_sign(pb, b @ axes)
    # Each modality weighs the same whatever its cell count: repeating B's rows changes nothing.
    _, pb_repeated = joint_pca(a, np.vstack([b, b, b]), 5)
    _assert_same_up_to_sign(pb_repeated[: len(b)], pb)


@pytest.mark.parametrize("n_pcs", [0, 12, 30])
def test_joint_pca_without_reduction_returns_the_inputs(n_pcs):
    a, b = correlated_features()
    pa, pb = joint_pca(a, b, n_pcs)
    assert pa is a and pb is b


def test_partner_graph_matches_a_dense_reference_in_both_directions():
    a, b = correlated_features(n_a=90, n_b=60, n_genes=16)
    k, n_pcs = 6, 8
    graph = build_partner_graph(a.astype(np.float32), b.astype(np.float32), k, n_pcs=n_pcs)
    axes = _reference_axes(a, b, n_pcs)
    # The similarity depends on each axis' sign (see the xfail below): use the implementation's.
    axes = axes * np.sign(np.sum(joint_pca(a, b, n_pcs)[0] * (a @ axes), axis=0))
    # Pearson correlation of the projected profiles, every SC x ST pair.
    corr = np.corrcoef(a @ axes, b @ axes)[: len(a), len(a) :]
    sc_index, sc_value = dense_top_k(corr, k)
    st_index, st_value = dense_top_k(corr.T, k)
    np.testing.assert_allclose(graph.sc_to_st_sim, sc_value, atol=1e-4)
    np.testing.assert_allclose(graph.st_to_sc_sim, st_value, atol=1e-4)
    np.testing.assert_array_equal(graph.sc_to_st, sc_index)
    np.testing.assert_array_equal(graph.st_to_sc, st_index)
    assert graph.sc_to_st.shape == (len(a), k) and graph.st_to_sc.shape == (len(b), k)


def test_partner_graph_without_pca_uses_the_features_directly():
    a, b = correlated_features(n_genes=6)
    graph = build_partner_graph(a, b, 3, n_pcs=0)
    corr = np.corrcoef(a, b)[: len(a), len(a) :]
    np.testing.assert_array_equal(graph.st_to_sc, dense_top_k(corr.T, 3)[0])
    np.testing.assert_allclose(graph.st_to_sc_sim, dense_top_k(corr.T, 3)[1], atol=1e-5)


@pytest.mark.xfail(strict=True, reason=(
    "Known issue, reported: after the joint PCA, rows are centred across the PC scores, so the "
    "similarity (and the partners) change with the arbitrary sign LAPACK gives each axis."
))
def test_partners_do_not_depend_on_the_sign_of_the_pca_axes(monkeypatch):
    import stcross.data.partners as partners

    a, b = correlated_features(n_a=90, n_b=60, n_genes=16)
    before = build_partner_graph(a, b, 6, n_pcs=8)

    def flipped(x, y, n_pcs):
        px, py = joint_pca(x, y, n_pcs)
        return px * [-1, 1, 1, 1, 1, 1, 1, 1], py * [-1, 1, 1, 1, 1, 1, 1, 1]

    monkeypatch.setattr(partners, "joint_pca", flipped)
    after = build_partner_graph(a, b, 6, n_pcs=8)
    np.testing.assert_array_equal(after.sc_to_st, before.sc_to_st)
