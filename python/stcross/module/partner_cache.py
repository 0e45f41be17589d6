"""Every cell's encoder state, cached for its cross-modal partners to attend to, and the batches built on it.

A cell attends to the encoder states of its partners in the other modality. Those states are
computed for all cells at once (no gradients, dropout off) and refreshed once per epoch, so a
training step runs the encoders on its own cells only, and at inference a cell's output
depends on nothing but its own data and its partners' data (never on the batch it lands in).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ..data.features import ModalityData
from ..data.partners import PartnerGraph
from .vae import SC, ST, CrossModalVAE, PanelMask


class Shards(Protocol):
    """How processes split the cells and gather their states (:class:`stcross.train.distributed.Ranks`)."""

    def share(self, n: int) -> slice: ...

    def gather_rows(self, local: torch.Tensor, n: int) -> torch.Tensor: ...


@dataclass
class Batch:
    """One step's cells of both modalities, as tensors on the model's device.

    For each modality (SC, ST), ``inputs``, ``partners`` and ``similarity`` cover the step's
    own cells followed by one positive partner of each of the other modality's cells (the
    alignment term's pairs); ``targets`` and ``library`` cover the step's own cells.
    """

    inputs: tuple[torch.Tensor, torch.Tensor]
    partners: tuple[torch.Tensor, torch.Tensor]
    similarity: tuple[torch.Tensor, torch.Tensor]
    targets: tuple[torch.Tensor, torch.Tensor]
    library: tuple[torch.Tensor, torch.Tensor]
    n_cells: tuple[int, int]


class PartnerCache:
    """The encoder states of every cell of both modalities, and batches that attend to them."""

    def __init__(
        self, module: CrossModalVAE, data: tuple[ModalityData, ModalityData], graph: PartnerGraph, device, *,
        ranks: Shards | None = None, masks: list[PanelMask] | None = None,
    ):
        self.module = module
        # Masks with a fold path: their ST states are cached too, encoded by the path with the fold hidden.
        self.path_masks = [m for m in masks or [] if m.path is not None]
        self.path_states: dict[int, torch.Tensor] = {}
        self.ranks = ranks
        self.data = data
        self.device = device
        self.partners = (graph.sc_to_st, graph.st_to_sc)
        self.similarity = (graph.sc_to_st_sim, graph.st_to_sc_sim)
        self.states: list[torch.Tensor | None] = [None, None]

    def refresh(self, chunk_size: int = 4096) -> None:
        """Recompute every cell's encoder state (the keys and values its partners attend to).

        With ``ranks``, each process computes its share of the cells and the shares are gathered.
        """
        was_training = self.module.training
        self.module.eval()
        with torch.no_grad():
            for modality in (SC, ST):
                n = self.data[modality].n_cells
                cells = range(n) if self.ranks is None else range(n)[self.ranks.share(n)]
                encoder = self.module.encoders[modality]
                states = [
                    encoder(self.data[modality].inputs.rows(np.arange(s, min(cells.stop, s + chunk_size)), self.device))
                    for s in range(cells.start, cells.stop, chunk_size)
                ] or [torch.zeros((0, self.module.config.n_hidden), device=self.device)]
                self.states[modality] = torch.cat(states)
                if self.ranks is not None:
                    self.states[modality] = self.ranks.gather_rows(self.states[modality], n)
            for mask in self.path_masks:
                n = self.data[ST].n_cells
                encoder = self.module.state_encoder(ST, mask.path)
                self.path_states[mask.path] = torch.cat([
                    encoder(mask.hide(self.data[ST].inputs.rows(np.arange(s, min(n, s + chunk_size)), self.device)))
                    for s in range(0, n, chunk_size)
                ])
        self.module.train(was_training)

    def states_for(self, mask: PanelMask | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The states (SC, ST) that cells attend to in a step under ``mask``."""
        if mask is None or mask.path is None:
            return self.states[SC], self.states[ST]
        return self.states[SC], self.path_states[mask.path]

    def _lookup(self, modality: int, cells: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.data[modality].inputs.rows(cells, self.device)
        partners = torch.from_numpy(self.partners[modality][cells]).to(self.device)
        similarity = torch.from_numpy(self.similarity[modality][cells]).to(self.device)
        return x, partners, similarity

    def encode(self, modality: int, cells: np.ndarray, mask: PanelMask | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of ``cells`` of ``modality`` (with ``mask``: ST's genes hidden as it says)."""
        if self.states[1 - modality] is None:
            self.refresh()
        x, partners, similarity = self._lookup(modality, cells)
        if modality == ST and mask is not None:
            x = mask.hide(x)
        path = None if mask is None else mask.path
        return self.module.inference(modality, x, partners, similarity, self.states_for(mask)[1 - modality], path)

    def batch(self, sc_cells: np.ndarray, st_cells: np.ndarray, generator: torch.Generator | None) -> Batch:
        """The step's cells with one positive partner each, drawn from their partner lists by
        ``generator`` (``None``, for evaluation: the most similar partner)."""
        k_sc, k_st = self.partners[SC].shape[1], self.partners[ST].shape[1]
        if generator is None:
            pick_sc, pick_st = np.zeros(len(sc_cells), int), np.zeros(len(st_cells), int)
        else:
            pick_sc = torch.randint(k_sc, (len(sc_cells),), generator=generator).numpy()
            pick_st = torch.randint(k_st, (len(st_cells),), generator=generator).numpy()
        st_of_sc = self.partners[SC][sc_cells, pick_sc]
        sc_of_st = self.partners[ST][st_cells, pick_st]
        looked_up = (
            self._lookup(SC, np.concatenate([sc_cells, sc_of_st])),
            self._lookup(ST, np.concatenate([st_cells, st_of_sc])),
        )
        targets, library = zip(*(
            (self.data[m].targets.rows(cells, self.device), torch.from_numpy(self.data[m].library[cells]).to(self.device))
            for m, cells in ((SC, sc_cells), (ST, st_cells))
        ))
        return Batch(
            inputs=(looked_up[SC][0], looked_up[ST][0]),
            partners=(looked_up[SC][1], looked_up[ST][1]),
            similarity=(looked_up[SC][2], looked_up[ST][2]),
            targets=tuple(targets),
            library=tuple(library),
            n_cells=(len(sc_cells), len(st_cells)),
        )
