"""Validation of the user's AnnData objects and the gene plan.

Everything here reads the inputs and returns new arrays; nothing writes to the user's objects.
"""
from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import InputError, InputKeyError, InputTypeError
from .likelihoods import get_likelihood

logger = logging.getLogger("stcross")

# Partners are found by correlating cells over the shared genes: over one gene every
# centred profile is zero, over two every correlation is +1 or -1.
MIN_SHARED_GENES = 3
# Training holds cells out and contrasts each cell with others of its modality.
MIN_CELLS = 2
# Rows (or, for CSC, columns) read at a time from an on-disk (backed) sparse matrix.
_BACKED_CHUNK = 10_000


@dataclass(frozen=True)
class GenePlan:
    """Which genes play which role.

    Attributes
    ----------
    shared
        ST panel genes also measured in SC, in ST order: alignment features and ST targets.
    decoder
        Genes the decoder predicts, in SC order: every imputable gene plus the shared ones.
    imputable
        Genes :meth:`~stcross.CrossModalModel.impute` may return.
    st_names
        Each shared gene's name in the ST object (differs only under case-insensitive matching).
    """

    shared: list[str]
    decoder: list[str]
    imputable: list[str]
    st_names: dict[str, str]


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


def _case_map(names: pd.Index, role: str) -> dict[str, str]:
    upper = pd.Series(names, index=names.str.upper())
    clashes = upper.index[upper.index.duplicated()].unique()
    if len(clashes):
        _fail(
            f"case-insensitive matching is ambiguous: adata_{role} has genes differing only by case "
            f"(e.g. {upper.loc[clashes[0]].tolist()}). Rename them or match names exactly."
        )
    return dict(zip(upper.index, upper.to_numpy()))


def plan_genes(sc_genes: pd.Index, st_genes: pd.Index, genes=None, *, case_insensitive: bool = False) -> GenePlan:
    """Match the ST panel to the SC genes and decide the imputable genes.

    Exact matching by default. ``case_insensitive=True`` matches upper-cased names and
    reports the names in the SC spelling.
    """
    if case_insensitive:
        sc_by_key, st_by_key = _case_map(sc_genes, "sc"), _case_map(st_genes, "st")
        st_keys = [str(g).upper() for g in st_genes]
        shared = [sc_by_key[k] for k in st_keys if k in sc_by_key]
        st_names = {sc_by_key[k]: st_by_key[k] for k in st_keys if k in sc_by_key}
        renamed = {sc: st for sc, st in st_names.items() if sc != st}
        if renamed:
            logger.info("Matched %d ST genes to SC genes ignoring case, e.g. %s.", len(renamed), list(renamed.items())[:3])
    else:
        sc_set = set(sc_genes)
        shared = [g for g in st_genes if g in sc_set]
        st_names = {g: g for g in shared}
    hint = ""
    if not case_insensitive and len(set(map(str.upper, sc_genes)) & set(map(str.upper, st_genes))) > len(shared):
        hint = " More names match when case is ignored: pass case_insensitive=True to match them."
    if not shared:
        _fail(
            "No shared genes: none of the ST panel genes is among the SC genes "
            f"(ST e.g. {[str(g) for g in st_genes[:3]]}, SC e.g. {[str(g) for g in sc_genes[:3]]}).{hint}"
        )
    if len(shared) < MIN_SHARED_GENES:
        _fail(
            f"Only {len(shared)} shared gene{'s' if len(shared) > 1 else ''} between the ST panel and the SC data "
            f"({[str(g) for g in shared]}); stcross needs at least {MIN_SHARED_GENES}. Cells of the two modalities "
            "are paired by correlating their profiles over the shared genes, and over fewer than 3 genes every "
            "correlation is 0 or +-1, so every cell would get arbitrary partners. Check that both objects name "
            f"genes the same way (symbols vs IDs), or use data with more genes in common.{hint}"
        )
    missing_st = len(st_genes) - len(shared)
    if missing_st:
        logger.warning(
            "%d of %d ST genes are not in the SC data and are left out of training and alignment.",
            missing_st,
            len(st_genes),
        )
    if not case_insensitive:
        lower_hits = set(map(str.upper, sc_genes)) & {str(g).upper() for g in st_genes if g not in set(shared)}
        if lower_hits:
            logger.warning(
                "%d ST genes match SC genes only when case is ignored (e.g. %s); pass case_insensitive=True "
                "to use them.",
                len(lower_hits),
                sorted(lower_hits)[:3],
            )
    if genes is None:
        imputable = list(sc_genes)
    else:
        imputable = lookup_genes(
            genes, sc_genes, case_insensitive=case_insensitive,
            empty="genes= is empty; pass None to impute every SC gene or a list of SC gene names.",
            absent="{n} requested genes are not in the SC data, e.g. {examples}; only SC genes can be imputed.",
        )
    keep = set(imputable) | set(shared)
    decoder = [g for g in sc_genes if g in keep]
    return GenePlan(
        shared=shared, decoder=decoder, imputable=imputable, st_names=st_names
    )


def lookup_genes(genes, names, *, case_insensitive: bool, empty: str, absent: str) -> list[str]:
    """The requested ``genes`` as spelled in ``names`` (ignoring case when asked), each once, in request order.

    ``empty`` is the error for an empty request; ``absent`` the error (a format string with
    ``{n}`` and ``{examples}``) for genes not among ``names``.
    """
    requested = [genes] if isinstance(genes, str) else list(genes)
    if not requested:
        _fail(empty)
    key = (lambda g: str(g).upper()) if case_insensitive else (lambda g: g)
    lookup = {key(g): g for g in names}
    missing = [g for g in requested if key(g) not in lookup]
    if missing:
        _fail(absent.format(n=len(missing), examples=[str(g) for g in missing[:5]]))
    return list(dict.fromkeys(lookup[key(g)] for g in requested))


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
