"""Validation of the user's AnnData objects: structure, expression values, coordinates, argument types.

Everything here reads the inputs and returns new arrays; nothing writes to the user's objects.
"""
from __future__ import annotations

import logging
import numbers

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError, InputKeyError, InputTypeError
from ..likelihoods import get_likelihood

logger = logging.getLogger("stcross")

# Training holds cells out and contrasts each cell with others of its modality.
MIN_CELLS = 2
# Rows (or, for CSC, columns) read at a time from an on-disk (backed) sparse matrix.
_BACKED_CHUNK = 10_000
# Values (rows x columns) read at a time from an on-disk dense matrix: 80 MB in float32.
_BACKED_DENSE_VALUES = 20_000_000


def _fail(msg: str, kind: type[Exception] = InputError) -> None:
    raise kind(msg)


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as a Python int; it must be a non-negative integer (``None`` is refused, not randomised)."""
    return check_non_negative_int(seed, name, "pass an integer such as 0 for reproducible results")


def check_non_negative_int(value, name: str, hint: str) -> int:
    """``value`` as a Python int, or an error naming ``name`` when it is not an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__}); {hint}.", InputTypeError)
    if value < 0:
        _fail(f"{name} must be a non-negative integer, got {value}; {hint}.")
    return int(value)


def check_positive_int(value, name: str) -> int:
    """``value`` as a Python int, or an error naming ``name`` when it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        _fail(f"{name} must be a positive integer, got {value!r}.", InputTypeError if not isinstance(value, numbers.Integral) else InputError)
    return int(value)


def _check_gene_names(names: pd.Index, role: str) -> None:
    # Not converted silently: numeric names usually mean the gene names were lost (a RangeIndex),
    # and as text "0", "1", ... they would match nothing, or the wrong genes of the other object.
    if pd.api.types.infer_dtype(names, skipna=False) == "string":
        return
    bad = [g for g in names if not isinstance(g, str)]
    _fail(
        f"adata_{role}.var_names must be gene names (strings), but {len(bad)} of {len(names)} are not, "
        f"e.g. {', '.join(f'{g!r} ({type(g).__name__})' for g in bad[:3])}. Put the gene names in var_names "
        f"of a copy, or, if these are the names, convert them explicitly: "
        f"`a = adata_{role}.copy(); a.var_names = a.var_names.astype(str)`.",
        InputTypeError,
    )


def check_anndata(adata, role: str) -> None:
    """Structural checks shared by both modalities."""
    if not all(hasattr(adata, attr) for attr in ("X", "obs_names", "var_names", "layers")):
        _fail(f"adata_{role} must be an AnnData object, got {type(adata).__name__}.", InputTypeError)
    if adata.n_obs == 0 or adata.n_vars == 0:
        _fail(f"adata_{role} is empty ({adata.n_obs} cells x {adata.n_vars} genes); pass a non-empty AnnData.")
    if adata.n_obs < MIN_CELLS:
        _fail(
            f"adata_{role} has {adata.n_obs} cell; stcross needs at least {MIN_CELLS} cells per modality "
            "(training contrasts each cell with the others, and ST cells borrow context from spatial "
            "neighbours). Pass more cells."
        )
    _check_gene_names(adata.var_names, role)
    for axis, names in (("cell", adata.obs_names), ("gene", adata.var_names)):
        if not names.is_unique:
            dupes = names[names.duplicated()].unique()[:5].tolist()
            fix = "obs_names_make_unique()" if axis == "cell" else "var_names_make_unique()"
            _fail(
                f"adata_{role} has duplicated {axis} names (e.g. {dupes}). Make them unique on a copy, "
                f"e.g. `a = adata_{role}.copy(); a.{fix}`, or remove the duplicates."
            )


def expression_matrix(adata, layer: str | None, role: str, likelihood: str) -> sp.csr_matrix:
    """The chosen layer as a new float32 CSR matrix, with value checks for the likelihood."""
    observation = get_likelihood(likelihood, role)
    if layer is None:
        x = adata.X
        where = f"adata_{role}.X"
    else:
        if layer not in adata.layers:
            _fail(f"adata_{role} has no layer {layer!r}; available layers: {list(adata.layers.keys())}.", InputKeyError)
        x = adata.layers[layer]
        where = f"adata_{role}.layers[{layer!r}]"
    if x is None:
        _fail(f"{where} is empty (None); store the expression matrix there or choose another layer.")
    if _is_backed_sparse(x):
        x = _read_backed_sparse(x)
    elif isinstance(x, h5py.Dataset):
        x = _read_backed_dense(x, where)
    if sp.issparse(x):
        matrix = sp.csr_matrix(x, dtype=np.float32, copy=True)
        values = matrix.data
    else:
        dense = np.asarray(x)
        if not np.issubdtype(dense.dtype, np.number) or np.issubdtype(dense.dtype, np.complexfloating):
            _fail(f"{where} must be numeric, got dtype {dense.dtype}.", InputTypeError)
        matrix = sp.csr_matrix(dense.astype(np.float32))
        values = matrix.data
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    values = matrix.data
    if not np.all(np.isfinite(values)):
        bad = int((~np.isfinite(values)).sum())
        _fail(f"{where} has {bad} NaN or infinite values; remove or impute them before training.")
    matrix.data = observation.check_values(values, where, role)
    return matrix


def _is_backed_sparse(x) -> bool:
    """An on-disk sparse matrix of a backed AnnData (``read_h5ad(..., backed="r")``)."""
    return not sp.issparse(x) and getattr(x, "format", None) in ("csr", "csc") and hasattr(x, "to_memory")


def _read_backed_sparse(x) -> sp.csr_matrix:
    """Read an on-disk sparse matrix into memory as float32 CSR, one block of rows (CSR) or columns (CSC) at a time.

    Converting block by block keeps the peak at the float32 copy plus one block in the stored dtype.
    """
    n_rows, n_cols = x.shape
    if x.format == "csr":
        starts = range(0, n_rows, _BACKED_CHUNK)
        return sp.vstack([sp.csr_matrix(x[s : s + _BACKED_CHUNK], dtype=np.float32) for s in starts], format="csr")
    starts = range(0, n_cols, _BACKED_CHUNK)
    return sp.hstack([sp.csc_matrix(x[:, s : s + _BACKED_CHUNK], dtype=np.float32) for s in starts], format="csr")


def _read_backed_dense(x: h5py.Dataset, where: str) -> sp.csr_matrix:
    """Read an on-disk dense matrix as float32 CSR, a block of rows at a time.

    Only one block is ever dense in memory (about ``_BACKED_DENSE_VALUES`` values), so a
    large, mostly-zero matrix costs its non-zeros, not cells x genes.
    """
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        _fail(f"{where} must be numeric, got dtype {x.dtype}.", InputTypeError)
    n_rows, n_cols = x.shape
    step = max(1, _BACKED_DENSE_VALUES // max(1, n_cols))
    blocks = [sp.csr_matrix(np.asarray(x[s : s + step], dtype=np.float32)) for s in range(0, n_rows, step)]
    return sp.vstack(blocks, format="csr")


def coordinates(adata, spatial_key: str) -> np.ndarray:
    """ST coordinates as a float64 (n_cells, 2 or 3) array."""
    if spatial_key not in adata.obsm:
        _fail(
            f"adata_st.obsm has no {spatial_key!r} coordinates (obsm keys: {list(adata.obsm.keys())}). "
            "Store an (n_cells, 2) or (n_cells, 3) array there or pass spatial_key=."
        )
    raw = adata.obsm[spatial_key]
    raw = raw.to_numpy() if isinstance(raw, pd.DataFrame) else np.asarray(raw)
    try:
        coords = raw.astype(np.float64)
    except (TypeError, ValueError):
        _fail(f"adata_st.obsm[{spatial_key!r}] must be numeric, got dtype {raw.dtype}.", InputTypeError)
    if coords.ndim != 2 or coords.shape[0] != adata.n_obs or coords.shape[1] not in (2, 3):
        _fail(
            f"adata_st.obsm[{spatial_key!r}] has shape {coords.shape}; expected ({adata.n_obs}, 2) or "
            f"({adata.n_obs}, 3): one row of x, y[, z] per ST cell."
        )
    if not np.all(np.isfinite(coords)):
        _fail(f"adata_st.obsm[{spatial_key!r}] has NaN or infinite coordinates; fix or drop those cells.")
    return coords


def warn_empty(matrix: sp.csr_matrix, role: str, what: str, likelihood: str) -> None:
    """Log (not fail) all-zero cells and genes: they are kept, and their predictions follow from that."""
    cells = int((np.diff(matrix.indptr) == 0).sum())
    genes = int(matrix.shape[1] - np.unique(matrix.indices).size)
    counts = get_likelihood(likelihood, role).is_count
    if cells:
        logger.warning(
            "%d %s cells have %s on the %s; they are kept and placed by their partners%s.",
            cells,
            role.upper(),
            "no counts" if counts else "only zeros",
            what,
            ", and imputed as zero (a zero library size)" if counts else "",
        )
    if genes:
        logger.warning("%d %s genes are zero in every cell; they are kept and will be imputed near zero.", genes, role.upper())
