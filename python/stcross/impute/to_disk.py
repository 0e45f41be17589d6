"""Imputation streamed into an ``.h5ad`` file, one block of cells x genes at a time.

Whole-transcriptome output for a large section does not fit in memory (18k genes x 300k
cells is about 22 GB per statistic), so :meth:`stcross.CrossModalModel.impute` with ``out=``
writes each block as soon as it is computed: memory is bounded by one block, whatever
the number of genes. The file is a standard AnnData file (``anndata.read_h5ad``, R's
hdf5r): the statistics are in ``layers``, and ``X`` is an HDF5 link to ``layers/mean``,
not a second copy. :func:`read_imputation` opens it without loading the matrices.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import anndata as ad
import h5py
import numpy as np

from .. import progress
from ..errors import InputError
from .conformal import Calibration
from .predictive import SUMMARY_LAYERS, Predictor

try:  # anndata >= 0.11
    from anndata.io import read_elem
except ImportError:  # pragma: no cover - older anndata
    from anndata.experimental import read_elem

# HDF5 chunks of about 1 MB: rows of a few genes or genes of a few cells both read quickly.
_CHUNK_CELLS, _CHUNK_GENES = 1024, 256


def check_out_path(out, *, overwrite: bool) -> Path:
    """``out`` as a Path to write, refusing an existing file unless ``overwrite``."""
    path = Path(out)
    if path.suffix != ".h5ad":
        msg = f"out= must name an .h5ad file, got {str(out)!r}; e.g. out='imputed.h5ad'."
        raise InputError(msg)
    if path.is_dir():
        msg = f"out={str(out)!r} is a folder; give the path of the .h5ad file to write."
        raise InputError(msg)
    if not path.parent.is_dir():
        msg = f"The folder of out={str(out)!r} does not exist; create {str(path.parent)!r} first."
        raise InputError(msg)
    if path.exists() and not overwrite:
        msg = f"{str(out)!r} exists; pass overwrite=True to replace it, or choose another path."
        raise InputError(msg)
    return path


def write_imputation(
    path: Path,
    frame: ad.AnnData,
    predictor: Predictor,
    positions: np.ndarray,
    *,
    calibration: Calibration | None,
    interval: float,
    n_samples: int,
    seed: int,
    batch_size: int,
    genes_per_chunk: int,
) -> None:
    """Write every ST cell's predictive summaries of the decoder genes ``positions`` to ``path``.

    ``frame`` carries ``obs``, ``var`` (one row per gene), ``obsm`` and ``uns``, and no matrix.
    Genes go ``genes_per_chunk`` at a time, cells ``batch_size`` at a time. With a
    ``calibration``, a gene's interval depends on its mean prediction and P(0) over all
    cells: those are summed while the chunk is written, and the bounds are written in a
    second pass over the chunk's stored mean and sd. The file appears at ``path`` only when
    complete (it is written beside it and renamed).
    """
    n_cells, n_genes = predictor.n_cells, len(positions)
    partial = path.with_name(path.name + ".partial")
    frame.write_h5ad(partial)
    try:
        with h5py.File(partial, "r+") as file:
            layers = file.require_group("layers")
            chunks = (max(1, min(n_cells, _CHUNK_CELLS)), max(1, min(n_genes, _CHUNK_GENES)))
            data = {key: _array_dataset(layers, key, (n_cells, n_genes), chunks) for key in SUMMARY_LAYERS}
            for start in range(0, n_genes, genes_per_chunk):
                columns = slice(start, min(n_genes, start + genes_per_chunk))
                _write_gene_chunk(
                    data, columns, predictor, positions[columns], calibration=calibration, interval=interval,
                    n_samples=n_samples, seed=seed, batch_size=batch_size,
                )
                progress.report("imputing to disk", columns.stop, n_genes)
            file["X"] = h5py.SoftLink("/layers/mean")
        partial.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _array_dataset(group: h5py.Group, name: str, shape: tuple[int, int], chunks: tuple[int, int]) -> h5py.Dataset:
    dataset = group.create_dataset(name, shape=shape, dtype=np.float32, chunks=chunks)
    # What anndata's reader expects of a dense matrix.
    dataset.attrs["encoding-type"] = "array"
    dataset.attrs["encoding-version"] = "0.2.0"
    return dataset


def _write_gene_chunk(data: dict[str, h5py.Dataset], columns: slice, predictor: Predictor, positions: np.ndarray, *,
                      calibration: Calibration | None, interval: float, n_samples: int, seed: int,
                      batch_size: int) -> None:
    written = ("mean", "sd", "p_zero") if calibration is not None else SUMMARY_LAYERS
    level = np.zeros(len(positions))
    zero = np.zeros(len(positions))
    blocks = predictor.blocks(positions, interval=interval, n_samples=n_samples, seed=seed, batch_size=batch_size)
    for rows, block in blocks:
        stored = {key: np.asarray(block[key], np.float32) for key in written}
        for key, values in stored.items():
            data[key][rows, columns] = values
        level += stored["mean"].sum(axis=0, dtype=np.float64)
        zero += stored["p_zero"].sum(axis=0, dtype=np.float64)
    if calibration is None:
        return
    n_cells = predictor.n_cells
    q_lo, q_hi = calibration.gene_quantiles(level / n_cells, zero / n_cells, interval)
    for start in range(0, n_cells, batch_size):
        rows = slice(start, min(n_cells, start + batch_size))
        mean = data["mean"][rows, columns].astype(np.float64)
        sd = data["sd"][rows, columns].astype(np.float64)
        lower, upper = calibration.bounds(mean, sd, q_lo, q_hi)
        data["lower"][rows, columns] = lower.astype(np.float32)
        data["upper"][rows, columns] = upper.astype(np.float32)


def read_imputation(path) -> ad.AnnData:
    """Open an imputation file written by ``impute(out=...)`` without loading its matrices.

    ``obs``, ``var``, ``obsm`` and ``uns`` are read into memory; ``X`` (the predictive mean)
    and the layers ``mean``, ``sd``, ``p_zero``, ``lower``, ``upper`` stay HDF5 datasets read
    on access: ``result[:, ["Gene1"]].layers["sd"]`` reads one gene, and
    ``result[:, genes].to_memory()`` loads a subset. The file stays open (read-only) while
    the result or its datasets are in use.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"No imputation file at {str(path)!r}."
        raise InputError(msg)
    file = h5py.File(path, "r")
    if "layers" not in file or not set(SUMMARY_LAYERS) <= set(file["layers"]):
        file.close()
        msg = f"{str(path)!r} is not an stcross imputation file (its layers lack some of {list(SUMMARY_LAYERS)})."
        raise InputError(msg)
    return ad.AnnData(
        X=file["X"] if "X" in file else None,
        obs=read_elem(file["obs"]),
        var=read_elem(file["var"]),
        obsm=read_elem(file["obsm"]) if "obsm" in file else None,
        uns=read_elem(file["uns"]) if "uns" in file else None,
        layers={key: file["layers"][key] for key in file["layers"]},
    )
