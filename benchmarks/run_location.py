"""Location benchmark: hide the coordinates of 20% of ST cells, place them back with stcross.

The hidden cells are given to the model as if they were SC cells (all their measured
genes); the other 80% are the ST reference. Reported: median error / the ST bounding-box
diagonal, for each of ``locate()``'s methods and for the plain baseline (the mean position of
the 10 nearest reference cells on the panel genes, log-normalised for counts, Euclidean; the
peers' anchor, here on the model's reference), and where the data have cell types, the share
of a placed cell's 10 nearest reference cells (at its inferred position) that share its type.
STARmap has no SC partner: one section (obs.batch) is placed against the other two.

    python benchmarks/run_location.py --dataset osmfish|bdtnp|starmap [--max-epochs N]
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from scipy.stats import spearmanr

import stcross
from real_data import RESULTS_DIR, data_dir

SETTINGS = {
    "osmfish": {"likelihood_sc": "nb", "likelihood_st": "nb", "label": "ClusterName"},
    "bdtnp": {"likelihood_sc": "gaussian", "likelihood_st": "gaussian", "label": None},
    "starmap": {"likelihood_sc": "nb", "likelihood_st": "nb", "label": "cell_type"},
}


def split(dataset: str, st: ad.AnnData, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the query (coordinates hidden) and reference cells."""
    if dataset == "starmap":
        sections = st.obs["batch"].astype(str).to_numpy()
        first = sorted(set(sections))[0]
        return np.flatnonzero(sections == first), np.flatnonzero(sections != first)
    order = np.random.default_rng(seed).permutation(st.n_obs)
    n_query = int(round(0.2 * st.n_obs))
    return np.sort(order[:n_query]), np.sort(order[n_query:])


def lognorm(x: np.ndarray) -> np.ndarray:
    """log1p of counts scaled to the median library size (cells with no counts stay 0)."""
    library = x.sum(1, keepdims=True)
    target = np.median(library[library > 0])
    return np.log1p(np.divide(x * target, library, out=np.zeros_like(x), where=library > 0))


def panel_knn_positions(query: ad.AnnData, reference: ad.AnnData, counts: bool, k: int = 10) -> np.ndarray:
    """Mean position of each query cell's k nearest reference cells on the panel genes."""
    x_query, x_ref = (np.asarray(a.X.toarray() if hasattr(a.X, "toarray") else a.X, float) for a in (query, reference))
    if counts:
        x_query, x_ref = lognorm(x_query), lognorm(x_ref)
    return np.asarray(reference.obsm["spatial"], float)[cKDTree(x_ref).query(x_query, k=k)[1]].mean(1)


def type_agreement(pred: np.ndarray, ref_coords: np.ndarray, ref_labels: np.ndarray, labels: np.ndarray) -> float:
    _, nearest = cKDTree(ref_coords).query(pred, k=10)
    return float(np.mean(ref_labels[nearest] == labels[:, None]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(SETTINGS), required=True)
    parser.add_argument("--data-dir", default=None, help="folder holding the dataset folders (default: see real_data.data_dir)")
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="{}", help='ModelConfig settings as JSON, e.g. \'{"mixing_weight": 1}\'')
    parser.add_argument("--out", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)

    folder = {"osmfish": "osmfish_ssctx", "bdtnp": "bdtnp_drosophila", "starmap": "starmap_mpfc"}[args.dataset]
    st = ad.read_h5ad(data_dir(args.data_dir) / folder / "st.h5ad")
    settings = SETTINGS[args.dataset]
    query, reference = split(args.dataset, st, args.seed)
    coords = np.asarray(st.obsm["spatial"], dtype=float)
    sc_like = st[query].copy()
    del sc_like.obsm["spatial"]
    ref = st[reference].copy()
    if settings["likelihood_st"] != "gaussian":
        # Drop cells with no counts from the reference: they carry no expression to match.
        ref = ref[np.asarray(ref.X.sum(1)).ravel() > 0].copy()
    diagonal = float(np.linalg.norm(coords.max(0) - coords.min(0)))

    started = time.perf_counter()
    model = stcross.CrossModalModel(
        sc_like, ref, likelihood_sc=settings["likelihood_sc"], likelihood_st=settings["likelihood_st"],
        config=stcross.ModelConfig(**json.loads(args.config)),
    ).train(max_epochs=args.max_epochs, seed=args.seed, progress_bar=False)
    train_seconds = time.perf_counter() - started
    truth = coords[query]
    located = {f"stcross-{method}": model.locate(method=method, seed=args.seed) for method in ("metric", "knn", "regression")}
    baseline = panel_knn_positions(sc_like, ref, settings["likelihood_st"] != "gaussian")
    located["panel kNN-10"] = pd.DataFrame(baseline, columns=["x", "y", "z"][: coords.shape[1]]).assign(sd=np.nan)
    rows = []
    for name, loc in located.items():
        pred = loc[["x", "y", "z"][: coords.shape[1]]].to_numpy()
        error = np.linalg.norm(pred - truth, axis=1)
        row = {
            "method": name,
            "median_error_rel": float(np.median(error) / diagonal),
            "mean_error_rel": float(np.mean(error) / diagonal),
        }
        if not loc["sd"].isna().all():
            row["sd_error_spearman"] = float(spearmanr(loc["sd"], error)[0])
        if settings["label"]:
            labels = st.obs[settings["label"]].astype(str).to_numpy()
            row["type_agreement_10nn"] = type_agreement(
                pred, np.asarray(ref.obsm["spatial"], float), ref.obs[settings["label"]].astype(str).to_numpy(), labels[query]
            )
        rows.append(row)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "dataset": args.dataset,
        "config": json.loads(args.config),
        "n_query": int(len(query)),
        "n_reference": int(ref.n_obs),
        "epochs": int(len(model.history)),
        "train_seconds": round(train_seconds, 1),
        "peak_rss_mib": round(peak_mib),
        "results": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = f"_seed{args.seed}" if args.seed else ""
    (out / f"location_{args.dataset}{suffix}.json").write_text(json.dumps(summary, indent=2))
    print(f"{args.dataset}: {len(query)} cells placed against {ref.n_obs}; trained {summary['epochs']} epochs "
          f"in {train_seconds:.1f} s; peak RSS {peak_mib:.0f} MiB")
    for row in rows:
        extra = f"  sd~error Spearman {row['sd_error_spearman']:.2f}" if "sd_error_spearman" in row else ""
        extra += f"  type agreement (10 nn) {row['type_agreement_10nn']:.3f}" if "type_agreement_10nn" in row else ""
        print(f"  {row['method']:<20} median error / diagonal {row['median_error_rel']:.4f}  "
              f"mean {row['mean_error_rel']:.4f}{extra}")


if __name__ == "__main__":
    main()
