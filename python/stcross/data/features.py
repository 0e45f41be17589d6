"""Per-modality arrays the network reads: encoder inputs, reconstruction targets, library sizes.

Small data is held dense in memory for speed; large data stays sparse and rows are
densified one minibatch at a time, so memory stays linear in the number of non-zeros.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

# Above this many matrix entries, rows are densified per minibatch instead of up front.
_DENSE_LIMIT = 50_000_000
_NORMALIZED_TOTAL = 1e4


def log_normalize(matrix: sp.csr_matrix, library: np.ndarray) -> sp.csr_matrix:
    """log1p of counts scaled to 1e4 per cell (cells with no counts stay zero)."""
    scale = np.where(library > 0, _NORMALIZED_TOTAL / np.maximum(library, 1e-12), 0.0).astype(np.float32)
    out = sp.diags(scale) @ matrix
    out = sp.csr_matrix(out, dtype=np.float32)
    np.log1p(out.data, out=out.data)
    return out


def column_mean_std(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and standard deviation of a sparse matrix without densifying it."""
    n = matrix.shape[0]
    mean = np.asarray(matrix.sum(axis=0)).ravel() / n
    squares = np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel() / n
    std = np.sqrt(np.maximum(squares - mean**2, 0.0))
    return mean.astype(np.float32), np.maximum(std, 1e-4).astype(np.float32)


class RowSource:
    """Rows of a sparse matrix as dense float32 tensors, optionally standardised per column."""

    def __init__(self, matrix: sp.csr_matrix, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        self.matrix = matrix
        self.mean = None if mean is None else torch.from_numpy(mean)
        self.std = None if std is None else torch.from_numpy(std)
        self.dense = None
        if matrix.shape[0] * matrix.shape[1] <= _DENSE_LIMIT:
            self.dense = self._transform(torch.from_numpy(matrix.toarray()))

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def rows(self, index: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        if self.dense is not None:
            return self.dense[torch.from_numpy(np.asarray(index))].to(device)
        return self._transform(torch.from_numpy(self.matrix[index].toarray())).to(device)


@dataclass
class ModalityData:
    """What the network needs of one modality.

    Attributes
    ----------
    inputs
        Standardised encoder inputs (log-normalised counts, or raw log-scale values).
    targets
        Reconstruction targets on the genes this modality measures (raw values).
    library
        Per-cell totals over the target genes (ones for a Gaussian likelihood).
    partner_features
        Per-gene z-scored shared-gene features that define the partner graph.
    """

    inputs: RowSource
    targets: RowSource
    library: np.ndarray
    partner_features: np.ndarray

    @property
    def n_cells(self) -> int:
        return self.targets.shape[0]


def spatial_average(coordinates: np.ndarray, k: int) -> sp.csr_matrix:
    """Row-normalised (n, n) sparse matrix averaging each cell's k nearest spatial neighbours."""
    from scipy.spatial import cKDTree

    k = min(k, len(coordinates) - 1)
    if k < 1:  # a lone cell has no neighbours, hence no context
        return sp.csr_matrix((len(coordinates), len(coordinates)), dtype=np.float32)
    _, index = cKDTree(coordinates).query(coordinates, k=k + 1)
    neighbours = index[:, 1:]  # the first hit is the cell itself
    rows = np.repeat(np.arange(len(coordinates)), k)
    return sp.csr_matrix((np.full(rows.size, 1.0 / k, np.float32), (rows, neighbours.ravel())), shape=(len(coordinates),) * 2)


def prepare_modality(
    targets: sp.csr_matrix,
    input_columns: np.ndarray,
    shared_columns: np.ndarray,
    is_count: bool,
    *,
    neighbourhood: sp.csr_matrix | None = None,
) -> ModalityData:
    """Build one modality's arrays from its raw matrix (columns = the genes it measures).

    ``neighbourhood`` (ST only) appends each cell's spatial neighbours' mean profile to its
    encoder input: the tissue context sharpens a noisy single-cell panel measurement.
    """
    library = np.asarray(targets.sum(axis=1)).ravel().astype(np.float32) if is_count else np.ones(targets.shape[0], np.float32)
    raw_inputs = targets[:, input_columns]
    encoded = log_normalize(raw_inputs, library) if is_count else raw_inputs
    if neighbourhood is not None:
        encoded = sp.hstack([encoded, neighbourhood @ encoded], format="csr", dtype=np.float32)
    mean, std = column_mean_std(encoded)
    return ModalityData(
        inputs=RowSource(encoded, mean, std),
        targets=RowSource(targets),
        library=library,
        partner_features=partner_features(targets[:, shared_columns], is_count),
    )


def partner_features(shared: sp.csr_matrix, is_count: bool) -> np.ndarray:
    """Per-gene z-scored features of the shared genes' raw values, which define the partner graph."""
    if is_count:
        # Partners are matched on the shared genes alone, normalised over those genes,
        # so the comparison does not depend on what else each modality measured.
        shared = log_normalize(shared, np.asarray(shared.sum(axis=1)).ravel())
    shared_mean, shared_std = column_mean_std(shared)
    return ((shared.toarray() - shared_mean) / shared_std).astype(np.float32)
