"""Poisson counts: no overdispersion."""
from __future__ import annotations

import numpy as np
import torch
from torch.distributions import Poisson

from .base import EPS, CountLikelihood
from .quantiles import count_quantile


class PoissonLikelihood(CountLikelihood):
    """``"poisson"``: counts whose variance equals their mean."""

    name = "poisson"

    def distribution(self, mean, params, zi_logits=None) -> Poisson:
        return Poisson(mean + EPS)

    def with_mean(self, dist, mean) -> Poisson:
        return Poisson(mean.clamp_min(0) + EPS)

    def zero_probability(self, dist) -> torch.Tensor:
        return torch.exp(-dist.rate)

    def interval(self, dist, params, lo, hi):
        mu = dist.mean.cpu().numpy().astype(np.float64)
        return count_quantile(lo, mu, None, None), count_quantile(hi, mu, None, None)
