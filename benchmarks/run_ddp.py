"""Training in two processes (torch.distributed, gloo) against one, on a bundled pair: wall time and accuracy.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/run_ddp.py --dataset osmfish

Hides the first of 5 gene folds of the panel (:func:`stcross.benchmark.gene_folds`, seed 0), trains
on the rest in one process and in two (``torchrun --standalone --nproc-per-node 2``,
``train(strategy="ddp")``), at the same epochs and at twice the epochs (as many optimizer steps
as one process), and reports each run's training wall time and the hidden genes' mean PCC.
One torch thread per process; on a 2-core machine the two processes fill both cores.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from real_data import RESULTS_DIR

LIKELIHOODS = {"osmfish": ("zinb", "nb"), "bdtnp": ("gaussian", "gaussian")}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(LIKELIHOODS), default="osmfish")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of one process (default: the model's)")
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--stage-fit", default=None, help=argparse.SUPPRESS)  # a result file: train and score
    parser.add_argument("--ddp", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def fit(args: argparse.Namespace) -> None:
    import stcross
    from stcross.benchmark import gene_folds

    sc, st = stcross.datasets.load(args.dataset)
    likelihood_sc, likelihood_st = LIKELIHOODS[args.dataset]
    shared = [g for g in st.var_names if g in set(sc.var_names)]
    hidden = gene_folds(shared, 5, seed=0)[0]
    kept = [g for g in st.var_names if g not in set(hidden)]
    model = stcross.CrossModalModel(sc, st[:, kept].copy(), likelihood_sc=likelihood_sc, likelihood_st=likelihood_st)
    started = time.perf_counter()
    model.train(max_epochs=args.epochs, progress_bar=False, threads=1, strategy="ddp" if args.ddp else "single")
    seconds = time.perf_counter() - started
    if int(os.environ.get("RANK", "0")) != 0:
        return
    mean = np.asarray(model.impute(genes=hidden).layers["mean"], np.float64)
    truth = st[:, hidden].X
    truth = np.asarray(truth.toarray() if hasattr(truth, "toarray") else truth, np.float64)
    pcc = [np.corrcoef(mean[:, j], truth[:, j])[0, 1] for j in range(len(hidden))]
    Path(args.stage_fit).write_text(json.dumps({
        "processes": 2 if args.ddp else 1, "epochs": len(model.history), "train_s": round(seconds, 1),
        "mean_pcc_hidden": round(float(np.nanmean(pcc)), 4),
    }))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.stage_fit:
        fit(args)
        return 0
    script = str(Path(__file__).resolve())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        single = Path(tmp) / "single.json"
        base = ["--dataset", args.dataset]
        subprocess.run([sys.executable, script, *base, "--stage-fit", str(single),
                        *([] if args.epochs is None else ["--epochs", str(args.epochs)])], check=True, env=env)
        rows.append(json.loads(single.read_text()))
        epochs = rows[0]["epochs"]
        for factor in (1, 2):
            result = Path(tmp) / f"ddp{factor}.json"
            subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                            script, *base, "--ddp", "--epochs", str(factor * epochs), "--stage-fit", str(result)],
                           check=True, env=env)
            rows.append(json.loads(result.read_text()))
    for row in rows:
        row["time_vs_one_process"] = round(row["train_s"] / rows[0]["train_s"], 2)
        print(json.dumps(row))
    out = Path(args.out) / f"ddp_{args.dataset}.json"
    out.write_text(json.dumps(rows, indent=1))
    print(f"[ddp] written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
