"""Location recovery: tissue coordinates, with a per-cell uncertainty, for cells given by their latents.

Each method is a function ``(z_st, coords, z_query, *, n_neighbors, seed, device) -> (coords, sd)``
in a file of its own, registered in :data:`METHODS` by the name users pass to
:meth:`stcross.CrossModalModel.locate`.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import InputError
from .knn import knn_locations
from .regression import regression_locations

METHODS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "regression": regression_locations,
    "knn": knn_locations,
}


def locate_cells(
    z_st: np.ndarray,
    coords: np.ndarray,
    z_query: np.ndarray,
    *,
    method: str = "knn",
    n_neighbors: int = 10,
    seed: int = 0,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and per-cell sd for query latents, by a registered ``method``."""
    if method not in METHODS:
        msg = f"method must be {' or '.join(map(repr, METHODS))}, got {method!r}."
        raise InputError(msg)
    return METHODS[method](z_st, coords, z_query, n_neighbors=n_neighbors, seed=seed, device=device)


__all__ = ["METHODS", "locate_cells"]
