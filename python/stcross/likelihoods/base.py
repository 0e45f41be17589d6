"""What every observation model offers the rest of stcross: one protocol, no branching on names.

A likelihood turns the decoder's output for a modality into a ``torch.distributions``
distribution and answers what imputation, calibration and input checks ask of it. Counts
(``is_count``) are modelled as expression fractions times the cell's library size; other data
through a per-gene scale and shift of the decoder output (see
:meth:`stcross.module.CrossModalVAE.predictive`).
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch
from torch.distributions import Distribution

from ..errors import InputError
from .quantiles import nb_quantile

logger = logging.getLogger("stcross")

EPS = 1e-8


class Likelihood(ABC):
    """An observation model of one modality's values.

    Attributes
    ----------
    name
        The name users pass (``likelihood_sc=``, ``likelihood_st=``).
    is_count
        Whether values are counts: library-size scaling, non-negative integers.
    zero_inflated
        Whether the decoder must predict zero-inflation logits for it.
    """

    name: ClassVar[str]
    is_count: ClassVar[bool]
    zero_inflated: ClassVar[bool] = False

    @abstractmethod
    def distribution(self, mean: torch.Tensor, params: dict[str, torch.Tensor], zi_logits: torch.Tensor | None) -> Distribution:
        """The distribution with this ``mean``, given the gene parameters (``theta``, ``sigma``) and zero-inflation logits."""

    @abstractmethod
    def with_mean(self, dist: Distribution, mean: torch.Tensor) -> Distribution:
        """``dist`` moved to ``mean``, its shape parameters (dispersion, zero inflation, sd) kept."""

    @abstractmethod
    def zero_probability(self, dist: Distribution) -> torch.Tensor:
        """P(X = 0) (counts), or its counterpart for continuous values."""

    @abstractmethod
    def interval(self, dist: Distribution, params: dict[str, torch.Tensor], lo: float, hi: float):
        """Quantiles ``lo`` and ``hi`` of ``dist`` as float arrays (cells x genes)."""

    @abstractmethod
    def moment_interval(self, mean: np.ndarray, variance: np.ndarray, lo: float, hi: float):
        """Quantiles of a mixture (over latent draws) from the distribution with its mean and variance."""

    def blend(self, dist: Distribution, weight: torch.Tensor, mean: torch.Tensor, variance: torch.Tensor | None):
        """``dist`` mixed with a second estimate of mean ``mean`` (and spread ``variance``) by ``weight``.

        The mean becomes (1 - w) * dist.mean + w * mean; by default the shape parameters stay
        (:meth:`with_mean`).
        """
        return self.with_mean(dist, dist.mean + weight * (mean - dist.mean))

    def check_values(self, values: np.ndarray, where: str, role: str) -> np.ndarray:
        """The stored non-zero values, checked (and possibly corrected) for this likelihood."""
        return values

    def __repr__(self) -> str:
        return f"<likelihood {self.name!r}>"


class CountLikelihood(Likelihood):
    """Counts: non-negative integers, modelled as expression fractions times library size."""

    is_count = True

    def check_values(self, values: np.ndarray, where: str, role: str) -> np.ndarray:
        if values.size and values.min() < 0:
            msg = (
                f"{where} has negative values, which a {self.name!r} count likelihood cannot model. "
                "Pass raw counts (e.g. layer='counts'), or use likelihood 'gaussian' for log-scale data."
            )
            raise InputError(msg)
        if values.size and not np.allclose(values, np.round(values), atol=1e-3):
            msg = (
                f"{where} holds non-integer values, but likelihood_{role}={self.name!r} needs counts. "
                f"Pass raw counts (e.g. layer='counts') or set likelihood_{role}='gaussian' for "
                "log-normalised or intensity data."
            )
            raise InputError(msg)
        rounded = np.round(values)
        n_changed = int(np.count_nonzero(rounded != values))
        if n_changed:
            logger.warning(
                "%s: rounded %d values within 1e-3 of an integer to that integer for the %r count likelihood.",
                where, n_changed, self.name,
            )
        return rounded

    def moment_interval(self, mean: np.ndarray, variance: np.ndarray, lo: float, hi: float):
        # The NB with the mixture's mean and variance (a Poisson-like theta where there is no excess).
        excess = variance - mean
        theta = np.where(excess > 1e-8, mean**2 / np.maximum(excess, 1e-8), 1e8)
        theta = np.maximum(theta, 1e-4)
        return nb_quantile(lo, mean, theta), nb_quantile(hi, mean, theta)
