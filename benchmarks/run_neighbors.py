"""Partner graph at scale: exact against approximate (FAISS inverted-file) top-k, time and recall.

Usage::

    python benchmarks/run_scale.py --n-sc 300000 --n-st 300000 --stage generate   # the data
    python benchmarks/run_neighbors.py --n-sc 300000 --n-st 300000 --n-probe 8,24,64

Builds the partner features of ``run_scale.py``'s synthetic pair the way ``train()`` does
(joint PCA of the shared genes, rows standardised), then finds each ST cell's partners among
the SC cells (the larger direction of the two is the same size). Recall@k is the share of a
query's exact top-k found by the approximate search, over ``--n-check`` random query cells
whose exact top-k is computed against every reference cell. The exact search of all queries
is timed where ``--exact-full`` is given; otherwise its time is the check sample's time scaled
to all queries (printed as such). One torch / FAISS thread, as stcross ships.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from real_data import RESULTS_DIR


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-sc", type=int, default=300_000)
    parser.add_argument("--n-st", type=int, default=300_000)
    parser.add_argument("--work", default="/tmp/stcross_scale", help="run_scale.py's data folder")
    parser.add_argument("--n-probe", default="8,24,64", help="comma-separated clusters scanned per query")
    parser.add_argument("--n-check", type=int, default=2000, help="query cells whose exact top-k measures recall")
    parser.add_argument("--exact-full", action="store_true", help="time the exact search of every query")
    parser.add_argument("--out", default=str(RESULTS_DIR))
    return parser.parse_args(argv)


def features(work: Path) -> tuple[np.ndarray, np.ndarray, int]:
    import anndata as ad

    import stcross
    from stcross.data.partners import joint_pca
    from stcross.module.vae import SC, ST
    from stcross.neighbors import standardize_rows

    sc, st = ad.read_h5ad(work / "sc.h5ad", backed="r"), ad.read_h5ad(work / "st.h5ad", backed="r")
    model = stcross.CrossModalModel(sc, st)
    a, b = joint_pca(model.data[SC].partner_features, model.data[ST].partner_features, model.config.n_pcs)
    return standardize_rows(a), standardize_rows(b), model.config.n_partners


def main(argv: list[str] | None = None) -> int:
    import torch

    from stcross.approximate_neighbors import approximate_top_k
    from stcross.neighbors import top_k_similar

    args = parse_args(argv)
    torch.set_num_threads(1)
    work = Path(args.work) / f"{args.n_sc}x{args.n_st}_2000g_300p_seed0"
    reference, query, k = features(work)
    check = np.random.default_rng(0).choice(len(query), min(args.n_check, len(query)), replace=False)
    started = time.perf_counter()
    truth, _ = top_k_similar(query[check], reference, k, approximate=False)
    check_s = time.perf_counter() - started
    result = {"n_query": len(query), "n_reference": len(reference), "dims": query.shape[1], "k": k,
              "n_check": len(check), "exact_check_s": check_s}
    if args.exact_full:
        started = time.perf_counter()
        top_k_similar(query, reference, k, approximate=False)
        result["exact_s"] = time.perf_counter() - started
    else:
        result["exact_s_scaled_from_check"] = check_s * len(query) / len(check)
    result["approximate"] = []
    for n_probe in (int(p) for p in args.n_probe.split(",")):
        started = time.perf_counter()
        found, _ = approximate_top_k(query, reference, k, n_probe=n_probe)
        seconds = time.perf_counter() - started
        recall = np.mean([len(set(found[c]) & set(truth[i])) / k for i, c in enumerate(check)])
        result["approximate"].append({"n_probe": n_probe, "s": seconds, "recall_at_k": float(recall)})
        print(json.dumps(result["approximate"][-1]), flush=True)
    out = Path(args.out) / f"neighbors_{args.n_sc}x{args.n_st}.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
