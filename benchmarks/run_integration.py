"""Integration benchmark: how joint is stcross's joint latent space?

    python benchmarks/run_integration.py --dataset osmfish|bdtnp|starmap [--seed 0]

Trains the default model on a real pair (osmFISH: Smart-seq SC x osmFISH ST; BDTNP: Drop-seq x
in-situ atlas; STARmap: section 0 as a stand-in SC, its coordinates hidden, against sections 1-2)
and reports, from :mod:`stcross.benchmark.integration`:

- modality mixing (20 nearest neighbours, cosine; 1 mixed, 0 apart) of the latent space
  (``model.latent()``) and of the joint embedding (``model.joint_embedding()``: each modality
  centred, each cell halfway to its cross-modal partners' mean);
- where ST carries cell types (osmFISH, STARmap): the label purity of ST cells' 20 nearest ST
  neighbours in both spaces, next to the same score on the panel genes (log-normalised,
  z-scored per gene: the plain kNN graph a user would build), and for STARmap the purity of the
  stand-in SC cells (their types are known), and the seed paper's location metric: the share of
  the 10 ST cells nearest an SC cell's inferred position that carry its type.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

import stcross
from real_data import RESULTS_DIR, data_dir
from stcross.benchmark.integration import label_purity, mixing_per_cell, modality_mixing

SETTINGS = {
    "osmfish": {"folder": "osmfish_ssctx", "model": {}, "label": "ClusterName", "counts": True},
    "bdtnp": {"folder": "bdtnp_drosophila", "model": {"likelihood_sc": "gaussian", "likelihood_st": "gaussian"},
              "label": None, "counts": False},
    "starmap": {"folder": "starmap_mpfc", "model": {"likelihood_sc": "nb", "likelihood_st": "nb"},
                "label": "cell_type", "counts": True},
}


def load(dataset: str, folder: Path) -> tuple[ad.AnnData, ad.AnnData, np.ndarray | None]:
    """SC, ST, and for STARmap the hidden coordinates of the stand-in SC cells (else None)."""
    st = ad.read_h5ad(folder / "st.h5ad")
    if dataset != "starmap":
        return ad.read_h5ad(folder / "sc.h5ad"), st, None
    sections = st.obs["batch"].astype(str).to_numpy()
    first = sections == sorted(set(sections))[0]
    sc = st[first].copy()
    coordinates = np.asarray(sc.obsm.pop("spatial"))
    return sc, st[~first].copy(), coordinates


def panel_features(st: ad.AnnData, counts: bool) -> np.ndarray:
    """Log-normalised (counts) panel genes, z-scored per gene: the input-space kNN graph's features."""
    x = st.X.toarray() if sp.issparse(st.X) else np.asarray(st.X, dtype=np.float64)
    if counts:
        x = np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1e-12) * 1e4)
    return (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)


def umap_layout(x: np.ndarray, seed: int = 1) -> np.ndarray:
    """2-D UMAP of ``x`` (cosine, 30 neighbours) through R's uwot, as Seurat's RunUMAP draws it."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "x.csv", Path(tmp) / "umap.csv"
        np.savetxt(src, x, delimiter=",")
        script = (f"set.seed({seed}); x <- as.matrix(read.csv('{src}', header = FALSE)); "
                  f"write.table(uwot::umap(x, n_neighbors = 30, metric = 'cosine', min_dist = 0.3), "
                  f"'{dst}', sep = ',', row.names = FALSE, col.names = FALSE)")
        done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"UMAP through R's uwot failed:\n{done.stderr}")
        return np.loadtxt(dst, delimiter=",")


def umap_figure(spaces: dict, st_types, sc_types, path: Path, dataset: str, row: dict) -> None:
    """UMAPs of the latent space and the joint embedding: by modality, and by type where known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_cols = 2 if st_types is not None else 1
    fig, axes = plt.subplots(len(spaces), n_cols, figsize=(4.5 * n_cols, 4.2 * len(spaces)), squeeze=False)
    for (space, (z_sc, z_st)), ax_row in zip(spaces.items(), axes):
        layout = umap_layout(np.vstack([z_sc, z_st]))
        order = np.random.default_rng(0).permutation(len(layout))
        is_st = np.r_[np.zeros(len(z_sc), bool), np.ones(len(z_st), bool)][order]
        ax_row[0].scatter(*layout[order].T, c=np.where(is_st, "#d95f02", "#1b9e77"), s=1, linewidths=0)
        ax_row[0].set_title(f"{dataset}, {space}: SC (green) / ST (orange)\nmixing "
                            f"{row[f'mixing_sc_{space}']:.2f} / {row[f'mixing_st_{space}']:.2f}", fontsize=9)
        if st_types is not None:
            types = np.r_[sc_types if sc_types is not None else np.full(len(z_sc), ""), st_types][order]
            known = types != ""
            codes = np.unique(types[known], return_inverse=True)[1]
            # Up to 60 distinct colours (osmFISH has over 30 types): tab20, tab20b and tab20c.
            palette = np.vstack([plt.get_cmap(name).colors for name in ("tab20", "tab20b", "tab20c")])
            ax_row[1].scatter(*layout[order][known].T, c=palette[codes % len(palette)], s=1, linewidths=0)
            ax_row[1].set_title(f"{dataset}, {space}: cell type" + (" (both sides)" if sc_types is not None else " (ST cells)"),
                                fontsize=9)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(SETTINGS), required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="{}", help='ModelConfig settings as JSON, e.g. \'{"mixing_weight": 1}\'')
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--drop-st-type", default=None,
                        help="remove this cell type from the ST side (STARmap) and report how its SC cells mix")
    parser.add_argument("--figure", action="store_true",
                        help="also draw UMAPs of both spaces by modality and type (needs Rscript with uwot)")
    args = parser.parse_args(argv)
    settings = SETTINGS[args.dataset]
    sc, st, sc_coordinates = load(args.dataset, data_dir(args.data_dir) / settings["folder"])
    if args.drop_st_type is not None:
        if args.dataset != "starmap":
            parser.error("--drop-st-type needs types on both sides: --dataset starmap")
        st = st[st.obs[settings["label"]].astype(str).to_numpy() != args.drop_st_type].copy()
    started = time.perf_counter()
    config = stcross.ModelConfig(**json.loads(args.config))
    model = stcross.CrossModalModel(sc, st, config=config, **settings["model"]).train(seed=args.seed, progress_bar=False)
    spaces = {
        "latent": (model.latent("sc"), model.latent("st")),
        "joint": model.joint_embedding(None),
    }
    row = {"dataset": args.dataset, "config": json.loads(args.config),
           "epochs": len(model.history), "seconds": round(time.perf_counter() - started, 1)}
    labels = st.obs[settings["label"]].astype(str).to_numpy() if settings["label"] else None
    for space, (z_sc, z_st) in spaces.items():
        row[f"mixing_sc_{space}"], row[f"mixing_st_{space}"] = modality_mixing(z_sc, z_st, k=20)
        if labels is not None:
            row[f"st_purity_{space}"] = label_purity(z_st, labels, k=20)
        if args.dataset == "starmap":
            row[f"sc_purity_{space}"] = label_purity(z_sc, sc.obs[settings["label"]].astype(str).to_numpy(), k=20)
    if args.dataset == "starmap":
        # The seed paper's location metric: share of the 10 ST cells nearest an SC cell's
        # inferred position that carry its type (both sides are STARmap cells, so types match by name).
        # Next to it: the same for positions from kNN-10 on the panel genes, and at the cells' own
        # coordinates in their section (what a perfect placement would score).
        tree = cKDTree(np.asarray(st.obsm["spatial"], float)[:, :2])
        sc_labels = sc.obs[settings["label"]].astype(str).to_numpy()
        panel_sc, panel_st = (panel_features(a, settings["counts"]) for a in (sc, st))
        placements = {
            "stcross": model.locate()[["x", "y"]].to_numpy(),
            "panel_knn10": np.asarray(st.obsm["spatial"], float)[cKDTree(panel_st).query(panel_sc, k=10)[1]].mean(1)[:, :2],
            "true_position": np.asarray(sc_coordinates, float)[:, :2],
        }
        for name, positions in placements.items():
            nearest = tree.query(positions, k=10)[1]
            row[f"sc_location_type_agreement_{name}"] = float((labels[nearest] == sc_labels[:, None]).mean())
    if args.drop_st_type is not None:
        # Does a type the ST side lacks stand out? Its SC cells' mixing against the other SC
        # cells', and whether their partner similarity is lower (AUC 0.5: no signal).
        missing = sc.obs[settings["label"]].astype(str).to_numpy() == args.drop_st_type
        row["dropped_st_type"], row["dropped_type_sc_cells"] = args.drop_st_type, int(missing.sum())
        for space, (z_sc, z_st) in spaces.items():
            per_cell = mixing_per_cell(z_sc, z_st, k=20)[0]
            row[f"mixing_sc_{space}_dropped_type"] = float(per_cell[missing].mean())
            row[f"mixing_sc_{space}_other_types"] = float(per_cell[~missing].mean())
        similarity = model.graph.sc_to_st_sim[:, :5].mean(1)
        lower = (similarity[missing][:, None] < similarity[~missing][None, :]).mean()
        ties = (similarity[missing][:, None] == similarity[~missing][None, :]).mean()
        row["partner_similarity_auc_dropped_type_lower"] = float(lower + 0.5 * ties)
    if labels is not None:
        row["st_purity_panel_genes"] = label_purity(panel_features(st, settings["counts"]), labels, k=20)
    if args.dataset == "starmap":
        row["sc_purity_panel_genes"] = label_purity(panel_features(sc, settings["counts"]), sc_labels, k=20)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.drop_st_type is not None:
        (out / f"integration_{args.dataset}_without_st_{args.drop_st_type}.json").write_text(json.dumps(row, indent=2))
        print(json.dumps(row))
        return
    (out / f"integration_{args.dataset}.json").write_text(json.dumps(row, indent=2))
    if args.figure:
        sc_types = sc.obs[settings["label"]].astype(str).to_numpy() if args.dataset == "starmap" else None
        umap_figure(spaces, labels, sc_types, out / f"integration_{args.dataset}.png", args.dataset, row)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
