"""Observation models, one file per family behind one protocol (:class:`Likelihood`), and their registry.

A new likelihood is a subclass of :class:`~stcross.likelihoods.base.Likelihood` (or
:class:`~stcross.likelihoods.base.CountLikelihood`) in a file of its own, and one entry in
:data:`REGISTRY`.
"""
from __future__ import annotations

from ..errors import InputError
from .base import CountLikelihood, Likelihood
from .gaussian import GaussianLikelihood
from .nb import NBLikelihood, NegativeBinomial
from .poisson import PoissonLikelihood
from .zinb import ZeroInflatedNegativeBinomial, ZINBLikelihood

REGISTRY: dict[str, Likelihood] = {
    likelihood.name: likelihood
    for likelihood in (ZINBLikelihood(), NBLikelihood(), PoissonLikelihood(), GaussianLikelihood())
}
#: Names users may pass.
NAMES = tuple(REGISTRY)


def get_likelihood(name: str, role: str | None = None) -> Likelihood:
    """The likelihood called ``name``; a clear error naming the choices otherwise."""
    likelihood = REGISTRY.get(name) if isinstance(name, str) else None
    if likelihood is None:
        argument = f"likelihood_{role}" if role else "likelihood"
        msg = f"{argument}={name!r} is not supported; choose one of {list(NAMES)}."
        raise InputError(msg)
    return likelihood


__all__ = [
    "NAMES",
    "REGISTRY",
    "CountLikelihood",
    "Likelihood",
    "NegativeBinomial",
    "ZeroInflatedNegativeBinomial",
    "get_likelihood",
]
