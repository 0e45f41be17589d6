"""The torch device a call runs on, from the user's ``device=`` argument."""
from __future__ import annotations

import torch

from .errors import InputError


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' picks CUDA when present; an explicit CUDA request without a GPU is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):  # torch's own message lists every backend it knows
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        msg = f"device={device!r} is not a device stcross can use; choose 'auto', 'cpu' or 'cuda' (or 'cuda:N')."
        raise InputError(msg)
    device = parsed
    if device.type == "cuda" and not torch.cuda.is_available():
        msg = "device='cuda' was requested but PyTorch sees no CUDA GPU here; use device='cpu' or device='auto'."
        raise RuntimeError(msg)
    return device
