"""Where the benchmark scripts find the real datasets, and how each pair is modelled."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
DATASETS = {
    "osmfish": {"folder": "osmfish_ssctx", "model_kwargs": {}, "counts": True},
    # In-situ intensities and log-normalised Drop-seq: Gaussian on both sides.
    "bdtnp": {
        "folder": "bdtnp_drosophila",
        "model_kwargs": {"likelihood_sc": "gaussian", "likelihood_st": "gaussian"},
        "counts": False,
    },
}


def data_dir(arg: str | None = None) -> Path:
    """``arg``, else ``$STCROSS_SHARED_DATA``, else ``../shared/data`` next to the repository."""
    if arg:
        return Path(arg)
    if os.environ.get("STCROSS_SHARED_DATA"):
        return Path(os.environ["STCROSS_SHARED_DATA"])
    return REPO_ROOT.parent / "shared" / "data"
