"""Integration benchmark: how joint is stcross's joint latent space?

    python benchmarks/run_integration.py --dataset osmfish|bdtnp|starmap [--seed 0]

Trains the default model on a real pair (osmFISH: Smart-seq SC x osmFISH ST; BDTNP: Drop-seq x
in-situ atlas; STARmap: section 0 as a stand-in SC, its coordinates hidden, against sections 1-2)
and reports, from :mod:`stcross.benchmark.integration`:

- modality mixing of the SC and ST latents (20 nearest neighbours, cosine; 1 mixed, 0 apart);
- where ST carries cell types (osmFISH, STARmap): the label purity of ST cells' 20 nearest ST
  neighbours in the latent space, next to the same score on the panel genes (log-normalised,
  z-scored per gene: the plain kNN graph a user would build), and for STARmap the purity of the
  stand-in SC cells in the joint space (their types are known).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

import stcross
from real_data import RESULTS_DIR, data_dir
from stcross.benchmark.integration import label_purity, modality_mixing

SETTINGS = {
    "osmfish": {"folder": "osmfish_ssctx", "model": {}, "label": "ClusterName", "counts": True},
    "bdtnp": {"folder": "bdtnp_drosophila", "model": {"likelihood_sc": "gaussian", "likelihood_st": "gaussian"},
              "label": None, "counts": False},
    "starmap": {"folder": "starmap_mpfc", "model": {"likelihood_sc": "nb", "likelihood_st": "nb"},
                "label": "cell_type", "counts": True},
}


def load(dataset: str, folder: Path) -> tuple[ad.AnnData, ad.AnnData]:
    st = ad.read_h5ad(folder / "st.h5ad")
    if dataset != "starmap":
        return ad.read_h5ad(folder / "sc.h5ad"), st
    sections = st.obs["batch"].astype(str).to_numpy()
    first = sections == sorted(set(sections))[0]
    sc = st[first].copy()
    del sc.obsm["spatial"]
    return sc, st[~first].copy()


def panel_features(st: ad.AnnData, counts: bool) -> np.ndarray:
    """Log-normalised (counts) panel genes, z-scored per gene: the input-space kNN graph's features."""
    x = st.X.toarray() if sp.issparse(st.X) else np.asarray(st.X, dtype=np.float64)
    if counts:
        x = np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1e-12) * 1e4)
    return (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(SETTINGS), required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="{}", help='ModelConfig settings as JSON, e.g. \'{"mixing_weight": 1}\'')
    parser.add_argument("--out", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    settings = SETTINGS[args.dataset]
    sc, st = load(args.dataset, data_dir(args.data_dir) / settings["folder"])
    started = time.perf_counter()
    config = stcross.ModelConfig(**json.loads(args.config))
    model = stcross.CrossModalModel(sc, st, config=config, **settings["model"]).train(seed=args.seed, progress_bar=False)
    z_sc, z_st = model.latent("sc"), model.latent("st")
    mixing_sc, mixing_st = modality_mixing(z_sc, z_st, k=20)
    row = {"dataset": args.dataset, "config": json.loads(args.config), "mixing_sc": mixing_sc, "mixing_st": mixing_st,
           "epochs": len(model.history), "seconds": round(time.perf_counter() - started, 1)}
    if settings["label"]:
        labels = st.obs[settings["label"]].astype(str).to_numpy()
        row["st_purity_latent"] = label_purity(z_st, labels, k=20)
        row["st_purity_panel_genes"] = label_purity(panel_features(st, settings["counts"]), labels, k=20)
        if args.dataset == "starmap":
            sc_labels = sc.obs[settings["label"]].astype(str).to_numpy()
            row["sc_purity_latent"] = label_purity(z_sc, sc_labels, k=20)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"integration_{args.dataset}.json").write_text(json.dumps(row, indent=2))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
