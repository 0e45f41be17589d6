"""One cross-validation fold on the bundled real osmFISH data: the model must beat the naive baseline."""
from __future__ import annotations

import numpy as np
import stcross
from stcross.benchmark import gene_folds, naive_topk_baseline
from stcross.benchmark.metrics import pearson


def test_cv_fold_on_bundled_osmfish_beats_naive_top50():
    sc, st = stcross.datasets.osmfish()
    shared = [g for g in st.var_names if g in set(sc.var_names)]
    held_out = gene_folds(shared, 5, seed=0)[0]
    kept = [g for g in st.var_names if g not in set(held_out)]
    visible = st[:, kept].copy()
    truth = np.asarray(st[:, held_out].X.toarray() if hasattr(st.X, "toarray") else st[:, held_out].X)

    model = stcross.CrossModalModel(sc, visible).train(max_epochs=10, seed=0, progress_bar=False)
    ours = pearson(truth, model.impute(genes=held_out).layers["mean"])
    naive = naive_topk_baseline(sc, visible, genes=held_out, k=50).X
    theirs = pearson(truth, np.asarray(naive))

    assert np.nanmean(ours) > np.nanmean(theirs) + 0.05, (np.nanmean(ours), np.nanmean(theirs))
