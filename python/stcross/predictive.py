"""Predictive summaries of ST cells' genes: mean, sd, P(0) and interval bounds.

Computed one chunk of cells at a time, so memory is chunk x genes per quantity.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.special as special
import scipy.stats as stats
import torch

from .distributions import blend_with_estimate, zero_probability
from .module import ST, CrossModalVAE
from .st_scale import st_gene_parameters


class BlendTarget(Protocol):
    """A second estimate to blend with the decoder's (:class:`stcross.neighbor_blend.NeighborEstimate`)."""

    blend: np.ndarray

    def moments(self, rows: slice, library: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]: ...

# Quantiles of counts up to this value come from the pmf recurrence; larger ones from cdflib.
_RECURRENCE_LIMIT = 64


def _recurrence_quantile(q: np.ndarray, log_p0: np.ndarray, step) -> np.ndarray:
    """Smallest k with P(X <= k) >= q, by accumulating the pmf; -1 where k > the limit."""
    result = np.full(q.shape, -1, dtype=np.int64)
    pmf = np.exp(log_p0)
    cdf = pmf.copy()
    first = cdf >= q - 1e-12  # the same float tolerance as for k >= 1 below
    result[first] = 0
    active = np.flatnonzero(~first)
    pmf, cdf = pmf[active], cdf[active]
    for k in range(1, _RECURRENCE_LIMIT + 1):
        if active.size == 0:
            break
        pmf = pmf * step(active, k)
        cdf = cdf + pmf
        done = cdf >= q[active] - 1e-12
        result[active[done]] = k
        keep = ~done
        active, pmf, cdf = active[keep], pmf[keep], cdf[keep]
    return result


def nb_quantile(q: float | np.ndarray, mu: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Quantile of the negative binomial with mean ``mu`` and inverse dispersion ``theta``."""
    mu, theta = np.broadcast_arrays(np.asarray(mu, np.float64), np.asarray(theta, np.float64))
    q = np.broadcast_to(np.asarray(q, np.float64), mu.shape)
    flat_mu, flat_theta, flat_q = mu.ravel(), theta.ravel(), q.ravel()
    ratio = flat_mu / (flat_theta + flat_mu)
    log_p0 = flat_theta * (np.log(flat_theta) - np.log(flat_theta + flat_mu))
    result = _recurrence_quantile(
        flat_q, log_p0, lambda idx, k: (k - 1 + flat_theta[idx]) / k * ratio[idx]
    ).astype(np.float64)
    rest = np.flatnonzero(result < 0)
    if rest.size:
        p = flat_theta[rest] / (flat_theta[rest] + flat_mu[rest])
        result[rest] = np.ceil(special.nbdtrik(flat_q[rest], flat_theta[rest], p) - 1e-9)
    return result.reshape(mu.shape)


def poisson_quantile(q: float | np.ndarray, mu: np.ndarray) -> np.ndarray:
    mu = np.asarray(mu, np.float64)
    q = np.broadcast_to(np.asarray(q, np.float64), mu.shape)
    flat_mu, flat_q = mu.ravel(), q.ravel()
    result = _recurrence_quantile(flat_q, -flat_mu, lambda idx, k: flat_mu[idx] / k).astype(np.float64)
    rest = np.flatnonzero(result < 0)
    if rest.size:
        result[rest] = stats.poisson.ppf(flat_q[rest], flat_mu[rest])
    return result.reshape(mu.shape)


def count_quantile(
    q: float, mean: np.ndarray, theta: np.ndarray | None, zero_inflation: np.ndarray | None
) -> np.ndarray:
    """Quantile of an NB (``theta``), Poisson (``theta=None``), optionally zero-inflated."""
    q_arr = np.full(mean.shape, q)
    if zero_inflation is not None:
        # Below the point mass the quantile is 0; above it, rescale q into the NB part.
        q_arr = np.clip((q - zero_inflation) / np.maximum(1 - zero_inflation, 1e-12), 0.0, 1.0)
    out = nb_quantile(q_arr, mean, theta) if theta is not None else poisson_quantile(q_arr, mean)
    return np.where(q_arr <= 0, 0.0, out)


def _moment_matched_quantiles(likelihood: str, mean: np.ndarray, var: np.ndarray, lo: float, hi: float):
    """Interval of a mixture over latent draws, from the distribution with its mean and variance."""
    if likelihood == "gaussian":
        sd = np.sqrt(var)
        return mean + stats.norm.ppf(lo) * sd, mean + stats.norm.ppf(hi) * sd
    excess = var - mean
    theta = np.where(excess > 1e-8, mean**2 / np.maximum(excess, 1e-8), 1e8)
    theta = np.maximum(theta, 1e-4)
    return nb_quantile(lo, mean, theta), nb_quantile(hi, mean, theta)


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
    the gene's blend weight (:func:`~stcross.distributions.blend_with_estimate`).
    """
    likelihood = module.likelihoods[ST]
    params = st_gene_parameters(module, index)
    lo, hi = (1 - interval) / 2, (1 + interval) / 2
    n, g = mean_z.shape[0], len(index)
    out = {k: np.empty((n, g), np.float32) for k in ("mean", "sd", "p_zero", "lower", "upper")}
    generator = torch.Generator(device=mean_z.device).manual_seed(int(seed))

    blend = None if neighbors is None else torch.as_tensor(neighbors.blend, dtype=mean_z.dtype, device=mean_z.device)

    def dist_at(z, lib, target):
        dist = module.predictive(ST, z, lib, gene_index=index, normalize_index=module.st_gene_index, gene_params=params)
        return dist if target is None else blend_with_estimate(dist, blend, *target)

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
                mean, var, p0 = (t.cpu().numpy().astype(np.float64) for t in (dist.mean, dist.variance, zero_probability(dist)))
                if likelihood == "gaussian":
                    sd = np.sqrt(var)
                    lower, upper = mean + stats.norm.ppf(lo) * sd, mean + stats.norm.ppf(hi) * sd
                else:
                    mu = dist.mu.cpu().numpy() if hasattr(dist, "mu") else mean
                    theta = np.broadcast_to(params["theta"].cpu().numpy(), mu.shape) if likelihood != "poisson" else None
                    pi = dist.zi_probs.cpu().numpy() if likelihood == "zinb" else None
                    lower = count_quantile(lo, mu, theta, pi)
                    upper = count_quantile(hi, mu, theta, pi)
            else:
                draws = [
                    dist_at(module.sample(z, log_var_z[rows], generator), lib, target) for _ in range(int(n_samples))
                ]
                means = torch.stack([d.mean for d in draws])
                mean = means.mean(0).cpu().numpy().astype(np.float64)
                var = (torch.stack([d.variance for d in draws]).mean(0) + means.var(0, unbiased=False)).cpu().numpy()
                p0 = torch.stack([zero_probability(d) for d in draws]).mean(0).cpu().numpy()
                lower, upper = _moment_matched_quantiles(likelihood, mean, var, lo, hi)
            out["mean"][rows] = mean
            out["sd"][rows] = np.sqrt(np.maximum(var, 0.0))
            out["p_zero"][rows] = p0
            out["lower"][rows] = lower
            out["upper"][rows] = upper
    return out
