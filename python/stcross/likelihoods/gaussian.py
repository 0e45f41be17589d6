"""Gaussian values on a log scale (log-normalised expression, in-situ intensities)."""
from __future__ import annotations

import numpy as np
import scipy.stats as stats
import torch
from torch.distributions import Normal

from .base import EPS, Likelihood


class GaussianLikelihood(Likelihood):
    """``"gaussian"``: continuous values with a per-gene noise sd; no library-size scaling.

    Its "zero probability" is P(X <= 0): for log-scale data 0 is log(1 + 0), "not expressed".
    """

    name = "gaussian"
    is_count = False

    def distribution(self, mean, params, zi_logits=None) -> Normal:
        return Normal(mean, params["sigma"])

    def with_mean(self, dist, mean) -> Normal:
        return Normal(mean, dist.scale)

    def zero_probability(self, dist) -> torch.Tensor:
        return dist.cdf(torch.zeros_like(dist.mean))

    def blend(self, dist, weight, mean, variance):
        """The Normal with the moments of the mixture (1 - w) * dist + w * estimate.

        Its variance (1 - w) sd**2 + w variance + w (1 - w) (mean difference)**2 grows where
        the two estimates disagree or the second one is spread out.
        """
        if variance is None:
            return super().blend(dist, weight, mean, variance)
        blended_mean = dist.mean + weight * (mean - dist.mean)
        mixture_variance = (1 - weight) * dist.variance + weight * variance + weight * (1 - weight) * (mean - dist.mean) ** 2
        return Normal(blended_mean, mixture_variance.clamp_min(EPS).sqrt())

    def interval(self, dist, params, lo, hi):
        mean = dist.mean.cpu().numpy().astype(np.float64)
        sd = np.sqrt(dist.variance.cpu().numpy().astype(np.float64))
        return mean + stats.norm.ppf(lo) * sd, mean + stats.norm.ppf(hi) * sd

    def moment_interval(self, mean, variance, lo, hi):
        sd = np.sqrt(variance)
        return mean + stats.norm.ppf(lo) * sd, mean + stats.norm.ppf(hi) * sd
