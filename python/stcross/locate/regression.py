"""Regression location: a network from the latent space to coordinates, trained on the ST cells."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

_MAX_EPOCHS, _PATIENCE, _BATCH = 200, 10, 512


class CoordinateHead(nn.Module):
    """MLP from a latent vector to the mean and log-variance of each coordinate."""

    def __init__(self, n_latent: int, n_dims: int, n_hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_latent, n_hidden), nn.GELU(), nn.Linear(n_hidden, n_hidden), nn.GELU(), nn.Linear(n_hidden, 2 * n_dims)
        )
        self.n_dims = n_dims

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(z)
        return out[:, : self.n_dims], out[:, self.n_dims :].clamp(-10.0, 5.0)


def regression_locations(
    z_st: np.ndarray,
    coords: np.ndarray,
    z_query: np.ndarray,
    *,
    panel_st: np.ndarray | None = None,
    panel_query: np.ndarray | None = None,
    n_neighbors: int = 10,
    seed: int = 0,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Fit the head on ST latents (10% held out for early stopping) and apply it to the query.

    The head predicts each coordinate's mean and variance; the sd is the root of the summed
    variances. The panel genes and ``n_neighbors`` are unused (every method takes the same
    arguments).
    """
    generator = torch.Generator().manual_seed(int(seed))
    centre, spread = coords.mean(0), coords.std(0) + 1e-12
    z_mean, z_std = z_st.mean(0), z_st.std(0) + 1e-6
    x = torch.tensor((z_st - z_mean) / z_std, dtype=torch.float32, device=device)
    y = torch.tensor((coords - centre) / spread, dtype=torch.float32, device=device)
    order = torch.randperm(len(x), generator=generator).numpy()
    n_val = max(1, len(x) // 10)
    val, train = order[:n_val], order[n_val:]
    with torch.random.fork_rng(devices=[]):  # layer initialisers use the global generator: isolate it
        torch.manual_seed(int(seed))
        head = CoordinateHead(z_st.shape[1], coords.shape[1]).to(device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = nn.GaussianNLLLoss()

    def nll(rows):
        mean, log_var = head(x[rows])
        return loss_fn(mean, y[rows], log_var.exp())

    best, best_state, stale = np.inf, None, 0
    for _ in range(_MAX_EPOCHS):
        head.train()
        perm = train[torch.randperm(len(train), generator=generator).numpy()]
        for start in range(0, len(perm), _BATCH):
            loss = nll(perm[start : start + _BATCH])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        head.eval()
        with torch.no_grad():
            val_loss = float(nll(val))
        if val_loss < best - 1e-4:
            best, best_state, stale = val_loss, copy.deepcopy(head.state_dict()), 0
        else:
            stale += 1
            if stale >= _PATIENCE:
                break
    head.load_state_dict(best_state)
    with torch.no_grad():
        query = torch.tensor((z_query - z_mean) / z_std, dtype=torch.float32, device=device)
        mean, log_var = head(query)
    coords_out = mean.cpu().numpy() * spread + centre
    sd = np.sqrt((log_var.exp().cpu().numpy() * spread**2).sum(1))
    return coords_out, sd
