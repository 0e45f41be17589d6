"""Peer benchmark for stcross: Tangram, gimVI and SpaGE (tissue-sc) on stcross's own gene folds.

Runs in the peers' own virtualenv (see README.md / setup_env.sh), never in stcross's.

Tasks
-----
impute    5-fold gene cross-validation over the shared genes (folds identical to
          stcross.benchmark): hide a fold's genes from ST, run the peer, predict them;
          per-gene PCC, Spearman, SSIM, RMSE(z), JS from stcross's metrics.py, wall
          time and peak RSS per method (each method runs in its own process).
tissue    TISSUE (tissue-sc) calibrated intervals on SpaGE predictions, same folds:
          empirical coverage of held-out values (zeros included) and width / gene sd.
location  Hide the coordinates of 20% of ST cells (seed 0) and place them back with
          Tangram (expected position under its cell-to-spot probabilities) and a kNN-10
          anchor on the panel genes; STARmap: one section against the other two.

Predictions are cached (``--cache``, outside the repo) so tables can be rebuilt
(``--tables-only``) without re-running a peer.

Examples
--------
nice -n 15 python benchmarks/peers/run_peers.py --dataset osmfish --methods tangram,spage
nice -n 15 python benchmarks/peers/run_peers.py --dataset osmfish --task tissue
nice -n 15 python benchmarks/peers/run_peers.py --dataset starmap --task location
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_data  # noqa: E402

log = logging.getLogger("stcross.peers")
RESULTS = peer_data.REPO / "benchmarks" / "results"
DEFAULT_CACHE = Path(os.environ.get("STCROSS_PEERS_CACHE", "/tmp/stcross_peers_cache"))
METHODS = ("tangram", "gimvi", "spage")
METRIC_COLS = ("pcc", "spearman", "ssim", "rmse_z", "js")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _lognorm(x: np.ndarray) -> np.ndarray:
    lib = x.sum(axis=1, keepdims=True)
    target = np.median(lib[lib > 0])
    return np.log1p(np.divide(x * target, lib, out=np.zeros_like(x), where=lib > 0))


def _git_rev() -> str:
    try:
        return subprocess.run(["git", "-C", str(peer_data.REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=False).stdout.strip() or "none"
    except OSError:
        return "none"


# ---------------------------------------------------------------- workers (one process each)

def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _import_peer(method: str) -> None:
    """Import the peer's package before the clock starts (scanpy/torch imports take ~10 s)."""
    import importlib

    importlib.import_module({"tangram": "tangram", "gimvi": "scvi.external",
                             "spage": "tissue.main"}[method])


def worker_impute(args) -> None:
    import peer_methods

    method = args.methods
    _import_peer(method)
    sc, st = peer_data.load(args.dataset)
    genes = peer_data.shared_genes(sc, st)
    folds = peer_data.gene_folds(len(genes), args.n_folds)
    rss0 = _rss_mib()
    pred = np.full((st.n_obs, len(genes)), np.nan)
    fold_s, fold_cpu = [], []
    for k, idx in enumerate(folds):
        hidden = [genes[i] for i in idx]
        visible = [g for g in genes if g not in set(hidden)]
        st_vis = st[:, visible].copy()
        t0, c0 = time.perf_counter(), time.process_time()
        if method == "tangram":
            p, _ = peer_methods.tangram_impute(sc, st_vis, hidden, epochs=args.tangram_epochs,
                                               seed=args.seed)
        elif method == "spage":
            n_pv = args.spage_n_pv if args.spage_n_pv > 0 else len(visible)
            p = peer_methods.spage_impute(sc, st_vis, hidden, n_pv=n_pv)
        elif method == "gimvi":
            p = peer_methods.gimvi_impute(sc, st_vis, hidden, epochs=args.gimvi_epochs,
                                          seed=args.seed)
        else:
            msg = f"unknown method {method!r}"
            raise ValueError(msg)
        fold_s.append(time.perf_counter() - t0)
        fold_cpu.append(time.process_time() - c0)
        pred[:, idx] = p
        log.info("%s %s fold %d/%d: %d genes, %.1f s wall, %.1f s CPU", args.dataset, method,
                 k + 1, len(folds), len(hidden), fold_s[-1], fold_cpu[-1])
    meta = {
        "method": method, "dataset": args.dataset, "genes": genes,
        "folds": [f.tolist() for f in folds], "fold_seconds": fold_s,
        "fold_cpu_seconds": fold_cpu, "cpu_seconds": float(np.sum(fold_cpu)),
        "wall_seconds": float(np.sum(fold_s)), "peak_rss_mib": _rss_mib(),
        "rss_after_load_mib": rss0, "load_average_end": os.getloadavg()[0],
        "torch_threads": _torch_threads(),
        "settings": {
            "tangram": {"mode": "cells", "epochs": args.tangram_epochs, "seed": args.seed,
                        "density_prior": "rna_count_based", "lr": 0.1},
            "spage": {"n_pv": args.spage_n_pv if args.spage_n_pv > 0 else
                      "number of visible shared genes", "via": "tissue.main.spage_impute"},
            "gimvi": {"epochs": args.gimvi_epochs, "seed": args.seed,
                      "likelihoods": "zinb (SC), nb (ST)", "imputed": "normalized=False"},
        }[method] | {"input": "as stored (raw counts / stored values)"},
    }
    _save(args.cache / f"impute_{args.dataset}_{method}", pred=pred, meta=meta)


def worker_tissue(args) -> None:
    import peer_methods

    _import_peer("spage")
    sc, st = peer_data.load(args.dataset)
    genes = peer_data.shared_genes(sc, st)
    folds = peer_data.gene_folds(len(genes), args.n_folds)
    if args.tissue_input == "lognorm":
        sc = sc.copy()
        st = st.copy()
        sc.X = _lognorm(np.asarray(sc.X, dtype=np.float64))
        st.X = _lognorm(np.asarray(st.X, dtype=np.float64))
    pred = np.full((st.n_obs, len(genes)), np.nan)
    lo, hi = pred.copy(), pred.copy()
    fold_s, fold_cpu = [], []
    for k, idx in enumerate(folds):
        hidden = [genes[i] for i in idx]
        visible = [g for g in genes if g not in set(hidden)]
        t0, c0 = time.perf_counter(), time.process_time()
        p, l_, h_ = peer_methods.tissue_intervals(sc, st[:, visible].copy(), hidden,
                                                  alpha=1.0 - args.level, n_pv=args.tissue_n_pv)
        fold_s.append(time.perf_counter() - t0)
        fold_cpu.append(time.process_time() - c0)
        pred[:, idx], lo[:, idx], hi[:, idx] = p, l_, h_
        log.info("TISSUE %s fold %d/%d: %.1f s", args.dataset, k + 1, len(folds), fold_s[-1])
    meta = {"dataset": args.dataset, "genes": genes, "level": args.level,
            "input": args.tissue_input, "fold_seconds": fold_s,
            "cpu_seconds": float(np.sum(fold_cpu)),
            "wall_seconds": float(np.sum(fold_s)), "peak_rss_mib": _rss_mib(),
            "truth": "raw" if args.tissue_input == "raw" else "lognorm"}
    truth = np.asarray(st[:, genes].X, dtype=np.float64)
    _save(args.cache / f"tissue_{args.dataset}_{args.tissue_input}", pred=pred, lo=lo, hi=hi,
          truth=truth, meta=meta)


def worker_location(args) -> None:
    import peer_methods

    _import_peer("tangram")
    jobs = _location_jobs(args.dataset)
    results = []
    for name, q_idx, r_idx, st in jobs:
        x = np.asarray(st.X, dtype=np.float64)
        if args.location_input == "lognorm" and peer_data.COUNT_DATA[args.dataset]:
            x = _lognorm(x)
        q = st[q_idx].copy()
        r = st[r_idx].copy()
        q.X, r.X = x[q_idx], x[r_idx]
        t0, c0 = time.perf_counter(), time.process_time()
        m = peer_methods.tangram_mapping(q, r, epochs=args.tangram_epochs, seed=args.seed)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        coords = np.asarray(st.obsm["spatial"], dtype=np.float64)
        results.append({"name": name, "pred": (m @ coords[r_idx]).tolist(), "seconds": secs, "cpu_seconds": cpu,
                        "max_prob_mean": float(m.max(axis=1).mean())})
        log.info("Tangram location %s %s: %.1f s", args.dataset, name, secs)
    meta = {"dataset": args.dataset, "input": args.location_input, "jobs": results,
            "peak_rss_mib": _rss_mib(), "epochs": args.tangram_epochs}
    _save(args.cache / f"location_{args.dataset}_{args.location_input}", meta=meta)


def _location_jobs(dataset: str):
    """(name, query indices, reference indices, adata_st) for each placement task."""
    _, st = peer_data.load(dataset)
    if dataset == "starmap":
        batch = st.obs["batch"].astype(str).to_numpy()
        return [(f"section {b}", np.flatnonzero(batch == b), np.flatnonzero(batch != b), st)
                for b in sorted(np.unique(batch))]
    q, r = peer_data.location_split(st.n_obs)
    return [("20% of cells", q, r, st)]


def _save(stem: Path, meta: dict, **arrays) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    if arrays:
        np.savez_compressed(str(stem) + ".npz", **arrays)
    Path(str(stem) + ".json").write_text(json.dumps(meta, indent=1))


def _load(stem: Path):
    meta = json.loads(Path(str(stem) + ".json").read_text())
    npz = Path(str(stem) + ".npz")
    arrays = dict(np.load(npz)) if npz.exists() else {}
    return meta, arrays


def _spawn(args, task: str, method: str | None = None) -> None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", task,
           "--dataset", args.dataset, "--cache", str(args.cache),
           "--tangram-epochs", str(args.tangram_epochs), "--gimvi-epochs", str(args.gimvi_epochs),
           "--spage-n-pv", str(args.spage_n_pv), "--tissue-n-pv", str(args.tissue_n_pv),
           "--seed", str(args.seed),
           "--n-folds", str(args.n_folds), "--tissue-input", args.tissue_input,
           "--location-input", args.location_input, "--level", str(args.level),
           "--threads", str(args.threads)]
    if method:
        cmd += ["--methods", method]
    log.info("running: %s", " ".join(cmd))
    subprocess.run(cmd, check=True)


# ---------------------------------------------------------------- tables

def _fmt_table(rows: list[dict], cols: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)


def tables_impute(args) -> None:
    import pandas as pd

    metrics_mod = peer_data.load_stcross_metrics()
    sc, st = peer_data.load(args.dataset)
    genes = peer_data.shared_genes(sc, st)
    truth = np.asarray(st[:, genes].X, dtype=np.float64)
    folds = peer_data.gene_folds(len(genes), args.n_folds)
    fold_of = np.empty(len(genes), dtype=int)
    for k, idx in enumerate(folds):
        fold_of[idx] = k
    per_gene, summary, means = [], [], {}
    for method in METHODS:
        stem = args.cache / f"impute_{args.dataset}_{method}"
        if not Path(str(stem) + ".json").exists():
            continue
        meta, arr = _load(stem)
        if meta["genes"] != genes or meta["folds"] != [f.tolist() for f in folds]:
            msg = f"cached {stem} was made with other genes/folds; re-run it"
            raise RuntimeError(msg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = peer_data.gene_metrics(truth, arr["pred"], metrics_mod)
        df = pd.DataFrame({"dataset": args.dataset, "method": method, "fold": fold_of,
                           "gene": genes, **{c: res[c] for c in METRIC_COLS}})
        per_gene.append(df)
        means[method] = {c: float(np.nanmean(res[c])) for c in METRIC_COLS}
        summary.append({
            "method": method,
            "mean_PCC": f"{np.nanmean(res['pcc']):.3f}", "median_PCC": f"{np.nanmedian(res['pcc']):.3f}",
            "mean_Spearman": f"{np.nanmean(res['spearman']):.3f}",
            "mean_SSIM": f"{np.nanmean(res['ssim']):.3f}", "median_SSIM": f"{np.nanmedian(res['ssim']):.3f}",
            "mean_RMSE": f"{np.nanmean(res['rmse_z']):.3f}", "median_RMSE": f"{np.nanmedian(res['rmse_z']):.3f}",
            "mean_JS": f"{np.nanmean(res['js']):.3f}", "median_JS": f"{np.nanmedian(res['js']):.3f}",
            "nan_genes": int(np.isnan(res["pcc"]).sum()),
            "wall_s": f"{meta['wall_seconds']:.0f}",
            "cpu_s": f"{meta.get('cpu_seconds', float('nan')):.0f}",
            "s_per_fold": f"{np.mean(meta['fold_seconds']):.0f}",
            "peak_RSS_MiB": f"{meta['peak_rss_mib']:.0f}",
            "settings": meta["settings"], "threads": meta.get("torch_threads", "?"),
        })
    if not summary:
        log.warning("no cached imputation results for %s", args.dataset)
        return
    as_ = metrics_mod.accuracy_score(pd.DataFrame(means).T)["AS"]
    for row in summary:
        row["AS_peers"] = f"{as_[row['method']]:.2f}"
    cols = ["method", "mean_PCC", "median_PCC", "mean_Spearman", "mean_SSIM", "median_SSIM",
            "mean_RMSE", "median_RMSE", "mean_JS", "median_JS", "AS_peers", "wall_s",
            "cpu_s", "s_per_fold", "peak_RSS_MiB", "nan_genes"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    pd.concat(per_gene).to_csv(RESULTS / f"peers_{args.dataset}_genes.csv", index=False,
                               float_format="%.5g")
    skipped = "" if peer_data.COUNT_DATA[args.dataset] else (
        "gimVI: not run (it models counts; this dataset's SC is log-normalised and ST is "
        "continuous in-situ intensity).\n")
    text = (
        f"Peer benchmark, {args.dataset}: {len(genes)} shared genes, {args.n_folds}-fold gene CV "
        f"(folds = np.array_split(default_rng(0).permutation(n_shared), {args.n_folds})), "
        f"metrics from python/stcross/benchmark/metrics.py against the stored ST values, "
        f"all {st.n_obs} ST cells.\n"
        f"wall_s = fit+predict summed over folds (no imports/loading); cpu_s = CPU time of the "
        f"method's process over the same span (all threads; robust to the shared machine's "
        f"load, unlike wall time); peak_RSS = ru_maxrss of "
        f"the method's own process; AS_peers = Li et al. accuracy score among the peers only.\n"
        f"{skipped}\n" + _fmt_table(summary, cols) + "\n\nSettings:\n"
        + "\n".join(f"  {r['method']}: {r['settings']}" for r in summary)
        + f"\n\nCommand: {sys.executable} {' '.join(sys.argv)}"
        f"\n(torch threads per worker: {sorted({r['threads'] for r in summary})})\n"
        f"repo revision: {_git_rev()}\n"
    )
    (RESULTS / f"peers_{args.dataset}.txt").write_text(text)
    print(text)


def tables_tissue(args) -> None:
    import pandas as pd

    rows, per_gene = [], []
    for inp in ("raw", "lognorm"):
        stem = args.cache / f"tissue_{args.dataset}_{inp}"
        if not Path(str(stem) + ".json").exists():
            continue
        meta, arr = _load(stem)
        y, lo, hi = arr["truth"], arr["lo"], arr["hi"]
        inside = (y >= lo) & (y <= hi)
        width = hi - lo
        sd = y.std(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_mean = width.mean(axis=0) / sd
            rel_median = np.median(width, axis=0) / sd
        zero = y == 0
        per_gene.append(pd.DataFrame({
            "dataset": args.dataset, "input": inp, "gene": meta["genes"],
            "coverage": inside.mean(axis=0),
            "coverage_nonzero": np.where((~zero).any(axis=0),
                                         (inside & ~zero).sum(axis=0) / np.maximum((~zero).sum(axis=0), 1),
                                         np.nan),
            "mean_width_over_sd": rel_mean, "median_width_over_sd": rel_median,
            "gene_sd": sd, "frac_zero": zero.mean(axis=0)}))
        rows.append({
            "input": inp, "level": meta["level"],
            "coverage_all": f"{inside.mean():.3f}",
            "coverage_nonzero": f"{inside[~zero].mean():.3f}",
            "coverage_zeros": f"{inside[zero].mean():.3f}" if zero.any() else "n/a",
            "median_gene_coverage": f"{np.median(inside.mean(axis=0)):.3f}",
            "median_over_genes(mean_width/sd)": f"{np.nanmedian(rel_mean):.2f}",
            "median_over_genes(median_width/sd)": f"{np.nanmedian(rel_median):.2f}",
            "mean_over_genes(mean_width/sd)": f"{np.nanmean(rel_mean[np.isfinite(rel_mean)]):.2f}",
            "wall_s": f"{meta['wall_seconds']:.0f}", "cpu_s": f"{meta.get('cpu_seconds', float('nan')):.0f}",
            "peak_RSS_MiB": f"{meta['peak_rss_mib']:.0f}",
        })
    if not rows:
        log.warning("no cached TISSUE results for %s", args.dataset)
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    pd.concat(per_gene).to_csv(RESULTS / f"peers_{args.dataset}_tissue_genes.csv", index=False,
                               float_format="%.5g")
    cols = list(rows[0])
    text = (
        f"TISSUE (tissue-sc, SpaGE n_pv={args.tissue_n_pv}, its tutorial settings: 10 inner folds, "
        "fixed_radius graph n_neighbors=15, kmeans_gene_cell k=4 k2=2, symmetric) calibrated "
        f"intervals, {args.dataset}, on stcross's 5 outer gene folds. Coverage of the held-out "
        "values, zeros included (coverage_all); widths relative to the held-out gene's own sd "
        "(on the same scale as the input: raw = stored values, lognorm = normalize_total+log1p "
        "of both sides).\n\n" + _fmt_table(rows, cols)
        + f"\n\nCommand: nice -n 15 /opt/peers-venv/bin/python benchmarks/peers/run_peers.py "
        f"--threads 1 --dataset {args.dataset} --task tissue --tissue-input "
        f"{'{raw,lognorm}' if peer_data.COUNT_DATA[args.dataset] else 'raw'}\n"
    )
    (RESULTS / f"peers_{args.dataset}_tissue.txt").write_text(text)
    print(text)


def knn_positions(x_query, x_ref, coords_ref, k=10, *, standardize=True):
    """kNN-k anchor: mean position of the k reference cells nearest (Euclidean) in panel space,
    genes optionally z-scored with the reference's mean/sd."""
    from sklearn.neighbors import NearestNeighbors

    if standardize:
        mu, sd = x_ref.mean(axis=0), x_ref.std(axis=0)
        sd[sd == 0] = 1.0
        x_ref, x_query = (x_ref - mu) / sd, (x_query - mu) / sd
    _, ind = NearestNeighbors(n_neighbors=k).fit(x_ref).kneighbors(x_query)
    return coords_ref[ind].mean(axis=1)


def tables_location(args) -> None:
    import pandas as pd

    counts = peer_data.COUNT_DATA[args.dataset]
    cached = {}
    for inp in ("raw", "lognorm"):
        stem = args.cache / f"location_{args.dataset}_{inp}"
        if Path(str(stem) + ".json").exists():
            cached[inp] = _load(stem)[0]
    rows, per_cell = [], []
    for j, (name, q_idx, r_idx, st) in enumerate(_location_jobs(args.dataset)):
        coords = np.asarray(st.obsm["spatial"], dtype=np.float64)
        diag = peer_data.bbox_diagonal(coords)
        x = np.asarray(st.X, dtype=np.float64)
        feats = _lognorm(x) if counts else x
        preds = []
        for standardize in (False, True):
            t0 = time.perf_counter()
            knn = knn_positions(feats[q_idx], feats[r_idx], coords[r_idx], standardize=standardize)
            label = "kNN-10 (" + ("lognorm" if counts else "stored values") + (
                ", z)" if standardize else ")")
            preds.append((label, knn, time.perf_counter() - t0, None, None))
        for inp, meta in cached.items():
            jb = meta["jobs"][j]
            if jb["name"] != name:
                msg = f"cached location job {jb['name']!r} does not match {name!r}"
                raise RuntimeError(msg)
            label = f"Tangram ({inp} input)" if counts else "Tangram"
            preds.append((label, np.asarray(jb["pred"]), jb["seconds"], jb.get("cpu_seconds"),
                          meta["peak_rss_mib"]))
        for method, pred, secs, cpu, rss in preds:
            err = np.linalg.norm(pred - coords[q_idx], axis=1) / diag
            rows.append({"dataset": args.dataset, "task": name, "method": method,
                         "n_query": len(q_idx), "n_ref": len(r_idx),
                         "median_err/diag": f"{np.median(err):.3f}",
                         "mean_err/diag": f"{np.mean(err):.3f}",
                         "wall_s": f"{secs:.1f}",
                         "cpu_s": "-" if cpu is None else f"{cpu:.0f}",
                         "peak_RSS_MiB": "-" if rss is None else f"{rss:.0f}"})
            per_cell.append(pd.DataFrame({"dataset": args.dataset, "task": name, "method": method,
                                          "cell": np.asarray(st.obs_names[q_idx]),
                                          "err_over_diag": err}))
    if args.dataset == "starmap":  # pooled over the three held-out sections
        allc = pd.concat(per_cell)
        for method, grp in allc.groupby("method", sort=False):
            rows.append({"dataset": args.dataset, "task": "all sections", "method": method,
                         "n_query": len(grp), "n_ref": "-",
                         "median_err/diag": f"{grp.err_over_diag.median():.3f}",
                         "mean_err/diag": f"{grp.err_over_diag.mean():.3f}",
                         "wall_s": "-", "cpu_s": "-", "peak_RSS_MiB": "-"})
    RESULTS.mkdir(parents=True, exist_ok=True)
    pd.concat(per_cell).to_csv(RESULTS / f"peers_location_{args.dataset}_cells.csv", index=False,
                               float_format="%.5g")
    split = ("one section (obs.batch) held out at a time, placed against the other two"
             if args.dataset == "starmap" else
             "query = first round(20%) of default_rng(0).permutation(n_st_cells), reference = rest")
    text = (
        f"Location benchmark (peer side), {args.dataset}: {split}. Error = Euclidean distance of "
        "predicted to true position / bounding-box diagonal of all ST coordinates.\n"
        f"Tangram: mode cells, {args.tangram_epochs} epochs, lr 0.1, seed {args.seed}, query cells "
        "given as SC with all panel genes, reference cells as spots; predicted position = "
        "mapping-probability-weighted mean of reference positions (raw input = stored values; "
        "lognorm = normalize_total to the median library + log1p on both sides).\n"
        "kNN-10: mean position of the 10 nearest reference cells, Euclidean on all panel genes "
        "(counts: normalize_total to the median library + log1p first); ', z' = genes z-scored "
        "with the reference's mean/sd first.\n\n" + _fmt_table(rows, list(rows[0]))
        + f"\n\nCommand: nice -n 15 /opt/peers-venv/bin/python benchmarks/peers/run_peers.py "
        f"--threads 1 --dataset {args.dataset} --task location [--location-input lognorm]\n"
    )
    (RESULTS / f"peers_location_{args.dataset}.txt").write_text(text)
    print(text)


# ---------------------------------------------------------------- CLI

def main(argv=None) -> None:
    global RESULTS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, choices=sorted(peer_data.DATASETS))
    p.add_argument("--methods", default="tangram,gimvi,spage")
    p.add_argument("--task", default="impute", choices=["impute", "tissue", "location"])
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the tables")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help="folder for cached predictions (outside the repo)")
    p.add_argument("--tables-only", action="store_true", help="rebuild tables from the cache")
    p.add_argument("--rerun", action="store_true", help="ignore cached predictions")
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tangram-epochs", type=int, default=500)
    p.add_argument("--gimvi-epochs", type=int, default=200)
    p.add_argument("--spage-n-pv", type=int, default=0,
                   help="SpaGE principal vectors (0 = number of visible shared genes, as in "
                   "SpaGE's own osmFISH example; TISSUE's tutorial uses 10)")
    p.add_argument("--tissue-n-pv", type=int, default=10,
                   help="n_pv of SpaGE inside TISSUE (its tutorial's 10; inner folds see "
                   "fewer genes, so 'all visible' does not work there)")
    p.add_argument("--level", type=float, default=0.9, help="TISSUE interval level")
    p.add_argument("--tissue-input", default="raw", choices=["raw", "lognorm"])
    p.add_argument("--location-input", default="raw", choices=["raw", "lognorm"])
    p.add_argument("--threads", type=int, default=0,
                   help="torch intra-op threads in the workers (0 = torch's default)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    warnings.filterwarnings("ignore", category=FutureWarning)
    RESULTS = args.out

    if args.worker and args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    if args.worker == "impute":
        return worker_impute(args)
    if args.worker == "tissue":
        return worker_tissue(args)
    if args.worker == "location":
        return worker_location(args)

    if args.task == "impute":
        if not args.tables_only:
            for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
                if method not in METHODS:
                    p.error(f"unknown method {method!r}; choose from {METHODS}")
                if method == "gimvi" and not peer_data.COUNT_DATA[args.dataset]:
                    log.warning("gimVI skipped on %s: it needs counts on both sides", args.dataset)
                    continue
                if args.dataset == "starmap":
                    p.error("starmap has no SC partner: use --task location")
                stem = args.cache / f"impute_{args.dataset}_{method}"
                if args.rerun or not Path(str(stem) + ".json").exists():
                    _spawn(args, "impute", method)
        tables_impute(args)
    elif args.task == "tissue":
        stem = args.cache / f"tissue_{args.dataset}_{args.tissue_input}"
        if not args.tables_only and (args.rerun or not Path(str(stem) + ".json").exists()):
            _spawn(args, "tissue")
        tables_tissue(args)
    else:
        stem = args.cache / f"location_{args.dataset}_{args.location_input}"
        if not args.tables_only and (args.rerun or not Path(str(stem) + ".json").exists()):
            _spawn(args, "location")
        tables_location(args)
    return None


if __name__ == "__main__":
    main()
