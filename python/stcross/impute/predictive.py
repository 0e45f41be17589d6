"""Predictive summaries of ST cells' genes: mean, sd, P(0) and interval bounds.

Computed one chunk of cells at a time, so memory is chunk x genes per quantity.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
import torch

from ..module.vae import ST, CrossModalVAE
from .neighbor_blend import NeighborIndex
from .st_scale import st_gene_parameters

# The predictive summaries, in the order of the result's layers.
SUMMARY_LAYERS = ("mean", "sd", "p_zero", "lower", "upper")


class BlendTarget(Protocol):
    """A second estimate to blend with the decoder's (:class:`stcross.impute.neighbor_blend.NeighborEstimate`)."""

    blend: np.ndarray

    def moments(self, rows: slice, library: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]: ...


def predictive_blocks(
    module: CrossModalVAE,
    mean_z: torch.Tensor,
    log_var_z: torch.Tensor,
    library: torch.Tensor,
    index: torch.Tensor,
    *,
    interval: float,
    n_samples: int = 0,
    seed: int = 0,
    batch_size: int = 1024,
    neighbors: BlendTarget | None = None,
    gene_params: dict[str, torch.Tensor] | None = None,
) -> Iterator[tuple[slice, dict[str, np.ndarray]]]:
    """Mean, sd, P(0) and central ``interval`` bounds of genes ``index``, one block of cells at a time.

    Yields ``(rows, block)``: the cells' slice and a dict of float32 (or float64) arrays,
    ``batch_size`` cells x genes. With ``neighbors``, each distribution is blended with the
    latent-neighbour estimate by the gene's blend weight
    (:meth:`~stcross.likelihoods.base.Likelihood.blend`). The latent draws (``n_samples > 0``)
    depend on the cells and ``seed`` only, so any subset of genes gets the draws all genes get.
    ``gene_params``: the genes' ST likelihood parameters (default: :func:`st_gene_parameters`).
    """
    likelihood = module.observation[ST]
    params = st_gene_parameters(module, index) if gene_params is None else gene_params
    lo, hi = (1 - interval) / 2, (1 + interval) / 2
    n = mean_z.shape[0]
    generator = torch.Generator(device=mean_z.device).manual_seed(int(seed))

    blend = None if neighbors is None else torch.as_tensor(neighbors.blend, dtype=mean_z.dtype, device=mean_z.device)

    def dist_at(z, lib, target):
        dist = module.predictive(ST, z, lib, gene_index=index, normalize_index=module.st_gene_index, gene_params=params)
        return dist if target is None else likelihood.blend(dist, blend, *target)

    with torch.no_grad():
        for start in range(0, n, batch_size):
            rows = slice(start, min(n, start + batch_size))
            z, lib = mean_z[rows], library[rows]
            target = None
            if neighbors is not None:
                moments = neighbors.moments(rows, lib.cpu().numpy().astype(np.float64))
                target = tuple(None if m is None else torch.as_tensor(m, dtype=z.dtype, device=z.device) for m in moments)
            if n_samples <= 0:
                dist = dist_at(z, lib, target)
                mean, var, p0 = (
                    t.cpu().numpy().astype(np.float64) for t in (dist.mean, dist.variance, likelihood.zero_probability(dist))
                )
                lower, upper = likelihood.interval(dist, params, lo, hi)
            else:
                draws = [
                    dist_at(module.sample(z, log_var_z[rows], generator), lib, target) for _ in range(int(n_samples))
                ]
                means = torch.stack([d.mean for d in draws])
                mean = means.mean(0).cpu().numpy().astype(np.float64)
                var = (torch.stack([d.variance for d in draws]).mean(0) + means.var(0, unbiased=False)).cpu().numpy()
                p0 = torch.stack([likelihood.zero_probability(d) for d in draws]).mean(0).cpu().numpy()
                lower, upper = likelihood.moment_interval(mean, var, lo, hi)
            yield rows, {"mean": mean, "sd": np.sqrt(np.maximum(var, 0.0)), "p_zero": p0, "lower": lower, "upper": upper}


@dataclass
class Predictor:
    """A trained model's predictions of ST cells' genes, any subset of genes at a time.

    Built once per imputation (:meth:`stcross.CrossModalModel.impute`): the latents and
    latent neighbours are found once and serve every gene chunk.
    """

    module: CrossModalVAE
    mean_z: torch.Tensor
    log_var_z: torch.Tensor
    library: torch.Tensor
    sc_values: sp.csr_matrix
    neighbors: NeighborIndex | None

    @property
    def n_cells(self) -> int:
        return int(self.mean_z.shape[0])

    def blocks(self, positions: np.ndarray, **options) -> Iterator[tuple[slice, dict[str, np.ndarray]]]:
        """:func:`predictive_blocks` of the decoder genes at ``positions``."""
        estimate = None if self.neighbors is None else self.neighbors.estimate(self.module, self.sc_values, positions)
        index = torch.from_numpy(np.asarray(positions)).to(self.mean_z.device)
        return predictive_blocks(self.module, self.mean_z, self.log_var_z, self.library, index, neighbors=estimate, **options)

    def summary(self, positions: np.ndarray, **options) -> dict[str, np.ndarray]:
        """Every cell's :meth:`blocks` gathered into cells x genes float32 arrays."""
        out = {k: np.empty((self.n_cells, len(positions)), np.float32) for k in SUMMARY_LAYERS}
        for rows, block in self.blocks(positions, **options):
            for key in SUMMARY_LAYERS:
                out[key][rows] = block[key]
        return out
