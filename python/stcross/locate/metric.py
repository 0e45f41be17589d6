"""Learned-metric location: kNN in an embedding trained on the ST cells to put spatial neighbours together.

A small network maps a cell's latent and its shared (panel) genes, each z-scored within the
cell's modality, onto the unit sphere. It is trained on the ST cells alone: for a batch of
anchor cells and a random pool of other ST cells, the softmax of the anchors' similarities to
the pool should match a Gaussian of their spatial distances. Half the input values are masked
in every step (drop-out on the inputs), so no single gene or latent dimension carries the
placement; that is what kept it from overfitting one section when placing another
(benchmarks/REPORT.md, "Location recovery"). A query cell's position is then the mean position
of its ``n_neighbors`` nearest ST cells in the embedding.

The embedding pulls spatial neighbours together, so the spread of a cell's nearest ones says
little about how sure the placement is. The uncertainty adds two spreads instead: of the 50
nearest ST cells in the embedding, and of the 10 nearest in the latent space (``"knn"``'s sd),
which is wide where a cell's expression matches cells in several places. That ranked the errors
best of the candidates measured in the report. Training costs a fixed number of steps whatever
the number of cells.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from ..errors import InputError
from ..neighbors import top_k_similar
from .knn import check_n_neighbors, knn_locations, position_and_spread

# Chosen on the location benchmark (REPORT.md): the best worst case over three pairs and two seeds.
_HIDDEN, _EMBEDDING, _STEPS, _BATCH, _POOL = 64, 32, 400, 256, 2048
_INPUT_DROPOUT, _LEARNING_RATE, _SCALE_NEIGHBOURS, _SCALE_SAMPLE = 0.5, 1e-2, 30, 5000
_SPREAD_NEIGHBOURS = 50
_CHUNK = 65_536


class SpatialEmbedding(nn.Module):
    """MLP onto the unit sphere, with a learned inverse temperature for the similarity softmax."""

    def __init__(self, n_inputs: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_inputs, _HIDDEN), nn.GELU(), nn.Linear(_HIDDEN, _EMBEDDING))
        self.log_inverse_temperature = nn.Parameter(torch.tensor(float(np.log(10.0))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net(x), dim=1)


def _zscore_columns(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return ((x - x.mean(0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def input_rows(z: np.ndarray, panel: np.ndarray):
    """The network's inputs for given rows of one modality: its latents z-scored per dimension,
    then its panel genes (already z-scored per gene), joined per block of rows so the joined
    matrix is never held whole (the z-scored latents are: they are small)."""
    standard = _zscore_columns(z)
    return lambda rows: torch.from_numpy(np.hstack([standard[rows], panel[rows]]).astype(np.float32))


def _spatial_scale(coords: np.ndarray, generator: np.random.Generator) -> float:
    """Median distance from a cell to its 30th nearest ST cell (over a sample of cells)."""
    k = min(_SCALE_NEIGHBOURS, len(coords) - 1)
    sample = generator.choice(len(coords), size=min(_SCALE_SAMPLE, len(coords)), replace=False)
    distance = cKDTree(coords).query(coords[sample], k=k + 1)[0][:, -1]
    scale = float(np.median(distance))
    if not scale > 0:
        msg = "The ST coordinates put most cells on top of each other; check obsm's spatial key."
        raise InputError(msg)
    return scale


def _train(inputs, coords: np.ndarray, seed: int, device) -> SpatialEmbedding:
    n = len(coords)
    generator = torch.Generator().manual_seed(int(seed))
    scale = _spatial_scale(coords, np.random.default_rng(seed))
    positions = torch.as_tensor(coords, dtype=torch.float32, device=device)
    with torch.random.fork_rng(devices=[]):  # layer initialisers use the global generator: isolate it
        torch.manual_seed(int(seed))
        head = SpatialEmbedding(inputs(np.arange(1)).shape[1]).to(device)
    optimizer = torch.optim.Adam(head.parameters(), lr=_LEARNING_RATE)
    for _ in range(_STEPS):
        anchors = torch.randperm(n, generator=generator)[: min(_BATCH, n)]
        pool = torch.randperm(n, generator=generator)[: min(_POOL, n)]
        x = inputs(anchors.numpy())
        keep = torch.rand(x.shape, generator=generator) > _INPUT_DROPOUT
        x = (x * keep / (1.0 - _INPUT_DROPOUT)).to(device)
        itself = (anchors[:, None] == pool[None, :]).to(device)
        similarity = head.log_inverse_temperature.exp() * head(x) @ head(inputs(pool.numpy()).to(device)).T
        log_p = torch.log_softmax(similarity.masked_fill(itself, -1e9), dim=1)
        near = -torch.cdist(positions[anchors], positions[pool]) ** 2 / (2 * scale**2)
        target = torch.softmax(near.masked_fill(itself, -1e9), dim=1)
        loss = -(target * log_p).sum(1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return head.eval()


def _embed(head: SpatialEmbedding, inputs, n: int, device) -> np.ndarray:
    out = np.empty((n, _EMBEDDING), np.float32)
    with torch.no_grad():
        for start in range(0, n, _CHUNK):
            rows = np.arange(start, min(n, start + _CHUNK))
            out[rows] = head(inputs(rows).to(device)).cpu().numpy()
    return out


def metric_locations(
    z_st: np.ndarray,
    coords: np.ndarray,
    z_query: np.ndarray,
    *,
    panel_st: np.ndarray,
    panel_query: np.ndarray,
    n_neighbors: int = 10,
    seed: int = 0,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Mean position of the ``n_neighbors`` nearest ST cells in a learned spatial embedding.

    The sd is the root of the summed per-axis variances of two neighbourhoods' positions: the
    ``max(n_neighbors, 50)`` nearest ST cells in the embedding and the 10 nearest in the latent
    space (see the module's docstring).
    ``panel_st`` / ``panel_query`` are the shared genes of each side, z-scored per gene within
    their modality (the partner graph's features); the latents are z-scored per dimension
    within their modality here. ``seed`` seeds the embedding's training and the approximate
    index of a large search.
    """
    n_neighbors = check_n_neighbors(n_neighbors)
    if len(coords) < 2:
        msg = "method='metric' needs at least 2 ST cells to learn from."
        raise InputError(msg)
    st_inputs, query_inputs = input_rows(z_st, panel_st), input_rows(z_query, panel_query)
    head = _train(st_inputs, coords, seed, device)
    e_st, e_query = _embed(head, st_inputs, len(coords), device), _embed(head, query_inputs, len(z_query), device)
    index, _ = top_k_similar(e_query, e_st, max(n_neighbors, _SPREAD_NEIGHBOURS), device=str(device), seed=seed)
    k = min(n_neighbors, index.shape[1])
    position, _ = position_and_spread(coords[index[:, :k]], np.full((len(index), k), 1.0 / k))
    _, embedding_sd = position_and_spread(coords[index], np.full(index.shape, 1.0 / index.shape[1]))
    _, latent_sd = knn_locations(z_st, coords, z_query, n_neighbors=10, seed=seed, device=device)
    return position, np.sqrt(embedding_sd**2 + latent_sd**2)
