"""Neighbour helpers (stcross.neighbors) against dense NumPy references."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import correlated_features, dense_top_k
from stcross.neighbors import (
    softmax_weights,
    standardize_rows,
    top_k_similar,
    unit_rows,
    weight_matrix,
    weighted_mean,
)

N_QUERY, N_REFERENCE = 70, 45




def test_standardized_rows_give_pearson_correlations():
    a, b = correlated_features()
    sim = standardize_rows(a) @ standardize_rows(b).T
    np.testing.assert_allclose(sim, np.corrcoef(a, b)[: len(a), len(a) :], atol=1e-12)
    np.testing.assert_allclose(np.sum(standardize_rows(a) ** 2, axis=1), 1.0)
    assert standardize_rows(a.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("eps", [1e-12, 0.0])
def test_constant_and_zero_rows_stay_finite(eps):
    # A constant row matches nothing (similarity 0) instead of producing NaN.
    np.testing.assert_array_equal(standardize_rows(np.ones((2, 5)), eps=eps), 0)
    np.testing.assert_array_equal(unit_rows(np.zeros((2, 5)), eps=eps), 0)


def test_unit_rows_give_cosine_similarities():
    a, b = correlated_features()
    cosine = (a @ b.T) / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(unit_rows(a) @ unit_rows(b).T, cosine, atol=1e-12)


# Chunk sizes around the query count (70) and ones that leave a short last chunk;
# k = 45 is the whole reference, k = 60 more than it (capped at 45).
@pytest.mark.parametrize(
    ("k", "chunk_size"),
    [(1, 4096), (5, 1), (5, 7), (5, 10), (8, 69), (8, 70), (8, 71), (45, 16), (60, 10)],
)
def test_top_k_matches_the_sorted_dense_similarities(k, chunk_size):
    a, b = correlated_features()
    query, reference = standardize_rows(a), standardize_rows(b)
    indices, values = top_k_similar(query, reference, k, chunk_size=chunk_size)
    dense = query @ reference.T
    expected_index, expected_value = dense_top_k(dense, min(k, len(reference)))
    assert indices.shape == values.shape == expected_index.shape
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, expected_value, atol=1e-5)
    # The returned partners carry their own similarities (robust to near-ties in the order).
    np.testing.assert_allclose(np.take_along_axis(dense, indices, axis=1), values, atol=1e-5)
    np.testing.assert_array_equal(indices, expected_index)
    assert np.all(np.diff(values, axis=1) <= 0)


@pytest.mark.parametrize(("k", "chunk_size"), [(1, 4096), (5, 1), (8, 69), (8, 70), (45, 16), (60, 10)])
def test_top_k_in_float64_matches_the_dense_similarities_exactly(k, chunk_size):
    a, b = correlated_features()
    query, reference = standardize_rows(a), standardize_rows(b)
    dense = query @ reference.T
    expected_index, expected_value = dense_top_k(dense, min(k, len(reference)))
    indices, values = top_k_similar(query, reference, k, chunk_size=chunk_size, dtype=np.float64)
    assert values.dtype == np.float64
    np.testing.assert_array_equal(indices, expected_index)
    np.testing.assert_allclose(values, expected_value, rtol=0, atol=1e-14)
    # Unsorted: the same neighbours in some order, each with its own similarity.
    indices, values = top_k_similar(query, reference, k, chunk_size=chunk_size, dtype=np.float64, sort=False)
    np.testing.assert_array_equal(np.sort(indices, axis=1), np.sort(expected_index, axis=1))
    np.testing.assert_allclose(np.take_along_axis(dense, indices, axis=1), values, rtol=0, atol=1e-14)


def test_similarity_blocks_shrink_to_the_memory_cap_with_the_same_result(monkeypatch):
    a, b = correlated_features()
    query, reference = standardize_rows(a), standardize_rows(b)
    expected = top_k_similar(query, reference, 8)
    blocks = []
    original_topk = torch.topk
    monkeypatch.setattr(torch, "topk", lambda block, *args, **kw: blocks.append(block.shape) or original_topk(block, *args, **kw))
    monkeypatch.setattr("stcross.neighbors._MAX_BLOCK_VALUES", 3 * N_REFERENCE)
    found = top_k_similar(query, reference, 8)
    assert blocks and all(rows <= 3 for rows, _ in blocks)  # 3 query rows a block, not 4,096
    np.testing.assert_array_equal(found[0], expected[0])
    np.testing.assert_allclose(found[1], expected[1], atol=1e-6)


def test_unsorted_top_k_over_the_whole_reference_keeps_reference_order():
    a, b = correlated_features()
    indices, _ = top_k_similar(a, b, 100, dtype=np.float64, sort=False)
    np.testing.assert_array_equal(indices, np.broadcast_to(np.arange(N_REFERENCE), (N_QUERY, N_REFERENCE)))


def test_top_k_rejects_bad_arguments():
    a, b = correlated_features()
    with pytest.raises(ValueError, match="dtype"):
        top_k_similar(a, b, 3, dtype=np.float16)
    with pytest.raises(ValueError, match="chunk_size"):
        top_k_similar(a, b, 3, chunk_size=0)


def _similarities(seed=0, n=30, k=8):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, k))


@pytest.mark.parametrize("temperature", [0.05, 0.1, 1.0, 10.0])
def test_softmax_weights_match_a_dense_softmax(temperature):
    s = _similarities()
    weights = softmax_weights(s, temperature=temperature)
    expected = np.exp(s / temperature)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    # Log-ratios of two neighbours' weights are their similarity gap over the temperature.
    np.testing.assert_allclose(np.log(weights[:, 0] / weights[:, 1]), (s[:, 0] - s[:, 1]) / temperature, atol=1e-9)
    np.testing.assert_allclose(softmax_weights(s, inverse_temperature=1 / temperature), weights, rtol=1e-12)


def test_softmax_weights_follow_the_temperature():
    s = _similarities()
    best = np.argmax(s, axis=1)
    rows = np.arange(len(s))
    s[rows, best] += 0.2  # a clear best neighbour
    best_weight = [softmax_weights(s, temperature=t)[rows, best] for t in (10.0, 1.0, 0.1, 0.01)]
    # Colder: more weight on each row's best neighbour, towards all of it; hotter: towards uniform.
    assert all(np.all(hot < cold) for hot, cold in zip(best_weight, best_weight[1:]))
    np.testing.assert_allclose(best_weight[-1], 1.0, atol=1e-6)
    np.testing.assert_allclose(softmax_weights(s, temperature=1e6), 1 / s.shape[1], rtol=1e-5)


def test_softmax_weights_do_not_depend_on_neighbour_order_and_keep_the_dtype():
    s = _similarities().astype(np.float32)
    order = np.random.default_rng(1).permuted(np.tile(np.arange(s.shape[1]), (len(s), 1)), axis=1)
    weights = softmax_weights(s, temperature=0.1)
    shuffled = softmax_weights(np.take_along_axis(s, order, axis=1), temperature=0.1)
    np.testing.assert_allclose(shuffled, np.take_along_axis(weights, order, axis=1), rtol=1e-6)
    assert weights.dtype == np.float32
    assert softmax_weights(s, temperature=0.1, dtype=np.float64).dtype == np.float64


def test_softmax_weights_need_exactly_one_temperature():
    s = _similarities()
    with pytest.raises(ValueError, match="exactly one"):
        softmax_weights(s)
    with pytest.raises(ValueError, match="exactly one"):
        softmax_weights(s, temperature=0.1, inverse_temperature=10.0)


@pytest.mark.parametrize("sparse_values", [False, True])
def test_sparse_weighted_mean_matches_a_dense_one(sparse_values):
    rng = np.random.default_rng(2)
    n_query, n_reference, k = 25, 40, 6
    indices = np.stack([rng.choice(n_reference, k, replace=False) for _ in range(n_query)])
    weights = softmax_weights(rng.uniform(-1, 1, size=(n_query, k)), temperature=0.3)
    values = rng.normal(size=(n_reference, 7)) * (rng.uniform(size=(n_reference, 7)) < 0.5)
    matrix = weight_matrix(indices, weights, n_reference)
    dense = np.zeros((n_query, n_reference))
    np.put_along_axis(dense, indices, weights, axis=1)
    assert sp.isspmatrix_csr(matrix) and matrix.shape == (n_query, n_reference) and matrix.nnz == n_query * k
    np.testing.assert_array_equal(matrix.toarray(), dense)
    out = weighted_mean(matrix, sp.csr_matrix(values) if sparse_values else values)
    assert isinstance(out, np.ndarray) and not isinstance(out, np.matrix)
    np.testing.assert_allclose(out, dense @ values, rtol=1e-12, atol=1e-12)
    # The same as averaging each query's neighbours directly.
    np.testing.assert_allclose(out, np.einsum("qk,qkg->qg", weights, values[indices]), rtol=1e-12, atol=1e-12)
