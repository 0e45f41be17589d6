"""Location benchmark: hide the coordinates of 20% of ST cells, place them back with stcross.

The hidden cells are given to the model as if they were SC cells (all their measured
genes); the other 80% are the ST reference. Reported: median error / the ST bounding-box
diagonal, for both of ``locate()``'s methods, and where the data have cell types, the share
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
from scipy.spatial import cKDTree

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
    rows = []
    for method in ("regression", "knn"):
        loc = model.locate(method=method, seed=args.seed)
        pred = loc[["x", "y", "z"][: coords.shape[1]]].to_numpy()
        error = np.linalg.norm(pred - truth, axis=1)
        row = {
            "method": f"stcross-{method}",
            "median_error_rel": float(np.median(error) / diagonal),
            "mean_error_rel": float(np.mean(error) / diagonal),
            "sd_error_spearman": float(
                np.corrcoef(np.argsort(np.argsort(loc["sd"])), np.argsort(np.argsort(error)))[0, 1]
            ),
        }
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
    (out / f"location_{args.dataset}.json").write_text(json.dumps(summary, indent=2))
    print(f"{args.dataset}: {len(query)} cells placed against {ref.n_obs}; trained {summary['epochs']} epochs "
          f"in {train_seconds:.1f} s; peak RSS {peak_mib:.0f} MiB")
    for row in rows:
        extra = f"  type agreement (10 nn) {row['type_agreement_10nn']:.3f}" if "type_agreement_10nn" in row else ""
        print(f"  {row['method']:<20} median error / diagonal {row['median_error_rel']:.4f}  "
              f"mean {row['mean_error_rel']:.4f}  sd~error Spearman {row['sd_error_spearman']:.2f}{extra}")


if __name__ == "__main__":
    main()
