"""Observation models: negative binomial and zero-inflated NB, parameterised by mean and inverse dispersion.

Poisson and Gaussian come from :mod:`torch.distributions`; :func:`make_distribution`
builds any of the four from the decoder's outputs, and :func:`zero_probability` gives P(X = 0).
"""
from __future__ import annotations

import torch
from torch.distributions import Distribution, Normal, Poisson, constraints

_EPS = 1e-8


class NegativeBinomial(Distribution):
    """Negative binomial with mean ``mu`` and inverse dispersion ``theta``.

    Var = mu + mu**2 / theta; theta -> inf gives the Poisson.
    """

    arg_constraints = {"mu": constraints.nonnegative, "theta": constraints.positive}
    support = constraints.nonnegative_integer

    def __init__(self, mu: torch.Tensor, theta: torch.Tensor, validate_args: bool = False):
        self.mu, self.theta = torch.broadcast_tensors(mu, theta)
        super().__init__(batch_shape=self.mu.shape, validate_args=validate_args)

    @property
    def mean(self) -> torch.Tensor:
        return self.mu

    @property
    def variance(self) -> torch.Tensor:
        return self.mu + self.mu**2 / self.theta

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        mu, theta = self.mu, self.theta
        log_theta_mu = torch.log(theta + mu + _EPS)
        return (
            theta * (torch.log(theta + _EPS) - log_theta_mu)
            + value * (torch.log(mu + _EPS) - log_theta_mu)
            + torch.lgamma(value + theta)
            - torch.lgamma(theta)
            - torch.lgamma(value + 1)
        )

    def zero_probability(self) -> torch.Tensor:
        return torch.exp(self.theta * (torch.log(self.theta + _EPS) - torch.log(self.theta + self.mu + _EPS)))


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


def make_distribution(
    likelihood: str,
    mean: torch.Tensor,
    *,
    theta: torch.Tensor | None = None,
    zi_logits: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
) -> Distribution:
    """The observation distribution for one modality's likelihood name."""
    if likelihood == "zinb":
        return ZeroInflatedNegativeBinomial(mean, theta, zi_logits)
    if likelihood == "nb":
        return NegativeBinomial(mean, theta)
    if likelihood == "poisson":
        return Poisson(mean + _EPS)
    if likelihood == "gaussian":
        return Normal(mean, scale)
    msg = f"Unknown likelihood {likelihood!r}; choose one of 'zinb', 'nb', 'poisson', 'gaussian'."
    raise ValueError(msg)


def with_mean(dist: Distribution, mean: torch.Tensor) -> Distribution:
    """The same family and shape parameters as ``dist``, moved to the mean ``mean``.

    NB and ZINB keep theta (and the zero-inflation probability), the Gaussian keeps its sd.
    """
    if isinstance(dist, ZeroInflatedNegativeBinomial):
        return ZeroInflatedNegativeBinomial(mean / (1 - dist.zi_probs).clamp_min(_EPS), dist.theta, dist.zi_logits)
    if isinstance(dist, NegativeBinomial):
        return NegativeBinomial(mean, dist.theta)
    if isinstance(dist, Poisson):
        return Poisson(mean.clamp_min(0) + _EPS)
    if isinstance(dist, Normal):
        return Normal(mean, dist.scale)
    msg = f"with_mean does not know the distribution {type(dist).__name__}."
    raise TypeError(msg)


def blend_with_estimate(
    dist: Distribution, weight: torch.Tensor, mean: torch.Tensor, variance: torch.Tensor | None = None
) -> Distribution:
    """``dist`` mixed with a second estimate of mean ``mean`` (and spread ``variance``) by ``weight``.

    The mean becomes (1 - w) * dist.mean + w * mean. A Gaussian becomes the Normal with the
    moments of the mixture (1 - w) * dist + w * estimate, whose variance (1 - w) sd**2 +
    w variance + w (1 - w) (mean difference)**2 grows where the estimates disagree or the
    second one is spread out. Count distributions keep their shape parameters (:func:`with_mean`).
    """
    blended_mean = dist.mean + weight * (mean - dist.mean)
    if isinstance(dist, Normal) and variance is not None:
        mixture_variance = (
            (1 - weight) * dist.variance + weight * variance + weight * (1 - weight) * (mean - dist.mean) ** 2
        )
        return Normal(blended_mean, mixture_variance.clamp_min(_EPS).sqrt())
    return with_mean(dist, blended_mean)


def zero_probability(dist: Distribution) -> torch.Tensor:
    """P(X = 0) under a count distribution; P(X <= 0) under the Gaussian.

    For log-scale data a value of 0 is log(1 + 0), so P(X <= 0) is the Gaussian's
    counterpart of "not expressed".
    """
    if isinstance(dist, NegativeBinomial):
        return dist.zero_probability()
    if isinstance(dist, Poisson):
        return torch.exp(-dist.rate)
    return dist.cdf(torch.zeros_like(dist.mean))
