"""Genes ST never measured, on ST's scale: the per-gene likelihood parameters ST borrows from SC.

ST's per-gene parameters (dispersion, Gaussian scale, shift and noise) are trained on its panel
only. :func:`st_gene_parameters` gives every decoder gene an ST value; for two Gaussian
likelihoods :func:`gaussian_sc_to_st` carries a value's SC z-score over to ST's scale, which the
latent-neighbour blend uses too.
"""
from __future__ import annotations

import torch

from ..module.vae import SC, ST, CrossModalVAE


def st_gene_parameters(module: CrossModalVAE, index: torch.Tensor) -> dict[str, torch.Tensor]:
    """ST likelihood parameters for decoder genes ``index``.

    ST's per-gene parameters are only trained on its panel. A gene ST never measured
    borrows SC's parameter: for two Gaussian likelihoods through SC's standardised scale
    (:func:`_gaussian_borrowing`); for two count likelihoods moved by the typical ST-vs-SC
    log offset on the panel genes; otherwise the panel average.
    """
    panel = module.st_gene_index
    measured = torch.isin(index, panel)
    st_all, sc_all = module.gene_parameters(ST), module.gene_parameters(SC)
    sc, st = module.observation
    if not (sc.is_count or st.is_count):
        borrowed = _gaussian_borrowing(module, st_all, sc_all, index)
        return {
            name: torch.where(measured, values[index], borrowed[name]) if name in borrowed else values[index]
            for name, values in st_all.items()
        }
    same_family = sc.is_count == st.is_count
    out = {}
    for name in ("theta", "sigma", "scale", "shift"):
        st_values, sc_values = st_all[name], sc_all[name]
        log_space = name in ("theta", "sigma")
        if log_space:
            st_values, sc_values = torch.log(st_values), torch.log(sc_values)
        if same_family:
            offset = torch.median(st_values[panel] - sc_values[panel])
            borrowed = sc_values[index] + offset
        else:
            borrowed = st_values[panel].mean().expand(len(index))
        values = torch.where(measured, st_values[index], borrowed)
        out[name] = torch.exp(values) if log_space else values
    return out


def _panel_fit(x: torch.Tensor, y: torch.Tensor, x_new: torch.Tensor) -> torch.Tensor:
    """Least-squares line of ``y`` on ``x`` over the panel genes, evaluated at ``x_new``."""
    x_centred = x - x.mean()
    variance = (x_centred**2).sum()
    slope = (x_centred * (y - y.mean())).sum() / variance if len(x) >= 3 and variance > 1e-12 else x.new_zeros(())
    return y.mean() + slope * (x_new - x.mean())


def gaussian_sc_to_st(module: CrossModalVAE, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Affine map of decoder genes ``index`` from SC's gaussian scale to ST's: ``level + ratio * (x - sc_mean)``.

    A value's SC z-score is carried over to ST, whose level and spread for the gene are
    regressed on SC's across the panel genes (platforms differ gene by gene, so a plain
    offset can put a gene far off ST's scale). Returns ``(level, ratio, sc_mean)``.
    """
    panel = module.st_gene_index
    sc_mean, sc_sd = module.marginal_mean[SC], module.marginal_sd[SC].clamp_min(1e-6)
    st_mean, st_sd = module.marginal_mean[ST][panel], module.marginal_sd[ST][panel].clamp_min(1e-6)
    level = _panel_fit(sc_mean[panel], st_mean, sc_mean[index])
    spread = torch.exp(_panel_fit(torch.log(sc_sd[panel]), torch.log(st_sd), torch.log(sc_sd[index])))
    return level, spread / sc_sd[index], sc_mean[index]


def _gaussian_borrowing(
    module: CrossModalVAE, st_all: dict[str, torch.Tensor], sc_all: dict[str, torch.Tensor], index: torch.Tensor
) -> dict[str, torch.Tensor]:
    """ST scale, shift and noise of genes ST never measured, through :func:`gaussian_sc_to_st`.

    The noise keeps SC's share of the gene's spread, adjusted by the panel's typical
    ST-vs-SC ratio.
    """
    panel = module.st_gene_index
    level, ratio, sc_mean = gaussian_sc_to_st(module, index)  # ratio: ST units per SC unit, gene by gene
    panel_ratio = module.marginal_sd[ST][panel].clamp_min(1e-6) / module.marginal_sd[SC][panel].clamp_min(1e-6)
    noise_offset = torch.median(torch.log(st_all["sigma"][panel]) - torch.log(sc_all["sigma"][panel] * panel_ratio))
    return {
        "scale": sc_all["scale"][index] * ratio,
        "shift": level + ratio * (sc_all["shift"][index] - sc_mean),
        "sigma": sc_all["sigma"][index] * ratio * torch.exp(noise_offset),
    }
