"""Does masked-gene training help the main model's accuracy? The 5-fold gene CV of run_cv.py, with and without.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/run_masked_training_cv.py osmfish default
    OMP_NUM_THREADS=1 python benchmarks/run_masked_training_cv.py osmfish masked

``masked`` trains every CV model as ``calibrate(method="masked")`` trains its network: each step
hides one of 5 folds of the (training) panel from ST's input and likelihood. An experiment, not an
option of the package: the training loop is wrapped here. Prints the mean held-out PCC.
"""
from __future__ import annotations

import sys

import anndata as ad
import numpy as np
import stcross.model
from stcross.benchmark import cross_validate, gene_folds
from stcross.impute.heldout_masked import panel_masks

from real_data import DATASETS, data_dir

_train_module = stcross.model.train_module


def masked_train_module(module, data, graph, settings, **options):
    """The training loop with 5 folds of panel masks (positions, folds seeded by the training seed)."""
    n_panel = len(module.st_gene_index)
    folds = gene_folds([str(i) for i in range(n_panel)], 5, seed=settings.seed)
    hidden = [np.array(sorted(int(g) for g in fold)) for fold in folds]
    masks = panel_masks(hidden, n_panel, data[1].inputs.shape[1], "cpu")
    return _train_module(module, data, graph, settings, masks=masks, **options)


def main(argv: list[str]) -> int:
    name, variant = argv[0], argv[1] if len(argv) > 1 else "default"
    spec = DATASETS[name]
    folder = data_dir() / spec["folder"]
    sc, st = ad.read_h5ad(folder / "sc.h5ad"), ad.read_h5ad(folder / "st.h5ad")
    if variant == "masked":
        stcross.model.train_module = masked_train_module
    table = cross_validate(sc, st, n_folds=5, seed=0, method="stcross", model_kwargs=spec["model_kwargs"],
                           train_kwargs={"threads": 1})
    print(f"{name} {variant}: mean held-out PCC {np.nanmean(table['pcc']):.4f}; per fold "
          f"{table.groupby('fold').pcc.mean().round(4).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
