"""Training the module: one minibatch loop with early stopping, in one process or across several (torch.distributed)."""
from __future__ import annotations

from .loop import default_epochs, train_module

__all__ = ["default_epochs", "train_module"]
