"""Zero-inflated negative binomial counts: an NB mixed with a point mass at zero."""
from __future__ import annotations

import torch
from torch.distributions import constraints

from .base import EPS
from .nb import NBLikelihood, NegativeBinomial
from .quantiles import count_quantile


class ZeroInflatedNegativeBinomial(NegativeBinomial):
    """NB mixed with a point mass at zero of probability ``sigmoid(zi_logits)``."""

    arg_constraints = {**NegativeBinomial.arg_constraints, "zi_logits": constraints.real}

    def __init__(self, mu: torch.Tensor, theta: torch.Tensor, zi_logits: torch.Tensor, validate_args: bool = False):
        super().__init__(mu, theta, validate_args=validate_args)
        self.zi_logits = zi_logits.expand_as(self.mu)

    @property
    def zi_probs(self) -> torch.Tensor:
        return torch.sigmoid(self.zi_logits)

    @property
    def mean(self) -> torch.Tensor:
        return (1 - self.zi_probs) * self.mu

    @property
    def variance(self) -> torch.Tensor:
        pi = self.zi_probs
        return (1 - pi) * (self.mu + self.mu**2 / self.theta) + pi * (1 - pi) * self.mu**2

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        nb_log_prob = super().log_prob(value)
        # log(pi) and log(1 - pi) written through softplus for numerical stability.
        log_pi = -torch.nn.functional.softplus(-self.zi_logits)
        log_one_minus_pi = -torch.nn.functional.softplus(self.zi_logits)
        zero_case = torch.logaddexp(log_pi, log_one_minus_pi + nb_log_prob)
        return torch.where(value < 0.5, zero_case, log_one_minus_pi + nb_log_prob)

    def zero_probability(self) -> torch.Tensor:
        pi = self.zi_probs
        return pi + (1 - pi) * super().zero_probability()


class ZINBLikelihood(NBLikelihood):
    """``"zinb"``: NB counts with extra zeros (dropouts), the zero probability predicted per cell and gene."""

    name = "zinb"
    zero_inflated = True

    def distribution(self, mean, params, zi_logits=None) -> ZeroInflatedNegativeBinomial:
        return ZeroInflatedNegativeBinomial(mean, params["theta"], zi_logits)

    def with_mean(self, dist, mean) -> ZeroInflatedNegativeBinomial:
        # The NB part's mean is scaled up so that the mixture's mean is ``mean``.
        return ZeroInflatedNegativeBinomial(mean / (1 - dist.zi_probs).clamp_min(EPS), dist.theta, dist.zi_logits)

    def interval(self, dist, params, lo, hi):
        mu = dist.mu.cpu().numpy()
        theta = params["theta"].cpu().numpy()
        pi = dist.zi_probs.cpu().numpy()
        return count_quantile(lo, mu, theta, pi), count_quantile(hi, mu, theta, pi)
