"""Nearest neighbours by similarity: row normalisation, chunked exact (or, at scale, approximate) top-k, softmax weights, sparse means.

One home for what the partner graph, the latent-neighbour blend, kNN location and the
benchmark baselines share. Only each query row's top-k list is kept (a sparse query x
reference weight matrix, k entries a row), never a dense query x reference matrix.

The callers' results were fixed before these helpers existed, and the last bits depend on
dtype, epsilon and the order of operations; the keyword arguments keep each caller's
original numerics rather than unify them.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from .approximate_neighbors import approximate_top_k, use_approximate

_MAX_BLOCK_VALUES = 2**27


def unit_rows(x: np.ndarray, *, eps: float = 1e-12) -> np.ndarray:
    """Scale each row to unit Euclidean norm, so a dot product is a cosine similarity.

    Parameters
    ----------
    x
        Rows to scale (2-d).
    eps
        Rows with a smaller norm are divided by ``eps`` instead (a zero row stays zero).
        With ``eps=0``, only rows of norm exactly 0 are special: they are left as they are.

    Returns
    -------
    The scaled rows, in ``x``'s dtype.
    """
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    if eps > 0:
        return x / np.maximum(norm, eps)
    return x / np.where(norm > 0, norm, 1.0)


def standardize_rows(x: np.ndarray, *, eps: float = 1e-12) -> np.ndarray:
    """Centre each row and scale it to unit norm, so a dot product is a Pearson correlation.

    Parameters
    ----------
    x
        Rows to standardise (2-d).
    eps
        As in :func:`unit_rows`; a constant row becomes zero (similarity 0 to everything)
        instead of NaN.

    Returns
    -------
    The standardised rows, in ``x``'s dtype.
    """
    return unit_rows(x - x.mean(axis=1, keepdims=True), eps=eps)


def top_k_similar(
    query: np.ndarray,
    reference: np.ndarray,
    k: int,
    *,
    chunk_size: int = 4096,
    device: str = "cpu",
    dtype: type = np.float32,
    sort: bool = True,
    approximate: bool | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the k reference rows with the largest dot product.

    Rows should already be normalised (:func:`standardize_rows` or :func:`unit_rows`). Only
    one block of at most ``chunk_size x n_reference`` similarities (and 2^27 values) exists at
    any time. The search is exact, except that a float32 CPU search of more than
    :data:`~stcross.approximate_neighbors.APPROXIMATE_ABOVE` pairs goes through an approximate
    index where FAISS is installed (:func:`~stcross.approximate_neighbors.approximate_top_k`).

    Parameters
    ----------
    query, reference
        Query rows and reference rows, same number of columns.
    k
        Neighbours per query row; capped at the number of reference rows.
    chunk_size
        Query rows per similarity block.
    device
        Torch device of the float32 computation.
    dtype
        ``np.float32``: torch on ``device``. ``np.float64``: NumPy on the host (the benchmark
        baselines' precision; ``device`` is ignored).
    sort
        Order each row's neighbours most similar first. Without it the order within the k is
        unspecified (float64: when k covers the whole reference, reference order).
    approximate
        ``None``: by size, as above; ``True`` / ``False``: always / never approximate.
        Float64 searches (the benchmark baselines') are always exact.
    seed
        Seed of the approximate index's clustering.

    Returns
    -------
    indices
        Integer array (n_query, k): reference row indices.
    values
        The matching similarities (n_query, k), in ``dtype``.
    """
    if dtype not in (np.float32, np.float64):
        msg = f"dtype must be np.float32 or np.float64, got {dtype!r}."
        raise ValueError(msg)
    if chunk_size < 1:
        msg = f"chunk_size must be a positive integer, got {chunk_size!r}."
        raise ValueError(msg)
    k = min(k, len(reference))
    if dtype == np.float32 and use_approximate(len(query), len(reference), k, device, approximate):
        return approximate_top_k(query, reference, k, seed=seed)
    # A block of similarities holds at most _MAX_BLOCK_VALUES values (512 MiB in float32), however
    # large the reference: 4,096 rows against 10^6 cells would be 16 GB.
    chunk_size = max(1, min(chunk_size, _MAX_BLOCK_VALUES // max(1, len(reference))))
    indices = np.empty((len(query), k), dtype=np.int64)
    values = np.empty((len(query), k), dtype=dtype)
    if dtype == np.float32:
        ref = torch.as_tensor(reference, dtype=torch.float32, device=device)
    else:
        ref = np.asarray(reference, dtype=np.float64)
    for start in range(0, len(query), chunk_size):
        rows = slice(start, min(start + chunk_size, len(query)))
        if dtype == np.float32:
            block = torch.as_tensor(query[rows], dtype=torch.float32, device=device)
            top = torch.topk(block @ ref.T, k, dim=1, sorted=sort)
            indices[rows], values[rows] = top.indices.cpu().numpy(), top.values.cpu().numpy()
        else:
            indices[rows], values[rows] = _top_k_numpy(np.asarray(query[rows], dtype=np.float64) @ ref.T, k, sort)
    return indices, values


def _top_k_numpy(sim: np.ndarray, k: int, sort: bool) -> tuple[np.ndarray, np.ndarray]:
    if k < sim.shape[1]:
        idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    else:
        # Everyone is a neighbour: keep reference order (argpartition would permute it).
        idx = np.broadcast_to(np.arange(sim.shape[1]), sim.shape)
    top = np.take_along_axis(sim, idx, axis=1)
    if sort:
        order = np.argsort(-top, axis=1, kind="stable")
        idx, top = np.take_along_axis(idx, order, axis=1), np.take_along_axis(top, order, axis=1)
    return idx, top


def softmax_weights(
    similarity: np.ndarray,
    *,
    temperature: float | None = None,
    inverse_temperature: float | None = None,
    dtype: type | None = None,
) -> np.ndarray:
    """Softmax weights over each row's neighbours, relative to the row's best.

    ``w[i, j]`` is proportional to ``exp((s[i, j] - max_j s[i, j]) / temperature)``, or
    ``exp(inverse_temperature * (s[i, j] - max_j s[i, j]))``: neighbours within about
    ``temperature`` of the best one count. Give exactly one of the two; dividing and
    multiplying differ in the last bit, and each caller keeps the form it always used.

    Parameters
    ----------
    similarity
        Query rows x k neighbour similarities, in any order.
    temperature
        Divides the shifted similarities.
    inverse_temperature
        Multiplies the shifted similarities.
    dtype
        Normalise in this dtype (the exponentials are computed in ``similarity``'s);
        default ``similarity``'s dtype.

    Returns
    -------
    Weights of the same shape, each row summing to 1.
    """
    if (temperature is None) == (inverse_temperature is None):
        msg = "Give exactly one of temperature and inverse_temperature."
        raise ValueError(msg)
    shifted = similarity - similarity.max(axis=1, keepdims=True)
    logits = shifted / temperature if inverse_temperature is None else inverse_temperature * shifted
    weights = np.exp(logits)
    if dtype is not None:
        weights = weights.astype(dtype)
    return weights / weights.sum(axis=1, keepdims=True)


def weight_matrix(indices: np.ndarray, weights: np.ndarray, n_reference: int) -> sp.csr_matrix:
    """Sparse query x reference matrix holding each query row's k neighbour weights.

    Parameters
    ----------
    indices
        (n_query, k) reference row indices, as from :func:`top_k_similar`.
    weights
        (n_query, k) weights of those neighbours.
    n_reference
        Number of reference rows (columns of the matrix).

    Returns
    -------
    CSR matrix (n_query, n_reference) with k stored entries a row, in ``indices``' order.
    """
    n, k = indices.shape
    return sp.csr_matrix(
        (np.asarray(weights).ravel(), np.ascontiguousarray(indices).ravel(), np.arange(0, n * k + 1, k)),
        shape=(n, n_reference),
    )


def weighted_mean(weights: sp.csr_matrix, values) -> np.ndarray:
    """Each query row's weighted mean of reference ``values`` rows, as a dense array.

    Parameters
    ----------
    weights
        Query x reference weights (:func:`weight_matrix`), rows summing to 1.
    values
        Reference rows x columns, dense or sparse.

    Returns
    -------
    Dense (n_query, n_columns) array in the product's dtype.
    """
    out = weights @ values
    return out.toarray() if sp.issparse(out) else np.asarray(out)
