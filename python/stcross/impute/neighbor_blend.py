"""Latent-neighbour estimate of imputed genes: what an ST cell's nearest SC cells express.

The decoder's mean is a smooth function of z; the observed SC values of the cell's
nearest SC cells in the joint latent space keep detail that it smooths away. On log-scale
data their average imputed better than either alone (benchmarks/REPORT.md), so
:class:`~stcross.ModelConfig`'s ``neighbor_blend`` mixes the two; for the gaussian
likelihood the neighbours' spread and their disagreement with the decoder enter the predictive
sd. Only each ST cell's top-k SC neighbours are kept (a sparse ST x SC weight matrix, k entries
a row), never a dense cells x cells matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import InputError
from ..module.vae import SC, CrossModalVAE
from ..neighbors import (
    softmax_weights,
    top_k_similar,
    unit_rows,
    weight_matrix,
    weighted_mean,
)
from .st_scale import gaussian_sc_to_st

# Softmax temperature on cosine similarity: neighbours within ~0.1 of the best one count.
_TEMPERATURE = 0.1


@dataclass
class NeighborEstimate:
    """Latent-neighbour means and spreads of ST cells' genes, on ST's scale, a chunk at a time.

    Attributes
    ----------
    weights
        ST cells x reference SC cells, each row's k neighbour weights summing to 1.
    values
        Reference SC cells x genes: SC values (gaussian) or expression fractions of the
        SC cell's panel total (counts; cells without panel counts are left out).
    blend
        Per-gene weight of the estimate in the imputed mean (0 for panel genes).
    squares
        ``values`` squared (gaussian only: the neighbours' variance), else None.
    gaussian_map
        ``(level, ratio, sc_mean)`` of :func:`~stcross.impute.st_scale.gaussian_sc_to_st`, or None
        for counts, whose fractions are multiplied by the ST cell's library size instead.
    """

    weights: sp.csr_matrix
    values: sp.csr_matrix
    blend: np.ndarray
    squares: sp.csr_matrix | None
    gaussian_map: tuple[np.ndarray, np.ndarray, np.ndarray] | None

    def moments(self, rows: slice, library: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean and (gaussian only; None for counts) variance over the neighbours, for ST cells ``rows``.

        ``library`` holds those cells' library sizes. Both are cells x genes, on ST's scale.
        """
        weights = self.weights[rows]
        mean = weighted_mean(weights, self.values)
        if self.gaussian_map is None:
            return mean * library[:, None], None
        second = weighted_mean(weights, self.squares)
        level, ratio, sc_mean = self.gaussian_map
        return level + ratio * (mean - sc_mean), np.maximum(second - mean**2, 0.0) * ratio**2


@dataclass
class NeighborIndex:
    """Each ST cell's nearest SC cells in the latent space, found once for any number of gene sets.

    Attributes
    ----------
    weights
        ST cells x reference SC cells, each row's k neighbour weights summing to 1.
    reference
        Rows of the SC targets that may be neighbours.
    panel_total
        Counts: the reference cells' totals over the panel genes (their values are fractions
        of it); None for the gaussian likelihood.
    weight
        Blend weight of the genes ST did not measure.
    """

    weights: sp.csr_matrix
    reference: np.ndarray
    panel_total: np.ndarray | None
    weight: float

    @classmethod
    def build(
        cls, module: CrossModalVAE, z_st: np.ndarray, z_sc: np.ndarray, sc_values: sp.csr_matrix, *,
        weight: float, n_neighbors: int, device: str = "cpu",
    ) -> NeighborIndex:
        """Find the neighbours; ``sc_values`` are the SC targets over all decoder genes (raw values)."""
        reference = np.arange(sc_values.shape[0])
        panel_total = None
        if module.observation[SC].is_count:
            # Fractions of the panel total, as the decoder's shares are renormalised over the panel;
            # an SC cell without panel counts has no fractions and is no one's neighbour.
            panel = module.st_gene_index.cpu().numpy()
            panel_total = np.asarray(sp.csr_matrix(sc_values)[:, panel].sum(axis=1)).ravel()
            reference = np.flatnonzero(panel_total > 0)
            if reference.size == 0:
                msg = "neighbor_blend > 0 needs SC cells with counts on the panel genes, and none has any; use neighbor_blend=0."
                raise InputError(msg)
            panel_total = panel_total[reference]
        neighbours, similarity = top_k_similar(unit_rows(z_st), unit_rows(z_sc[reference]), n_neighbors, device=device)
        # Exponentials in float32 (the similarities' dtype), normalised in float64.
        w = softmax_weights(similarity, temperature=_TEMPERATURE, dtype=np.float64)
        return cls(weight_matrix(neighbours, w, len(reference)), reference, panel_total, float(weight))

    def estimate(self, module: CrossModalVAE, sc_values: sp.csr_matrix, index: np.ndarray) -> NeighborEstimate | None:
        """The estimate for decoder genes ``index``, or None when none of them is blended."""
        panel = module.st_gene_index.cpu().numpy()
        blend = np.where(np.isin(index, panel), 0.0, self.weight)
        if not blend.any():
            return None
        values = sp.csr_matrix(sc_values)[:, index].astype(np.float64)
        gaussian_map, squares = None, None
        if self.panel_total is not None:
            values = sp.csr_matrix(sp.diags(1.0 / np.maximum(self.panel_total, 1e-12)) @ values[self.reference])
        else:
            with torch.no_grad():
                gaussian_map = tuple(
                    t.cpu().numpy().astype(np.float64)
                    for t in gaussian_sc_to_st(module, torch.as_tensor(index, device=module.st_gene_index.device))
                )
            squares = values.multiply(values).tocsr()
        return NeighborEstimate(self.weights, values, blend, squares, gaussian_map)
