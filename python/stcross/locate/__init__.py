"""Location recovery: tissue coordinates, with a per-cell uncertainty, for cells given by their latents.

Each method is a function ``(z_st, coords, z_query, *, panel_st, panel_query, n_neighbors, seed,
device) -> (coords, sd)`` in a file of its own, registered in :data:`METHODS` by the name users
pass to :meth:`stcross.CrossModalModel.locate`. ``panel_*`` are the shared genes of each side,
z-scored per gene within their modality; a method may ignore them.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import InputError
from .knn import knn_locations
from .metric import metric_locations
from .regression import regression_locations

METHODS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "metric": metric_locations,
    "knn": knn_locations,
    "regression": regression_locations,
}


def locate_cells(
    z_st: np.ndarray,
    coords: np.ndarray,
    z_query: np.ndarray,
    *,
    panel_st: np.ndarray,
    panel_query: np.ndarray,
    method: str = "metric",
    n_neighbors: int = 10,
    seed: int = 0,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and per-cell sd for query cells, by a registered ``method``."""
    if method not in METHODS:
        msg = f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}."
        raise InputError(msg)
    return METHODS[method](
        z_st, coords, z_query, panel_st=panel_st, panel_query=panel_query, n_neighbors=n_neighbors, seed=seed, device=device
    )


__all__ = ["METHODS", "locate_cells"]
