"""Location experiment: latent and panel-gene neighbours combined (benchmarks/REPORT.md, "Combining ...").

    python benchmarks/run_location_blend.py --dataset osmfish|bdtnp|starmap

The split and model of ``run_location.py`` (seed 0); then the median error / diagonal of
positions from the latent kNN (``locate()``), from kNN on the panel genes (log-normalised for
counts, Euclidean; raw or z-scored within each modality), from the partner graph, from the joint
embedding, from weighted averages of a latent and a panel-gene position, and the neighbours'
geometric median in place of their mean.
"""
from __future__ import annotations

import argparse

import anndata as ad
import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

import stcross
from stcross.joint_embedding import joint_embedding
from stcross.locate.knn import knn_locations
from stcross.neighbors import softmax_weights, standardize_rows, top_k_similar
from real_data import data_dir
from run_location import SETTINGS, lognorm, split

FOLDERS = {"osmfish": "osmfish_ssctx", "bdtnp": "bdtnp_drosophila", "starmap": "starmap_mpfc"}


def zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    sd[sd == 0] = 1.0
    return (x - x.mean(0)) / sd


def geometric_median(points: np.ndarray, weights: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Weighted geometric median of each row's neighbour positions (Weiszfeld's iteration from the mean)."""
    centre = np.einsum("qk,qkd->qd", weights, points)
    for _ in range(iterations):
        inverse = weights / np.maximum(np.linalg.norm(points - centre[:, None], axis=2), 1e-9)
        centre = np.einsum("qk,qkd->qd", inverse, points) / inverse.sum(1, keepdims=True)
    return centre


class LocationRun:
    """The location benchmark's split of one pair, its model (trained from ``seed``), and the panel
    genes of both sides (log-normalised for counts) for kNN on them."""

    def __init__(self, dataset: str, seed: int = 0):
        settings = SETTINGS[dataset]
        st = ad.read_h5ad(data_dir(None) / FOLDERS[dataset] / "st.h5ad")
        query, reference = split(dataset, st, 0)
        coords = np.asarray(st.obsm["spatial"], float)
        sc_like = st[query].copy()
        del sc_like.obsm["spatial"]
        ref = st[reference].copy()
        counts = settings["likelihood_st"] != "gaussian"
        if counts:
            ref = ref[np.asarray(ref.X.sum(1)).ravel() > 0].copy()
        self.diagonal = float(np.linalg.norm(coords.max(0) - coords.min(0)))
        self.model = stcross.CrossModalModel(
            sc_like, ref, likelihood_sc=settings["likelihood_sc"], likelihood_st=settings["likelihood_st"]
        ).train(seed=seed, progress_bar=False)
        self.truth, self.dims = coords[query], ["x", "y", "z"][: coords.shape[1]]
        self.ref_coords = np.asarray(ref.obsm["spatial"], float)
        self.x_query, self.x_ref = (np.asarray(a.X.toarray() if sp.issparse(a.X) else a.X, float) for a in (sc_like, ref))
        if counts:
            self.x_query, self.x_ref = lognorm(self.x_query), lognorm(self.x_ref)

    def error(self, positions: np.ndarray) -> float:
        """Median distance to the true positions over the bounding box's diagonal."""
        return float(np.median(np.linalg.norm(positions - self.truth, axis=1)) / self.diagonal)

    def panel_knn(self, x_query: np.ndarray, x_ref: np.ndarray, k: int) -> np.ndarray:
        return self.ref_coords[cKDTree(x_ref).query(x_query, k=k)[1]].mean(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(SETTINGS), required=True)
    args = parser.parse_args()
    run = LocationRun(args.dataset)
    model, dims, ref_coords, x_query, x_ref = run.model, run.dims, run.ref_coords, run.x_query, run.x_ref
    panel_knn = run.panel_knn

    def error(positions: np.ndarray) -> float:
        return round(run.error(positions), 4)

    latent = model.locate()[dims].to_numpy()
    panel10, panel5 = panel_knn(x_query, x_ref, 10), panel_knn(x_query, x_ref, 5)
    z_panel5 = panel_knn(zscore(x_query), zscore(x_ref), 5)
    partners5 = ref_coords[model.graph.sc_to_st[:, :5]].mean(1)
    side_by_side = panel_knn(
        np.hstack([zscore(x_query) / np.sqrt(x_query.shape[1]), zscore(model.latent("sc")) / np.sqrt(model.config.n_latent)]),
        np.hstack([zscore(x_ref) / np.sqrt(x_ref.shape[1]), zscore(model.latent("st")) / np.sqrt(model.config.n_latent)]),
        10,
    )
    graph = model.graph
    e_sc, e_st = joint_embedding(model.latent("sc"), model.latent("st"), graph.sc_to_st, graph.st_to_sc)
    joint10 = knn_locations(e_st, ref_coords, e_sc, n_neighbors=10)[0]
    joint5 = knn_locations(e_st, ref_coords, e_sc, n_neighbors=5)[0]
    index, similarity = top_k_similar(standardize_rows(model.latent("sc")), standardize_rows(model.latent("st")), 10)
    latent_median = geometric_median(ref_coords[index], softmax_weights(similarity, inverse_temperature=10.0))
    panel_index = cKDTree(x_ref).query(x_query, k=10)[1]
    panel_median = geometric_median(ref_coords[panel_index], np.full(panel_index.shape, 0.1))
    rows = {
        "latent kNN-10 (locate())": latent,
        "panel kNN-10": panel10,
        "panel kNN-5": panel5,
        "0.3 latent + 0.7 panel kNN-5": 0.3 * latent + 0.7 * panel5,
        "0.5 latent + 0.5 panel kNN-10": 0.5 * latent + 0.5 * panel10,
        "panel kNN-5, z-scored per modality": z_panel5,
        "0.3 latent + 0.7 of that": 0.3 * latent + 0.7 * z_panel5,
        "partner-graph positions (5 partners)": partners5,
        "kNN on latent and z-scored panel side by side": side_by_side,
        "joint embedding kNN-10": joint10,
        "joint embedding kNN-5": joint5,
        "latent kNN-10, weighted geometric median": latent_median,
        "panel kNN-10, geometric median": panel_median,
    }
    print(f"{args.dataset}: median error / diagonal")
    for name, positions in rows.items():
        print(f"  {name:<48} {error(positions)}")


if __name__ == "__main__":
    main()
