"""The cross-modal VAE as plain ``torch.nn`` modules, and the partner-state cache its encoders attend to."""
from __future__ import annotations

from .partner_cache import Batch, PartnerCache
from .vae import SC, ST, CrossModalVAE, LossTerms

__all__ = ["SC", "ST", "Batch", "CrossModalVAE", "LossTerms", "PartnerCache"]
