"""Approximate top-k by inner product for large cell sets: a FAISS inverted-file index.

Exact top-k costs n_query x n_reference dot products, 9e10 pairs at 300,000 cells a side:
about 20 minutes on one CPU core. An inverted-file index clusters the reference rows once
(spherical k-means, seeded) and scans, for each query, only the reference rows of its
``n_probe`` most similar clusters. Each query's search is then exact within the scanned
rows, and the result depends only on the data, the seed and ``n_probe``, not on threads.
Recall against exact search is measured in benchmarks/REPORT.md ("Partner graph at scale").

FAISS is optional (``pip install 'stcross[scale]'``); without it large searches stay exact.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch

# Query x reference pairs above which a CPU search is approximate (about 63,000 cells a
# side; exact search of that size takes about a minute on one core). Every benchmark
# dataset lies far below it, so their results are exact.
APPROXIMATE_ABOVE = 4e9
N_PROBE = 24


@functools.cache
def faiss_available() -> bool:
    """Whether FAISS imports (an installed but broken build, e.g. one built for another NumPy, does not count)."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def use_approximate(n_query: int, n_reference: int, k: int, device: str, approximate: bool | None) -> bool:
    """Whether a search of this size goes through the index (``approximate=None``: decide by size)."""
    if approximate is not None:
        if approximate and not faiss_available():
            msg = "Approximate neighbour search needs FAISS: pip install 'stcross[scale]' (faiss-cpu)."
            raise ImportError(msg)
        return approximate
    large = n_query * n_reference > APPROXIMATE_ABOVE and k < n_reference
    if not large or not str(device).startswith("cpu"):
        return False  # a GPU does the exact search in seconds
    if not faiss_available():
        warnings.warn(
            f"Exact top-{k} search over {n_query:,} x {n_reference:,} cells on the CPU will be slow; "
            "pip install 'stcross[scale]' (faiss-cpu) makes it approximate and fast.",
            stacklevel=3,
        )
        return False
    return True


def approximate_top_k(
    query: np.ndarray, reference: np.ndarray, k: int, *, n_probe: int = N_PROBE, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, k reference rows of (nearly always) the largest dot product.

    Rows should be normalised, as for :func:`stcross.neighbors.top_k_similar`, whose return
    values these match: (n_query, k) int64 indices and float32 similarities, most similar first.
    FAISS runs on torch's intra-op thread count, so stcross's thread setting holds for it too.
    """
    import faiss

    reference = np.ascontiguousarray(reference, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32)
    k = min(k, len(reference))
    if k == 0 or len(query) == 0:
        return np.empty((len(query), k), np.int64), np.empty((len(query), k), np.float32)
    n_lists = max(1, round(math.sqrt(len(reference))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(reference.shape[1]), reference.shape[1], n_lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = int(seed) % 2**31  # a C int
    index.cp.spherical = True
    previous_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(torch.get_num_threads())
    try:
        index.train(reference)
        index.add(reference)
        index.nprobe = min(n_probe, n_lists)
        values, indices = index.search(query, k)
        short = np.flatnonzero((indices < 0).any(axis=1))
        if len(short):
            # The probed clusters held fewer than k rows: those queries scan every cluster.
            index.nprobe = n_lists
            values[short], indices[short] = index.search(query[short], k)
    finally:
        faiss.omp_set_num_threads(previous_threads)
    if (indices < 0).any():
        msg = "Approximate neighbour search found fewer than k neighbours for some rows: are there NaN values in the features?"
        raise ValueError(msg)
    return indices.astype(np.int64), values
