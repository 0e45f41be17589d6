"""Predictive summaries of ST cells' genes: mean, sd, P(0) and interval bounds.

Computed one chunk of cells at a time, so memory is chunk x genes per quantity.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from ..module.vae import ST, CrossModalVAE
from .st_scale import st_gene_parameters


class BlendTarget(Protocol):
    """A second estimate to blend with the decoder's (:class:`stcross.impute.neighbor_blend.NeighborEstimate`)."""

    blend: np.ndarray

    def moments(self, rows: slice, library: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]: ...

def predictive_summary(
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
) -> dict[str, np.ndarray]:
    """Mean, sd, P(0) and central ``interval`` bounds, cells x genes, as float32 arrays.

    With ``neighbors``, each distribution is blended with the latent-neighbour estimate by
    the gene's blend weight (:meth:`~stcross.likelihoods.base.Likelihood.blend`).
    """
    likelihood = module.observation[ST]
    params = st_gene_parameters(module, index)
    lo, hi = (1 - interval) / 2, (1 + interval) / 2
    n, g = mean_z.shape[0], len(index)
    out = {k: np.empty((n, g), np.float32) for k in ("mean", "sd", "p_zero", "lower", "upper")}
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
            out["mean"][rows] = mean
            out["sd"][rows] = np.sqrt(np.maximum(var, 0.0))
            out["p_zero"][rows] = p0
            out["lower"][rows] = lower
            out["upper"][rows] = upper
    return out
