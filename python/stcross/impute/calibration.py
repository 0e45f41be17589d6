"""Calibration refits: predict every ST panel gene from a model trained without it, then fit the intervals.

:func:`calibrate_model` splits the shared genes into folds, trains the model again with each
fold hidden from ST (same settings and seed), predicts the hidden genes as if unmeasured, and
fits a :class:`~stcross.impute.conformal.Calibration` to the errors (see that module for the
maths and what the guarantee covers).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.folds import gene_folds
from ..data.genes import MIN_SHARED_GENES
from ..config import TrainConfig
from ..errors import InputError
from ..progress import report as report_progress
from .conformal import MIN_GENES_TOTAL, Calibration, fit_calibration

__all__ = ["calibrate_model", "heldout_predictions"]

# What calibrate() scored, recorded in Calibration.info["method"].
REFITS = "split-conformal, scaled residuals, gene-fold hold-out of the ST panel (one refit per fold)"
MASKED = ("split-conformal, scaled residuals, gene-fold hold-out of the ST panel (one masked-gene training "
          "with an ST encoder per fold, each fold scored hidden with the model's noise parameters)")

logger = logging.getLogger("stcross")


def heldout_predictions(
    model,
    *,
    n_folds: int = 5,
    seed: int = 0,
    max_epochs: int | None = None,
    n_samples: int = 0,
    max_cells: int | None = 50_000,
    progress: bool = False,
    n_refits: int | None = None,
    training_seed: int | None = None,
) -> dict[str, Any]:
    """Predict every ST panel gene from a model trained without it, fold by fold.

    Parameters
    ----------
    model
        A trained :class:`stcross.CrossModalModel`; its data, settings and training
        configuration are reused (its own weights are not touched).
    n_folds
        Folds of the shared genes (permuted with ``seed``); each is hidden in turn.
    seed
        Seed of the gene permutation.
    max_epochs
        Cap on each refit's epochs (default: the model's own training settings).
    n_samples
        Latent draws for the predictive summaries (as in :meth:`~stcross.CrossModalModel.impute`).
    max_cells
        Keep the predictions of at most this many ST cells (a random subset drawn with
        ``seed``; ``None``: all): enough for the score quantiles, and memory stays bounded.
        The refits always use every cell.
    progress
        Show the refits' progress bars.
    n_refits
        Refit only the first this many folds (``None``: all), and score their genes only.
    training_seed
        Seed of the refits' training (default: the model's), to measure how the calibration
        moves with the refits' own draw.

    Returns
    -------
    Dict with ``genes`` (the scored shared genes in model order), ``folds`` (lists of genes), ``epochs``
    (of each refit), ``cells`` (row indices of the kept ST cells) and cells x genes float32
    arrays ``truth``, ``mean``, ``sd``, ``p_zero``.
    """
    model.require_trained()
    genes = list(model.shared_genes)
    n_folds = check_folds(n_folds, len(genes))
    folds = gene_folds(genes, n_folds, seed=seed)
    if n_refits is not None:
        if isinstance(n_refits, bool) or int(n_refits) != n_refits or not 1 <= n_refits <= n_folds:
            msg = f"n_refits must be an integer from 1 to n_folds ({n_folds}) or None, got {n_refits!r}."
            raise InputError(msg)
        folds = folds[: int(n_refits)]
        scored = {g for held in folds for g in held}
        genes = [g for g in genes if g in scored]
    settings = capped_settings(model.train_config, max_epochs, training_seed)
    truth_all = model.data[1].targets.matrix  # ST targets: the shared genes in model order
    target_column = {g: i for i, g in enumerate(model.shared_genes)}
    position = {g: i for i, g in enumerate(genes)}
    cells = scored_cells(len(model.st_cells), max_cells, seed)
    out = {k: np.empty((cells.size, len(genes)), np.float32) for k in ("truth", "mean", "sd", "p_zero")}
    epochs = []
    report_progress("calibrating", 0, len(folds))
    for k, held in enumerate(folds):
        started = time.perf_counter()
        with _quiet_refit():
            inner = model.with_st_genes_hidden(held)
            # threads=None: the refits run under the thread count calibrate() was called with.
            inner.train(config=settings, device=str(model.device), progress_bar=progress, threads=None)
            imputed = inner.impute(genes=held, n_samples=n_samples, seed=seed, threads=None)
        columns = [position[g] for g in held]
        for key in ("mean", "sd", "p_zero"):
            out[key][:, columns] = np.asarray(imputed[:, held].layers[key])[cells]
        block = truth_all[cells][:, [target_column[g] for g in held]]
        out["truth"][:, columns] = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        epochs.append(len(inner.history))
        logger.info(
            "Calibration fold %d/%d: %d genes hidden, %d epochs, %.1f s.",
            k + 1, len(folds), len(held), epochs[-1], time.perf_counter() - started,
        )
        report_progress("calibrating", k + 1, len(folds))
    return {"genes": genes, "folds": folds, "epochs": epochs, "cells": cells, "method": REFITS, **out}


def capped_settings(settings: TrainConfig, max_epochs: int | None, training_seed: int | None = None) -> TrainConfig:
    """The model's training settings with epochs capped at ``max_epochs`` and the seed set to
    ``training_seed`` (None: unchanged)."""
    if training_seed is not None:
        settings = dataclasses.replace(settings, seed=int(training_seed))
    if max_epochs is None:
        return settings
    if isinstance(max_epochs, bool) or int(max_epochs) != max_epochs or max_epochs < 1:
        msg = f"max_epochs must be a positive integer or None, got {max_epochs!r}."
        raise InputError(msg)
    limit = int(max_epochs) if settings.max_epochs is None else min(int(max_epochs), settings.max_epochs)
    return dataclasses.replace(settings, max_epochs=limit)


def scored_cells(n_cells: int, max_cells: int | None, seed: int) -> np.ndarray:
    """Rows of the ST cells whose predictions are scored: all, or ``max_cells`` drawn with ``seed``."""
    if max_cells is not None and (isinstance(max_cells, bool) or int(max_cells) < 1):
        msg = f"max_cells must be a positive integer or None, got {max_cells!r}."
        raise InputError(msg)
    if max_cells is None or n_cells <= max_cells:
        return np.arange(n_cells)
    return np.sort(np.random.default_rng(seed).choice(n_cells, int(max_cells), replace=False))


@contextlib.contextmanager
def _quiet_refit():
    """Silence a refit's own log (its data checks repeat the trained model's, already logged;
    its training and imputation lines would bury the one line per fold)."""
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def check_folds(n_folds: int, n_genes: int) -> int:
    """``n_folds`` as an int, or a clear error when the panel is too small for that many gene folds."""
    if isinstance(n_folds, bool) or int(n_folds) != n_folds or n_folds < 2:
        msg = f"n_folds must be an integer of at least 2, got {n_folds!r}."
        raise InputError(msg)
    n_folds = int(n_folds)
    needed = max(MIN_GENES_TOTAL, 2 * n_folds)
    while needed - -(-needed // n_folds) < MIN_SHARED_GENES:  # each refit keeps enough genes to find partners
        needed += 1
    if n_genes < needed:
        msg = (
            f"Too few ST panel genes to calibrate: {n_genes} shared genes, but {n_folds}-fold calibration "
            f"needs at least {needed} (at least {MIN_GENES_TOTAL} overall, two held-out genes per fold and "
            f"{MIN_SHARED_GENES} kept to train each fold's model). Use fewer folds, or keep the uncalibrated "
            "predictive intervals."
        )
        raise InputError(msg)
    return n_folds


def calibrate_model(
    model,
    *,
    heldout: Callable[..., dict[str, Any]] = heldout_predictions,
    n_folds: int = 5,
    seed: int = 0,
    max_epochs: int | None = None,
    level_bins: int = 3,
    zero_bins: int = 1,
    min_genes: int = 5,
    sd_floor: float | None = None,
    nonnegative: bool | None = None,
    n_samples: int = 0,
    max_cells: int | None = 50_000,
    progress: bool = False,
) -> Calibration:
    """Conformal calibration of a trained model's intervals on held-out panel genes.

    Predicts every shared gene as if ST had not measured it (``heldout``: by default each of
    ``n_folds`` folds is hidden from a refit with the same architecture, settings and seed),
    and fits a :class:`Calibration` to the scaled errors (see :func:`fit_calibration` for the
    grouping options).

    Parameters
    ----------
    model
        A trained :class:`stcross.CrossModalModel`.
    heldout
        How the panel genes are predicted as if unmeasured: :func:`heldout_predictions` (one
        refit per fold) or :func:`stcross.impute.heldout_masked.masked_heldout_predictions`
        (one masked-gene training); both take the keyword arguments below.
    n_folds
        Gene folds (at least 2; needs at least ``max(5, 2 * n_folds)`` shared genes, and enough that
        every refit keeps 3).
    seed
        Seed of the gene permutation.
    max_epochs
        Cap on each refit's epochs, to make calibration cheaper (default: as trained).
    level_bins, zero_bins, min_genes, sd_floor, nonnegative
        See :func:`fit_calibration`.
    n_samples
        Latent draws behind the spreads; impute with the same value.
    max_cells
        Score at most this many ST cells per gene (see :func:`heldout_predictions`).
    progress
        Show the refits' progress bars.

    Returns
    -------
    The calibration (:meth:`stcross.CrossModalModel.calibrate` stores it on the model).

    Raises
    ------
    ValueError
        If there are too few shared genes for the folds.
    """
    started = time.perf_counter()
    held = heldout(
        model,
        n_folds=n_folds,
        seed=seed,
        max_epochs=max_epochs,
        n_samples=n_samples,
        max_cells=max_cells,
        progress=progress,
    )
    info = {
        "method": held["method"],
        "n_folds": int(n_folds),
        "seed": int(seed),
        "max_epochs": None if max_epochs is None else int(max_epochs),
        "epochs": [int(e) for e in held["epochs"]],
        "n_samples": int(n_samples),
        "genes": held["genes"],
        "n_cells_scored": int(held["truth"].shape[0]),
        "time_s": 0.0,
    }
    calibration = fit_calibration(
        held["truth"],
        held["mean"],
        held["sd"],
        held["p_zero"],
        likelihood=model.likelihoods[1],
        level_bins=level_bins,
        zero_bins=zero_bins,
        min_genes=min_genes,
        sd_floor=sd_floor,
        nonnegative=nonnegative,
        info=info,
    )
    calibration.info["time_s"] = round(time.perf_counter() - started, 3)
    logger.info("Calibrated on %d panel genes in %.1f s: %r", len(held["genes"]), calibration.info["time_s"], calibration)
    return calibration
