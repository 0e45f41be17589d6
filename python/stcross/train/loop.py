"""Minibatch training of :class:`~stcross.module.CrossModalVAE` with early stopping.

Every random draw comes from one local ``torch.Generator`` seeded by ``seed``: no global
RNG state is read or changed, so the same seed gives the same model.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .. import progress
from ..config import TrainConfig
from ..data.features import ModalityData
from ..data.partners import PartnerGraph
from ..module.partner_cache import PartnerCache
from ..module.vae import SC, ST, CrossModalVAE, PanelMask
from .distributed import Ranks

logger = logging.getLogger("stcross")

_TARGET_STEPS = 250
_MIN_EPOCHS, _MAX_EPOCHS = 8, 200


def default_epochs(n_cells: int, batch_size: int) -> int:
    steps_per_epoch = max(1, math.ceil(n_cells / batch_size))
    return int(np.clip(round(_TARGET_STEPS / steps_per_epoch), _MIN_EPOCHS, _MAX_EPOCHS))


def epoch_budget(settings: TrainConfig, n_sc: int, n_st: int) -> int:
    """The epochs a training of ``n_sc`` and ``n_st`` cells runs at most: ``settings.max_epochs``,
    or by default about :data:`_TARGET_STEPS` steps (early stopping can end it sooner)."""
    n_train_sc = n_sc - _n_validation(n_sc, settings.validation_fraction)
    n_train_st = n_st - _n_validation(n_st, settings.validation_fraction)
    batch_size = max(1, _batch_size(settings, n_train_sc, n_train_st))
    return settings.max_epochs or default_epochs(max(n_train_sc, n_train_st), batch_size)


def _batch_size(settings: TrainConfig, n_train_sc: int, n_train_st: int) -> int:
    """Cells of each modality in a step: the setting, or fewer when a modality has fewer to train on."""
    return min(settings.batch_size, n_train_sc, n_train_st)


def _n_validation(n: int, fraction: float) -> int:
    return int(round(n * fraction)) if n >= 20 else 0


def _split(n: int, fraction: float, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = torch.randperm(n, generator=generator).numpy()
    n_val = _n_validation(n, fraction)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _batches(cells: np.ndarray, n_batches: int, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """``n_batches`` batches cycling through a fresh permutation of ``cells`` (the smaller modality repeats)."""
    needed = n_batches * batch_size
    reps = math.ceil(needed / len(cells))
    order = np.concatenate([cells[torch.randperm(len(cells), generator=generator).numpy()] for _ in range(reps)])
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(n_batches)]


def _validation_loss(
    cache: PartnerCache, val_sc: np.ndarray, val_st: np.ndarray, batch_size: int, masks: Sequence[PanelMask] = (),
) -> dict[str, float]:
    """Loss terms on the held-out cells at z's mean, averaged over fixed chunks (with ``masks``:
    chunk i under mask i mod their number; without, nothing hidden)."""
    n_chunks = max(math.ceil(len(val_sc) / batch_size), math.ceil(len(val_st) / batch_size))
    sums: dict[str, float] = {}
    with torch.no_grad():
        for i in range(n_chunks):
            sc = np.resize(val_sc, n_chunks * batch_size)[i * batch_size : (i + 1) * batch_size]
            st = np.resize(val_st, n_chunks * batch_size)[i * batch_size : (i + 1) * batch_size]
            mask = masks[i % len(masks)] if masks else None
            terms = cache.module(cache.batch(np.unique(sc), np.unique(st), None), cache.states_for(mask), kl_weight=1.0, mask=mask)
            for key, value in terms.as_floats().items():
                sums[key] = sums.get(key, 0.0) + value / n_chunks
    return sums


def train_module(
    module: CrossModalVAE,
    data: tuple[ModalityData, ModalityData],
    graph: PartnerGraph,
    settings: TrainConfig,
    *,
    device: torch.device,
    progress_bar: bool = True,
    masks: Sequence[PanelMask] | None = None,
    ranks: Ranks | None = None,
) -> pd.DataFrame:
    """Train in place; return the per-epoch history (training and validation loss terms).

    With ``masks``, each step hides one of them, drawn at random, from ST (masked-gene
    training: the model learns to predict panel genes it cannot see; validation is unmasked).
    With ``ranks`` (one process of a torch.distributed group), each rank takes its share of
    every epoch's steps, gradients are averaged across ranks, and rank 0's validation loss
    decides early stopping for all.
    """
    # Dropout draws from torch's global generator; fork it so training is seeded by
    # ``seed`` alone and the caller's global RNG state is left exactly as it was.
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(settings.seed))
        return _train(module, data, graph, settings, device=device, progress_bar=progress_bar, masks=masks, ranks=ranks)


def _train(
    module: CrossModalVAE,
    data: tuple[ModalityData, ModalityData],
    graph: PartnerGraph,
    settings: TrainConfig,
    *,
    device: torch.device,
    progress_bar: bool,
    masks: Sequence[PanelMask] | None = None,
    ranks: Ranks | None = None,
) -> pd.DataFrame:
    generator = torch.Generator().manual_seed(int(settings.seed))
    # Every rank draws the same cell orders from ``generator``; the draws inside a step (partners,
    # z, masks) come from a generator of the rank's own. One process uses one generator for both.
    step_generator = generator
    if ranks is not None:
        step_generator = torch.Generator().manual_seed(int(settings.seed) * 7919 + 1 + ranks.rank)
    cache = PartnerCache(module, data, graph, device, ranks=ranks, masks=masks)
    train_sc, val_sc = _split(data[SC].n_cells, settings.validation_fraction, generator)
    train_st, val_st = _split(data[ST].n_cells, settings.validation_fraction, generator)
    batch_size = _batch_size(settings, len(train_sc), len(train_st))
    if batch_size < 2:
        msg = (
            f"Too few cells to train: {len(train_sc)} SC and {len(train_st)} ST cells after holding out "
            f"{settings.validation_fraction:.0%} for validation; each needs at least 2."
        )
        raise ValueError(msg)
    steps = max(math.ceil(len(train_sc) / batch_size), math.ceil(len(train_st) / batch_size))
    max_epochs = epoch_budget(settings, data[SC].n_cells, data[ST].n_cells)
    warmup = max(1, int(settings.kl_warmup_fraction * max_epochs))
    optimizer = torch.optim.AdamW(module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    has_validation = len(val_sc) >= 2 and len(val_st) >= 2
    stepper = module
    if ranks is not None:
        steps = math.ceil(steps / ranks.world_size) * ranks.world_size  # the same number of steps on every rank
        # Parameters a likelihood does not use (e.g. zero-inflation under NB) get no gradient.
        stepper = DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )

    history, best_state, best_loss, stale = [], None, math.inf, 0
    bar = tqdm(range(max_epochs), desc="stcross training", disable=not progress_bar, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        kl_weight = min(1.0, (epoch + 1) / warmup)
        cache.refresh()
        module.train()
        sums: dict[str, torch.Tensor] = {}
        pairs = list(zip(_batches(train_sc, steps, batch_size, generator), _batches(train_st, steps, batch_size, generator)))
        if ranks is not None:
            pairs = pairs[ranks.rank :: ranks.world_size]
        for sc_cells, st_cells in pairs:
            mask = None
            if masks:
                mask = masks[int(torch.randint(len(masks), (1,), generator=step_generator))]
            loss = stepper(
                cache.batch(sc_cells, st_cells, step_generator), cache.states_for(mask), kl_weight=kl_weight,
                generator=step_generator, mask=mask,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 10.0)
            optimizer.step()
            loss.add_share_to(sums, len(pairs))
        means = {key: float(value) for key, value in sums.items()}
        if ranks is not None:
            means = ranks.mean_values(means)
        record = {"epoch": epoch + 1, "kl_weight": kl_weight, **means}
        if has_validation:
            module.eval()
            cache.refresh()
            if ranks is None or ranks.is_main:
                # Fold paths never see their genes, so they are validated under their masks.
                validation = _validation_loss(cache, val_sc, val_st, batch_size, cache.path_masks)
            else:
                validation = dict.fromkeys(means, 0.0)
            if ranks is not None:  # rank 0's loss, hence rank 0's early-stopping decision, on every rank
                validation = ranks.broadcast_values(validation)
            record.update({f"validation_{k}": v for k, v in validation.items()})
            monitored = record["validation_total"]
            if epoch + 1 >= warmup:
                if best_state is None or monitored < best_loss - 1e-4 * abs(best_loss):
                    best_loss, best_state, stale = monitored, copy.deepcopy(module.state_dict()), 0
                else:
                    stale += 1
        record["seconds"] = time.perf_counter() - start
        history.append(record)
        bar.set_postfix(loss=f"{record['total']:.3g}")
        progress.report("training", epoch + 1, max_epochs)
        if has_validation and stale >= settings.patience:
            logger.info("Early stopping after epoch %d (no validation improvement in %d epochs).", epoch + 1, stale)
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return pd.DataFrame(history).set_index("epoch")
