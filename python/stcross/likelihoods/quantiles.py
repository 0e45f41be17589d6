"""Quantiles of count distributions (NB, Poisson, optionally zero-inflated), vectorised over cells x genes.

Small quantiles come from accumulating the pmf by its recurrence (exact, and fast where most
values are small); the rest from scipy's inverse cdfs.
"""
from __future__ import annotations

import numpy as np
import scipy.special as special
import scipy.stats as stats

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
