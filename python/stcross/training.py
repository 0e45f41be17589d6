"""Minibatch training of :class:`~stcross.module.CrossModalVAE` with early stopping.

Every random draw comes from one local ``torch.Generator`` seeded by ``seed``: no global
RNG state is read or changed, so the same seed gives the same model.
"""
from __future__ import annotations

import copy
import logging
import math
import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import progress
from .config import TrainConfig
from .features import ModalityData
from .module import SC, ST, CrossModalVAE, LossTerms
from .partners import PartnerGraph

logger = logging.getLogger("stcross")

_TARGET_STEPS = 250
_MIN_EPOCHS, _MAX_EPOCHS = 8, 200


class Batcher:
    """Encodes cells of either modality, attending to their partners' cached hidden states.

    The partners' encoder states are computed for all cells at once (without gradients,
    dropout off) and refreshed once per epoch: a step then only runs the encoders on its
    own cells, and at inference a cell's output depends on nothing but its own data and
    its partners' data.
    """

    def __init__(self, module: CrossModalVAE, data: tuple[ModalityData, ModalityData], graph: PartnerGraph, device):
        self.module = module
        self.data = data
        self.device = device
        self.partners = (graph.sc_to_st, graph.st_to_sc)
        self.similarity = (graph.sc_to_st_sim, graph.st_to_sc_sim)
        self.hidden: list[torch.Tensor | None] = [None, None]

    def refresh(self, chunk_size: int = 4096) -> None:
        """Recompute every cell's encoder state (used as keys and values by its partners)."""
        was_training = self.module.training
        self.module.eval()
        with torch.no_grad():
            for modality in (SC, ST):
                n = self.data[modality].n_cells
                self.hidden[modality] = torch.cat([
                    self.module.encoders[modality](self.data[modality].inputs.rows(np.arange(s, min(n, s + chunk_size)), self.device))
                    for s in range(0, n, chunk_size)
                ])
        self.module.train(was_training)

    def encode(self, modality: int, cells: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of ``cells``."""
        if self.hidden[1 - modality] is None:
            self.refresh()
        x = self.data[modality].inputs.rows(cells, self.device)
        partners = torch.from_numpy(self.partners[modality][cells]).to(self.device)
        similarity = torch.from_numpy(self.similarity[modality][cells]).to(self.device)
        h = self.module.encoders[modality](x)
        h = self.module.attention[modality](h, self.hidden[1 - modality], partners, similarity)
        return self.module.latent(h)

    def targets(self, modality: int, cells: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        data = self.data[modality]
        return data.targets.rows(cells, self.device), torch.from_numpy(data.library[cells]).to(self.device)


def default_epochs(n_cells: int, batch_size: int) -> int:
    steps_per_epoch = max(1, math.ceil(n_cells / batch_size))
    return int(np.clip(round(_TARGET_STEPS / steps_per_epoch), _MIN_EPOCHS, _MAX_EPOCHS))


def _split(n: int, fraction: float, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = torch.randperm(n, generator=generator).numpy()
    n_val = int(round(n * fraction)) if n >= 20 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _batches(cells: np.ndarray, n_batches: int, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """``n_batches`` batches cycling through a fresh permutation of ``cells`` (the smaller modality repeats)."""
    needed = n_batches * batch_size
    reps = math.ceil(needed / len(cells))
    order = np.concatenate([cells[torch.randperm(len(cells), generator=generator).numpy()] for _ in range(reps)])
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(n_batches)]


def compute_loss(
    batcher: Batcher,
    sc_cells: np.ndarray,
    st_cells: np.ndarray,
    *,
    kl_weight: float,
    generator: torch.Generator | None,
) -> LossTerms:
    """Loss of one minibatch pair. ``generator=None`` means evaluation: z at its mean."""
    module = batcher.module
    config = module.config
    # One positive partner per cell for the alignment term, drawn from its partner list.
    k_sc, k_st = batcher.partners[SC].shape[1], batcher.partners[ST].shape[1]
    if generator is None:
        pick_sc, pick_st = np.zeros(len(sc_cells), int), np.zeros(len(st_cells), int)
    else:
        pick_sc = torch.randint(k_sc, (len(sc_cells),), generator=generator).numpy()
        pick_st = torch.randint(k_st, (len(st_cells),), generator=generator).numpy()
    st_of_sc = batcher.partners[SC][sc_cells, pick_sc]
    sc_of_st = batcher.partners[ST][st_cells, pick_st]
    n_sc, n_st = len(sc_cells), len(st_cells)
    mean_sc, log_var_sc = batcher.encode(SC, np.concatenate([sc_cells, sc_of_st]))
    mean_st, log_var_st = batcher.encode(ST, np.concatenate([st_cells, st_of_sc]))

    def latent(mean, log_var):
        return mean if generator is None else module.sample(mean, log_var, generator)

    x_sc, lib_sc = batcher.targets(SC, sc_cells)
    x_st, lib_st = batcher.targets(ST, st_cells)
    rec_sc = module.reconstruction(SC, latent(mean_sc[:n_sc], log_var_sc[:n_sc]), x_sc, lib_sc).mean()
    rec_st = module.reconstruction(ST, latent(mean_st[:n_st], log_var_st[:n_st]), x_st, lib_st).mean()
    kl_sc = module.kl_divergence(mean_sc[:n_sc], log_var_sc[:n_sc]).mean()
    kl_st = module.kl_divergence(mean_st[:n_st], log_var_st[:n_st]).mean()
    align = 0.5 * (
        module.alignment(mean_sc[:n_sc], mean_st[n_st:]) + module.alignment(mean_st[:n_st], mean_sc[n_sc:])
    )
    beta = kl_weight * config.kl_weight
    w_sc, w_st = module.elbo_weight
    total = w_sc * (rec_sc + beta * kl_sc) + w_st * (rec_st + beta * kl_st) + config.contrastive_weight * align
    return LossTerms(total, rec_sc, rec_st, 0.5 * (kl_sc + kl_st), align)


def _validation_loss(batcher: Batcher, val_sc: np.ndarray, val_st: np.ndarray, batch_size: int) -> dict[str, float]:
    """Loss terms on the held-out cells at z's mean, averaged over fixed chunks."""
    n_chunks = max(math.ceil(len(val_sc) / batch_size), math.ceil(len(val_st) / batch_size))
    sums: dict[str, float] = {}
    with torch.no_grad():
        for i in range(n_chunks):
            sc = np.resize(val_sc, n_chunks * batch_size)[i * batch_size : (i + 1) * batch_size]
            st = np.resize(val_st, n_chunks * batch_size)[i * batch_size : (i + 1) * batch_size]
            terms = compute_loss(batcher, np.unique(sc), np.unique(st), kl_weight=1.0, generator=None)
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
) -> pd.DataFrame:
    """Train in place; return the per-epoch history (training and validation loss terms)."""
    # Dropout draws from torch's global generator; fork it so training is seeded by
    # ``seed`` alone and the caller's global RNG state is left exactly as it was.
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(settings.seed))
        return _train(module, data, graph, settings, device=device, progress_bar=progress_bar)


def _train(
    module: CrossModalVAE,
    data: tuple[ModalityData, ModalityData],
    graph: PartnerGraph,
    settings: TrainConfig,
    *,
    device: torch.device,
    progress_bar: bool,
) -> pd.DataFrame:
    generator = torch.Generator().manual_seed(int(settings.seed))
    batcher = Batcher(module, data, graph, device)
    train_sc, val_sc = _split(data[SC].n_cells, settings.validation_fraction, generator)
    train_st, val_st = _split(data[ST].n_cells, settings.validation_fraction, generator)
    batch_size = min(settings.batch_size, len(train_sc), len(train_st))
    if batch_size < 2:
        msg = (
            f"Too few cells to train: {len(train_sc)} SC and {len(train_st)} ST cells after holding out "
            f"{settings.validation_fraction:.0%} for validation; each needs at least 2."
        )
        raise ValueError(msg)
    steps = max(math.ceil(len(train_sc) / batch_size), math.ceil(len(train_st) / batch_size))
    max_epochs = settings.max_epochs or default_epochs(max(len(train_sc), len(train_st)), batch_size)
    warmup = max(1, int(settings.kl_warmup_fraction * max_epochs))
    optimizer = torch.optim.AdamW(module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    has_validation = len(val_sc) >= 2 and len(val_st) >= 2

    history, best_state, best_loss, stale = [], None, math.inf, 0
    bar = tqdm(range(max_epochs), desc="stcross training", disable=not progress_bar, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        kl_weight = min(1.0, (epoch + 1) / warmup)
        batcher.refresh()
        module.train()
        sums: dict[str, float] = {}
        for sc_cells, st_cells in zip(
            _batches(train_sc, steps, batch_size, generator), _batches(train_st, steps, batch_size, generator)
        ):
            loss = compute_loss(batcher, sc_cells, st_cells, kl_weight=kl_weight, generator=generator)
            optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 10.0)
            optimizer.step()
            for key, value in loss.as_floats().items():
                sums[key] = sums.get(key, 0.0) + value / steps
        record = {"epoch": epoch + 1, "kl_weight": kl_weight, **sums}
        if has_validation:
            module.eval()
            batcher.refresh()
            record.update({f"validation_{k}": v for k, v in _validation_loss(batcher, val_sc, val_st, batch_size).items()})
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
