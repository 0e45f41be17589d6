"""Gene-fold cross-validation of imputation on a real dataset pair, method by method.

Usage::

    python benchmarks/run_cv.py --dataset osmfish
    python benchmarks/run_cv.py --dataset bdtnp --methods stcross,knn200,naive50 --out benchmarks/results

Data are read from ``<data dir>/<dataset folder>/{sc,st}.h5ad``; the data dir is ``--data-dir``,
else ``$STCROSS_SHARED_DATA``, else ``../shared/data`` next to the repository root. Each method
runs in its own subprocess, so the peak resident memory reported (``ru_maxrss``) is that
method's alone (it includes the Python interpreter, imports and the loaded data; the
memory after loading is reported too). Writes one per-gene CSV per method and a summary CSV.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from real_data import DATASETS, RESULTS_DIR, data_dir

METHODS = ("stcross", "knn200", "naive50")


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from " + ", ".join(METHODS))
    parser.add_argument("--out", default=str(RESULTS_DIR), help="output folder")
    parser.add_argument("--data-dir", default=None, help="folder holding the dataset folders")
    parser.add_argument("--n-folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the gene folds")
    parser.add_argument("--model-kwargs", default="{}",
                        help="JSON dict added to CrossModalModel's arguments; a dict under 'config' becomes a ModelConfig")
    parser.add_argument("--train-kwargs", default="{}", help="JSON dict passed to model.train")
    parser.add_argument("--in-process", action="store_true", help="run methods in this process (peak memory is then cumulative)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown or not args.methods:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    return args


def run_method(args: argparse.Namespace, method: str, out: Path) -> dict:
    """Cross-validate one method here; write its per-gene CSV and run JSON; return the run info."""
    import anndata as ad

    import stcross

    spec = DATASETS[args.dataset]
    folder = data_dir(args.data_dir) / spec["folder"]
    adata_sc = ad.read_h5ad(folder / "sc.h5ad")
    adata_st = ad.read_h5ad(folder / "st.h5ad")
    rss_loaded = peak_rss_mib()
    model_kwargs = {**spec["model_kwargs"], **json.loads(args.model_kwargs)}
    if isinstance(model_kwargs.get("config"), dict):  # e.g. {"config": {"neighbor_blend": 0}}
        model_kwargs["config"] = stcross.ModelConfig(**model_kwargs["config"])
    cpu_started = time.process_time()
    started = time.perf_counter()
    df = stcross.benchmark.cross_validate(
        adata_sc,
        adata_st,
        n_folds=args.n_folds,
        seed=args.seed,
        method=method,
        model_kwargs=model_kwargs,
        train_kwargs=json.loads(args.train_kwargs),
        baseline_kwargs={"counts": spec["counts"]},
        progress=False,
    )
    info = {
        "dataset": args.dataset,
        "method": method,
        "wall_s": time.perf_counter() - started,
        # CPU seconds over all threads: comparable across runs on a shared, loaded machine.
        "cpu_s": time.process_time() - cpu_started,
        "peak_rss_mib": peak_rss_mib(),
        "rss_after_load_mib": rss_loaded,
        "n_sc_cells": adata_sc.n_obs,
        "n_st_cells": adata_st.n_obs,
        "attrs": {k: v for k, v in df.attrs.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"{args.dataset}_{method}_genes.csv", index=False)
    (out / f"{args.dataset}_{method}_run.json").write_text(json.dumps(info, indent=1, default=str))
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.worker:
        run_method(args, args.worker, out)
        return 0

    import pandas as pd

    import stcross

    infos = {}
    for method in args.methods:
        print(f"[run_cv] {args.dataset} / {method} ...", flush=True)
        if args.in_process:
            infos[method] = run_method(args, method, out)
            continue
        worker_argv = list(argv if argv is not None else sys.argv[1:])
        subprocess.run([sys.executable, str(Path(__file__).resolve()), *worker_argv, "--worker", method], check=True)
        infos[method] = json.loads((out / f"{args.dataset}_{method}_run.json").read_text())

    results = pd.concat(
        [pd.read_csv(out / f"{args.dataset}_{m}_genes.csv") for m in args.methods], ignore_index=True
    )
    summary = stcross.benchmark.summarize(results)
    summary["wall_s"] = [infos[m]["wall_s"] for m in summary.index]
    summary["cpu_s"] = [infos[m].get("cpu_s", float("nan")) for m in summary.index]
    summary["peak_rss_mib"] = [infos[m]["peak_rss_mib"] for m in summary.index]
    summary["rss_after_load_mib"] = [infos[m]["rss_after_load_mib"] for m in summary.index]
    summary.to_csv(out / f"{args.dataset}_summary.csv")

    columns = {
        "pcc_mean": "PCC", "pcc_median": "PCC med", "spearman_mean": "Spearman", "spearman_median": "Sp med",
        "ssim_mean": "SSIM", "ssim_median": "SSIM med", "rmse_z_mean": "RMSE(z)", "rmse_z_median": "RMSE med",
        "js_mean": "JS", "js_median": "JS med", "wall_s": "wall s", "cpu_s": "CPU s", "peak_rss_mib": "peak MiB",
        "rss_after_load_mib": "load MiB",
    }
    if "AS" in summary.columns:
        columns["AS"] = "AS"
    table = summary[list(columns)].rename(columns=columns)
    first = infos[args.methods[0]]
    print(
        f"\n{args.dataset}: {first['n_sc_cells']} SC cells, {first['n_st_cells']} ST cells, "
        f"{first['attrs']['n_shared_genes']} shared genes, {args.n_folds}-fold gene CV (seed {args.seed}); "
        "means and medians over held-out genes"
    )
    formats = {c: "{:.4f}".format for c in table.columns}
    formats.update({"wall s": "{:.1f}".format, "CPU s": "{:.1f}".format, "peak MiB": "{:.0f}".format, "load MiB": "{:.0f}".format})
    print(table.to_string(formatters=formats))
    print(f"\nper-gene CSVs and {args.dataset}_summary.csv written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
