"""Small real example datasets bundled with stcross.

Each loader reads the files from disk on every call and returns a fresh ``(adata_sc, adata_st)``
pair, so a user's changes never leak into the next call. How the files were derived from the
published data (and the publications to cite) is in ``SOURCE.md`` next to this file; the files
are rebuilt by ``inst/scripts/make_example_data.py``.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import anndata as ad

__all__ = ["DATASETS", "bdtnp", "load", "osmfish", "path"]

#: Bundled datasets and the model settings that suit them.
DATASETS: dict[str, dict[str, str]] = {
    "osmfish": {
        "description": "osmFISH mouse somatosensory cortex (2000 cells x 33 genes, counts) + 1000 Smart-seq cells",
        "likelihood_sc": "zinb",
        "likelihood_st": "nb",
    },
    "bdtnp": {
        "description": (
            "BDTNP Drosophila embryo in-situ atlas (3039 positions x 84 genes, 3D) + "
            "1297 Drop-seq cells x 1000 genes (log-normalised)"
        ),
        "likelihood_sc": "gaussian",
        "likelihood_st": "gaussian",
    },
}


def path(dataset: str, modality: Literal["sc", "st"]) -> Path:
    """Location of a bundled ``.h5ad`` file.

    Parameters
    ----------
    dataset
        One of ``"osmfish"``, ``"bdtnp"``.
    modality
        ``"sc"`` for the single-cell RNA-seq side, ``"st"`` for the spatial side.

    Returns
    -------
    Path to the file inside the installed package.
    """
    if dataset not in DATASETS:
        msg = f"Unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}."
        raise ValueError(msg)
    if modality not in ("sc", "st"):
        msg = f"modality must be 'sc' or 'st', got {modality!r}."
        raise ValueError(msg)
    file = Path(str(resources.files(__name__).joinpath(f"{dataset}_{modality}.h5ad")))
    if not file.is_file():
        msg = f"Bundled file {file} is missing; reinstall stcross or run inst/scripts/make_example_data.py."
        raise FileNotFoundError(msg)
    return file


def load(dataset: str) -> tuple[ad.AnnData, ad.AnnData]:
    """Load a bundled dataset by name.

    Parameters
    ----------
    dataset
        One of ``"osmfish"``, ``"bdtnp"``.

    Returns
    -------
    ``(adata_sc, adata_st)``, freshly read from disk.
    """
    return ad.read_h5ad(path(dataset, "sc")), ad.read_h5ad(path(dataset, "st"))


def osmfish() -> tuple[ad.AnnData, ad.AnnData]:
    """osmFISH mouse somatosensory cortex with a Smart-seq partner (Codeluppi et al. 2018).

    Returns
    -------
    adata_sc
        1000 Allen Smart-seq cells x 33 genes, raw read counts (sparse ``X``).
    adata_st
        2000 QC-passed osmFISH cells x the same 33 genes, raw molecule counts (sparse ``X``);
        ``obs["ClusterName"]`` (cell type), ``obs["Region"]`` (layer / region) and
        ``obsm["spatial"]`` (2D, pixel units).

    Notes
    -----
    Both sides measure only the 33 panel genes, so this pair serves held-out-gene imputation,
    uncertainty calibration and location recovery, not the imputation of unmeasured genes.
    Counts on both sides: use ``likelihood_sc="zinb"``, ``likelihood_st="nb"``.
    """
    return load("osmfish")


def bdtnp() -> tuple[ad.AnnData, ad.AnnData]:
    """Drosophila stage-6 embryo: BDTNP in-situ atlas with a Drop-seq partner.

    Returns
    -------
    adata_sc
        1297 Drop-seq cells (Karaiskos et al. 2017) x 1000 genes, log-normalised
        (log2(1 + scaled counts), sparse ``X``); ``var["in_st_panel"]`` marks the 84 genes the
        ST panel measured, ``var["highly_variable_novosparc"]`` the 476 novoSpaRc genes.
    adata_st
        3039 positions of the BDTNP virtual embryo (Fowlkes et al. 2008) x 84 genes,
        continuous in-situ intensities; ``obsm["spatial"]`` holds 3D coordinates.

    Notes
    -----
    Neither side holds counts: use ``likelihood_sc="gaussian"``, ``likelihood_st="gaussian"``.
    916 of the SC genes were never measured in situ, which is what imputation is for.
    """
    return load("bdtnp")
