"""stcross: one cross-modal model joining scRNA-seq and single-cell spatial transcriptomics.

It imputes genes a spatial panel did not measure (with a predictive distribution and
calibrated intervals), places single cells in the tissue, and embeds both modalities
in one latent space.
"""
from __future__ import annotations

import importlib
import logging

from .torch_import import import_torch

import_torch()  # first, before any submodule imports torch (see torch_import)

from .config import ModelConfig, TrainConfig  # noqa: E402
from .impute.to_disk import read_imputation  # noqa: E402
from .model import CrossModalModel  # noqa: E402

__version__ = "0.1.0"

logging.getLogger("stcross").addHandler(logging.NullHandler())

# Submodules with heavier imports (matplotlib, h5 files, rpy2) load on first use.
_LAZY_SUBMODULES = ("benchmark", "datasets", "pl", "cli", "io")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    msg = f"module 'stcross' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = ["CrossModalModel", "ModelConfig", "TrainConfig", "__version__", "read_imputation", *_LAZY_SUBMODULES]
