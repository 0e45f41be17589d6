"""Approximate top-k (FAISS inverted-file index) against exact search, and when it is used."""
from __future__ import annotations

import numpy as np
import pytest
import stcross.approximate_neighbors as approximate
from stcross.neighbors import standardize_rows, top_k_similar

K = 15
needs_faiss = pytest.mark.skipif(not approximate.faiss_available(), reason="FAISS (stcross[scale]) is not installed")


def clustered_rows(n: int, seed: int, dims: int = 20, n_types: int = 12) -> np.ndarray:
    """Cells of a few types with noise, standardised like partner features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_types, dims))
    return standardize_rows(centres[rng.integers(0, n_types, n)] + 0.8 * rng.normal(size=(n, dims))).astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / truth.shape[1] for f, t in zip(found, truth)]))


@needs_faiss
def test_approximate_top_k_finds_the_exact_neighbours_and_is_reproducible():
    reference, query = clustered_rows(4000, 0), clustered_rows(500, 1)
    truth, truth_sim = top_k_similar(query, reference, K, approximate=False)
    found, sim = approximate.approximate_top_k(query, reference, K, n_probe=16, seed=3)
    assert found.shape == (500, K) and found.dtype == np.int64 and sim.dtype == np.float32
    assert recall(found, truth) > 0.9
    # Similarities are the true dot products, most similar first, and never beat the exact k-th.
    np.testing.assert_allclose(sim, np.einsum("qd,qkd->qk", query, reference[found]), atol=1e-5)
    assert np.all(np.diff(sim, axis=1) <= 1e-6)
    assert np.all(sim[:, -1] <= truth_sim[:, -1] + 1e-5)
    again, _ = approximate.approximate_top_k(query, reference, K, n_probe=16, seed=3)
    np.testing.assert_array_equal(found, again)
    # Scanning every cluster is the exact search.
    everything, _ = approximate.approximate_top_k(query, reference, K, n_probe=10_000)
    assert recall(everything, truth) == 1.0


@needs_faiss
def test_queries_whose_probed_clusters_hold_too_few_rows_scan_them_all():
    reference, query = clustered_rows(400, 0), clustered_rows(50, 1)
    found, _ = approximate.approximate_top_k(query, reference, 60, n_probe=1)
    assert (found >= 0).all() and all(len(set(row)) == 60 for row in found)


@needs_faiss
def test_large_cpu_searches_go_approximate_and_small_or_gpu_ones_stay_exact(monkeypatch):
    reference, query = clustered_rows(3000, 0), clustered_rows(300, 1)
    calls = []
    original = approximate.approximate_top_k
    monkeypatch.setattr("stcross.neighbors.approximate_top_k", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    top_k_similar(query, reference, K)
    assert not calls  # 9e5 pairs: exact
    monkeypatch.setattr(approximate, "APPROXIMATE_ABOVE", 1e5)
    found, _ = top_k_similar(query, reference, K)
    assert calls and recall(found, top_k_similar(query, reference, K, approximate=False)[0]) > 0.9
    assert not approximate.use_approximate(300, 3000, K, "cuda:0", None)
    assert not approximate.use_approximate(300, 3000, 3000, "cpu", None)  # k covers everything


def test_without_faiss_large_searches_warn_and_forcing_one_says_what_to_install(monkeypatch):
    monkeypatch.setattr(approximate, "faiss_available", lambda: False)
    monkeypatch.setattr(approximate, "APPROXIMATE_ABOVE", 1e5)
    with pytest.warns(UserWarning, match=r"stcross\[scale\]"):
        assert not approximate.use_approximate(300, 3000, K, "cpu", None)
    with pytest.raises(ImportError, match=r"pip install 'stcross\[scale\]'"):
        top_k_similar(clustered_rows(30, 0), clustered_rows(30, 1), 5, approximate=True)


@needs_faiss
def test_large_seeds_empty_searches_and_nan_rows():
    reference, query = clustered_rows(300, 0), clustered_rows(20, 1)
    found, _ = approximate.approximate_top_k(query, reference, K, seed=2**40)  # wider than FAISS's C int
    assert found.shape == (20, K)
    empty, _ = approximate.approximate_top_k(query[:0], reference, K)
    assert empty.shape == (0, K)
    query[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        approximate.approximate_top_k(query, reference, K)
