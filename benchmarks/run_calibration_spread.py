"""How much the calibration moves with its own networks' training draw: the one-pass (masked) network's, or the refits'.

Usage::

    nice -n 10 python benchmarks/run_calibration_spread.py --dataset osmfish --seeds 0,1,2 --epochs-factor 1,1.5
    nice -n 10 python benchmarks/run_calibration_spread.py --dataset osmfish --seeds 0,1,2 --calibration refits

The protocol of ``run_uncertainty.py`` (outer 5-fold gene CV, seed 0; each outer fold's model
trained once, seed 0; 5 inner calibration folds, seed 0), with only the training seed of the
networks that predict the inner folds (``training_seed``: their initialisation and minibatches)
varied, at the model's epochs and at ``--epochs-factor`` times them. ``--calibration masked``
(``calibrate()``'s default) trains one masked network; ``--networks N`` trains N from seeds
``s .. s+N-1`` sharing those epochs and averages them. ``--calibration refits`` refits the model
once per inner fold. Prints one JSON line per setting (appended to
``results/<calibration>_spread_<dataset>.jsonl``): 90% coverage of the held-out genes, the median
over genes of the mean interval width / gene sd, and each outer fold's calibration time / its
model's training time. Training seed 0 at factor 1 is ``run_uncertainty.py --dataset D
[--calibration C] [--masked-networks N]``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from real_data import DATASETS, RESULTS_DIR, data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--seeds", default="0,1,2", help="training seeds of the masked network or the refits")
    parser.add_argument("--epochs-factor", default="1", help="comma-separated multiples of the model's epochs")
    parser.add_argument("--networks", type=int, default=1, help="masked networks averaged (calibrate()'s: 1)")
    parser.add_argument("--calibration", default="masked", choices=["masked", "refits"],
                        help="whose training seed varies: the masked network's, or the refits'")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(RESULTS_DIR))
    args = parser.parse_args()

    import anndata as ad
    import torch

    import stcross
    from stcross.impute.conformal import fit_calibration
    from stcross.impute.calibration import heldout_predictions
    from stcross.impute.heldout_masked import masked_heldout_predictions

    torch.set_num_threads(args.threads)
    spec = DATASETS[args.dataset]
    folder = data_dir(args.data_dir) / spec["folder"]
    st, sc = ad.read_h5ad(folder / "st.h5ad"), ad.read_h5ad(folder / "sc.h5ad")
    shared = [g for g in st.var_names if g in set(sc.var_names)]
    x_st = st.X.toarray() if hasattr(st.X, "toarray") else np.asarray(st.X)
    likelihood = spec["model_kwargs"].get("likelihood_st", "nb")
    outer = []
    for held in stcross.benchmark.gene_folds(shared, 5, seed=0):
        kept = [g for g in st.var_names if g not in set(held)]
        started = time.perf_counter()
        model = stcross.CrossModalModel(sc, st[:, kept].copy(), **spec["model_kwargs"]).train(seed=0, progress_bar=False)
        fit_s = time.perf_counter() - started
        imputed = model.impute(genes=held, interval=0.9)[:, held]
        summary = {k: np.asarray(imputed.layers[k], np.float64) for k in ("mean", "sd", "p_zero")}
        truth = x_st[:, st.var_names.get_indexer(held)].astype(np.float64)
        outer.append((model, held, summary, truth, fit_s))

    path = Path(args.out) / f"{args.calibration}_spread_{args.dataset}.jsonl"
    for factor in (float(f) for f in args.epochs_factor.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            inside, widths, ratios = [], [], []
            for model, held, summary, truth, fit_s in outer:
                epochs = None if factor == 1 else int(round(len(model.history) * factor))
                started = time.perf_counter()
                if args.calibration == "refits":
                    inner = heldout_predictions(model, n_folds=5, seed=0, max_epochs=epochs, training_seed=seed)
                else:
                    inner = masked_heldout_predictions(model, n_folds=5, seed=0, max_epochs=epochs, training_seed=seed,
                                                       networks=args.networks)
                ratios.append((time.perf_counter() - started) / fit_s)
                calibration = fit_calibration(inner["truth"], inner["mean"], inner["sd"], inner["p_zero"],
                                              likelihood=likelihood, level_bins=3, zero_bins=1, min_genes=5)
                lower, upper = calibration.interval(summary, held, 0.9)
                inside.append(((truth >= lower) & (truth <= upper)).ravel())
                widths += list((upper - lower).mean(axis=0) / truth.std(axis=0))
            line = json.dumps({"dataset": args.dataset, "calibration": args.calibration, "networks": args.networks,
                               "epochs_factor": factor, "training_seed": seed,
                               "coverage_90": round(float(np.concatenate(inside).mean()), 4),
                               "median_gene_mean_width_over_sd": round(float(np.median(widths)), 3),
                               "calibration_over_fit": [round(r, 2) for r in ratios]})
            print(line, flush=True)
            with path.open("a") as handle:
                handle.write(line + "\n")


if __name__ == "__main__":
    main()
