"""Derive the small example datasets bundled in ``python/stcross/datasets/``.

Run from the repository root (deterministic: the same inputs give the same files)::

    python inst/scripts/make_example_data.py [--data-dir ../shared/data] [--out python/stcross/datasets]

Inputs are the converted public datasets described in ``<data-dir>/*/SOURCE.md``:

- ``osmfish_ssctx/{sc,st}.h5ad`` -> ``osmfish_sc.h5ad``, ``osmfish_st.h5ad``:
  ST = the QC-passed osmFISH cells (``obs.Valid == 1``), a class-stratified random sample of
  2000 of them (proportional allocation over ``ClusterName``, seed 0), keeping ``ClusterName``,
  ``Region`` and ``obsm["spatial"]``; SC = all 1000 Smart-seq cells. 33 genes, raw counts.
- ``bdtnp_drosophila/{sc,st}.h5ad`` -> ``bdtnp_sc.h5ad``, ``bdtnp_st.h5ad``:
  ST = all 3039 positions x 84 genes with 3D coordinates; SC = all 1297 cells restricted to the
  84 panel genes, the 476 novoSpaRc highly variable genes and the most variable remaining genes
  (variance of the log-normalised values) up to 1000 genes in total.

The full description of the derivation lives in ``python/stcross/datasets/SOURCE.md``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "python" / "stcross" / "datasets"

OSMFISH_N_ST = 2000
BDTNP_N_SC_GENES = 1000
SEED = 0


def _write(adata: ad.AnnData, path: Path) -> None:
    adata.write_h5ad(path, compression="gzip", compression_opts=9)
    print(f"wrote {path} {adata.n_obs} x {adata.n_vars} ({path.stat().st_size:,} B)")


def _stratified_sample(labels: pd.Series, n: int, seed: int) -> np.ndarray:
    """Positions of ``n`` items sampled without replacement, proportional to label frequency.

    Allocation uses the largest-remainder rule so the total is exactly ``n``; every label
    keeps at least one item, so rare cell types stay in the example.
    """
    rng = np.random.default_rng(seed)
    counts = labels.value_counts(sort=False).sort_index()
    quota = counts.to_numpy() * n / counts.sum()
    take = np.maximum(np.floor(quota).astype(int), 1)
    remainder = quota - np.floor(quota)
    # Hand out what is left to the largest remainders (stable order for ties).
    for i in np.argsort(-remainder, kind="stable"):
        if take.sum() >= n:
            break
        if take[i] < counts.iloc[i]:
            take[i] += 1
    codes = labels.to_numpy()
    chosen = []
    for label, k in zip(counts.index, take):
        members = np.flatnonzero(codes == label)
        chosen.append(rng.choice(members, size=min(k, members.size), replace=False))
    return np.sort(np.concatenate(chosen))


def _note(text: str, source: str) -> dict:
    return {"note": text, "source": source, "derived_by": "inst/scripts/make_example_data.py"}


def make_osmfish(data_dir: Path, out: Path, *, n_st: int = OSMFISH_N_ST, seed: int = SEED) -> None:
    src = data_dir / "osmfish_ssctx"
    st = ad.read_h5ad(src / "st.h5ad")
    sc = ad.read_h5ad(src / "sc.h5ad")

    valid = st[st.obs["Valid"].to_numpy() == 1]
    labels = valid.obs["ClusterName"].astype(str)
    keep = _stratified_sample(labels, n_st, seed)
    sub = valid[keep]
    obs = pd.DataFrame(
        {
            "ClusterName": pd.Categorical(sub.obs["ClusterName"].astype(str)),
            "Region": pd.Categorical(sub.obs["Region"].astype(str)),
        },
        index=sub.obs_names.astype(str),
    )
    st_out = ad.AnnData(
        X=sp.csr_matrix(np.asarray(sub.X, dtype=np.float32)),
        obs=obs,
        var=pd.DataFrame(index=sub.var_names.astype(str)),
        obsm={"spatial": np.asarray(sub.obsm["spatial"], dtype=np.float32)},
        uns={
            "stcross_example": _note(
                f"osmFISH mouse somatosensory cortex (Codeluppi et al. 2018), raw molecule counts; "
                f"{n_st} of the 4839 QC-passed cells (obs.Valid == 1), stratified by ClusterName, seed {seed}",
                str(st.uns.get("source", "")),
            )
        },
    )
    sc_out = ad.AnnData(
        X=sp.csr_matrix(np.asarray(sc.X, dtype=np.float32)),
        obs=pd.DataFrame(index=sc.obs_names.astype(str)),
        var=pd.DataFrame(index=sc.var_names.astype(str)),
        uns={
            "stcross_example": _note(
                "Allen Institute Smart-seq cells (TISSUE test subset), raw read counts, "
                "the 33 osmFISH genes; all 1000 cells",
                str(sc.uns.get("source", "")),
            )
        },
    )
    _write(sc_out, out / "osmfish_sc.h5ad")
    _write(st_out, out / "osmfish_st.h5ad")


def make_bdtnp(data_dir: Path, out: Path, *, n_genes: int = BDTNP_N_SC_GENES) -> None:
    src = data_dir / "bdtnp_drosophila"
    st = ad.read_h5ad(src / "st.h5ad")
    sc = ad.read_h5ad(src / "sc.h5ad")

    panel = set(st.var_names)
    hvg = sc.var["highly_variable_novosparc"].to_numpy().astype(bool)
    in_panel = sc.var_names.isin(panel)
    X = sp.csc_matrix(sc.X, dtype=np.float64)
    mean = np.asarray(X.mean(axis=0)).ravel()
    var = np.asarray(X.multiply(X).mean(axis=0)).ravel() - mean**2
    chosen = in_panel | hvg
    n_more = max(n_genes - int(chosen.sum()), 0)
    # Rank the rest by variance; ties broken by gene position, so the choice is deterministic.
    rest = np.flatnonzero(~chosen)
    rest = rest[np.lexsort((rest, -var[rest]))][:n_more]
    chosen[rest] = True
    sub = sc[:, chosen]
    sc_out = ad.AnnData(
        X=sp.csr_matrix(sub.X, dtype=np.float32),
        obs=pd.DataFrame(index=sub.obs_names.astype(str)),
        var=pd.DataFrame(
            {
                "in_st_panel": sub.var_names.isin(panel),
                "highly_variable_novosparc": sub.var["highly_variable_novosparc"].to_numpy().astype(bool),
            },
            index=sub.var_names.astype(str),
        ),
        uns={
            "stcross_example": _note(
                "Drosophila stage-6 Drop-seq (Karaiskos et al. 2017), log-normalised (log2(1 + scaled counts)), "
                f"NOT counts; all 1297 cells, {int(chosen.sum())} genes = the 84 BDTNP panel genes + the 476 "
                "novoSpaRc highly variable genes + the most variable other genes",
                str(sc.uns.get("source", "")),
            )
        },
    )
    st_out = ad.AnnData(
        X=np.asarray(st.X, dtype=np.float32),
        obs=pd.DataFrame(index=st.obs_names.astype(str)),
        var=pd.DataFrame(index=st.var_names.astype(str)),
        obsm={"spatial": np.asarray(st.obsm["spatial"], dtype=np.float32)},
        uns={
            "stcross_example": _note(
                "BDTNP virtual in-situ atlas (Fowlkes et al. 2008), continuous intensities, NOT counts; "
                "all 3039 half-embryo positions x 84 genes, 3D coordinates in obsm['spatial']",
                str(st.uns.get("source", "")),
            )
        },
    )
    _write(sc_out, out / "bdtnp_sc.h5ad")
    _write(st_out, out / "bdtnp_st.h5ad")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    make_osmfish(args.data_dir, args.out)
    make_bdtnp(args.data_dir, args.out)


if __name__ == "__main__":
    main()
