"""Data, folds and metrics for the peer benchmark, defined exactly as stcross's own benchmark.

- Shared genes: ST genes that SC also has, in ST ``var`` order (case-sensitive).
- Folds: ``np.array_split(np.random.default_rng(seed=0).permutation(n_shared), 5)``
  (indices into the shared-gene list), as ``stcross.benchmark.cross_validation.gene_folds``.
- Metrics: ``python/stcross/benchmark/metrics.py`` loaded by file path, so the peers'
  environment does not need stcross's own dependencies (it is pure numpy).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA_ROOT = Path(os.environ.get("STCROSS_DATA", REPO.parent / "shared" / "data"))
DATASETS = {
    "osmfish": "osmfish_ssctx",
    "bdtnp": "bdtnp_drosophila",
    "starmap": "starmap_mpfc",
}
# gimVI models counts; BDTNP has log-normalised SC and continuous in-situ intensities.
COUNT_DATA = {"osmfish": True, "bdtnp": False, "starmap": True}


def load(dataset: str):
    """Return ``(adata_sc, adata_st)`` (SC is None for STARmap), dense float X."""
    import anndata as ad

    folder = DATA_ROOT / DATASETS[dataset]
    st = ad.read_h5ad(folder / "st.h5ad")
    sc_path = folder / "sc.h5ad"
    sc = ad.read_h5ad(sc_path) if sc_path.exists() else None
    for a in (st, sc):
        if a is not None and hasattr(a.X, "toarray"):
            a.X = a.X.toarray()
    return sc, st


def shared_genes(adata_sc, adata_st) -> list[str]:
    sc_genes = set(adata_sc.var_names)
    return [g for g in adata_st.var_names if g in sc_genes]


def gene_folds(n_shared: int, n_folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Index folds; checked against stcross's own ``folds.py`` when that file is present."""
    folds = np.array_split(np.random.default_rng(seed=seed).permutation(n_shared), n_folds)
    path = REPO / "python" / "stcross" / "data" / "folds.py"
    if path.exists():
        names = [str(i) for i in range(n_shared)]
        theirs = _load_by_path(path, "stcross_folds").gene_folds(names, n_folds, seed=seed)
        if [[int(i) for i in f] for f in theirs] != [f.tolist() for f in folds]:
            msg = "gene folds differ from stcross.data.folds.gene_folds"
            raise RuntimeError(msg)
    return folds


def location_split(n_cells: int, fraction: float = 0.2, seed: int = 0):
    """Query (coordinates hidden) and reference cells: first ``fraction`` of a permutation."""
    perm = np.random.default_rng(seed=seed).permutation(n_cells)
    n_query = int(round(fraction * n_cells))
    return np.sort(perm[:n_query]), np.sort(perm[n_query:])


def bbox_diagonal(coords: np.ndarray) -> float:
    return float(np.linalg.norm(coords.max(axis=0) - coords.min(axis=0)))


def _load_by_path(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_stcross_metrics():
    """Import stcross's metrics module by file path (no stcross dependencies needed)."""
    path = REPO / "python" / "stcross" / "benchmark" / "metrics.py"
    if not path.exists():
        msg = f"{path} does not exist: metrics must come from stcross's own module."
        raise FileNotFoundError(msg)
    return _load_by_path(path, "stcross_benchmark_metrics")


def gene_metrics(y_true: np.ndarray, y_pred: np.ndarray, metrics_module) -> dict[str, np.ndarray]:
    """Per-gene ``pcc``, ``spearman``, ``ssim``, ``rmse_z``, ``js`` from stcross's metrics.py."""
    table = metrics_module.gene_metrics(y_true, y_pred)
    return {str(c): table[c].to_numpy(dtype=float) for c in table.columns}
