"""Gene folds over the shared genes, permuted with a fixed seed: for calibration and cross-validation.

NumPy only, so the peer benchmarks can load this file by path in their own environment.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["gene_folds"]


def gene_folds(genes: Sequence[str], n_folds: int = 5, *, seed: int = 0) -> list[list[str]]:
    """Split genes into ``n_folds`` disjoint held-out sets.

    The folds are ``np.array_split(np.random.default_rng(seed).permutation(len(genes)), n_folds)``
    applied to ``genes`` in the order given (pass the shared genes in ST panel order to get the
    folds every stcross benchmark uses). Fold sizes differ by at most one.

    Parameters
    ----------
    genes
        Gene names (unique).
    n_folds
        Number of folds, at least 2.
    seed
        Seed of the local generator that permutes the genes.

    Returns
    -------
    List of ``n_folds`` lists of gene names; together they hold every gene exactly once.

    Raises
    ------
    ValueError
        If ``n_folds < 2``, the names repeat, or there are fewer than ``2 * n_folds`` genes
        (every fold must hold out at least two genes and keep the others to train on).
    """
    genes = [str(g) for g in genes]
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        msg = f"n_folds must be an integer of at least 2, got {n_folds!r}."
        raise ValueError(msg)
    if len(set(genes)) != len(genes):
        seen: set[str] = set()
        dup = sorted({g for g in genes if g in seen or seen.add(g)})
        msg = f"Gene names must be unique; repeated: {dup[:10]}."
        raise ValueError(msg)
    if len(genes) < 2 * n_folds:
        msg = (
            f"Too few shared genes for {n_folds}-fold cross-validation: {len(genes)} "
            f"(need at least {2 * n_folds}, two held-out genes per fold). Use fewer folds."
        )
        raise ValueError(msg)
    order = np.random.default_rng(seed).permutation(len(genes))
    return [[genes[i] for i in part] for part in np.array_split(order, int(n_folds))]
