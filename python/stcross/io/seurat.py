"""Seurat ``.rds`` files to AnnData and stcross results back into them, through rpy2.

Reading and writing use the R package's own code (see :mod:`stcross.io.r_session`): the
layers, FOVs and result layouts of Seurat 4 and 5 are handled exactly as the R verbs
handle them.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError, InputFileExistsError, InputFileNotFoundError
from ..threads import DEFAULT_THREADS
from .r_session import RSession, r_session

# The R name of each statistic (ImputeStcross()'s), from the AnnData layer names of impute().
STATISTICS = {"mean": "mean", "sd": "sd", "lower": "lower", "upper": "upper", "p.zero": "p_zero"}


def read_seurat(
    path: str | Path, *, assay: str | None = None, layer: str = "counts", coords=None, fov: str | None = None
) -> ad.AnnData:
    """Read one assay layer of a Seurat object saved with ``saveRDS()`` as AnnData.

    Parameters
    ----------
    path
        The ``.rds`` file (Seurat 4 or 5; a Seurat 5 object needs SeuratObject 5 in the R
        that rpy2 runs).
    assay
        Assay to read; ``None`` for the object's ``DefaultAssay``.
    layer
        Layer (Seurat 5) or slot (Seurat 4): ``"counts"`` for raw counts, ``"data"`` for
        log-normalised values. Layers split by sample are joined.
    coords
        Spatial coordinates: ``None`` reads the first FOV (centroids) when the object has
        one; or names of 2-3 metadata columns, e.g. ``["x", "y"]``.
    fov
        The FOV (image) to read the coordinates from; ``None`` takes the first.

    Returns
    -------
    AnnData of cells x genes with the layer as sparse CSR ``X`` (float64), the object's
    metadata as ``obs``, coordinates (if any) in ``obsm["spatial"]`` and
    ``uns["seurat"]`` saying what was read.
    """
    r = r_session()
    path = _existing_rds(path)
    obj = _read_rds(r, path)
    matrix = r.call("as_dgc", r.call(".assay_matrix", obj, assay, layer, "Seurat"))
    genes = r.to_str(r.r("rownames")(matrix))
    cells = r.to_str(r.r("colnames")(matrix))
    csc = sp.csc_matrix(
        (
            r.to_numpy(matrix.do_slot("x"), np.float64),
            r.to_numpy(matrix.do_slot("i"), np.int32),
            r.to_numpy(matrix.do_slot("p"), np.int32),
        ),
        shape=(len(genes), len(cells)),
    )
    adata = ad.AnnData(
        X=csc.T.tocsr(),
        obs=_metadata(r, obj, cells),
        var=pd.DataFrame(index=pd.Index(genes, dtype=object)),
    )
    has_images = r.r("function(o) length(SeuratObject::Images(o)) > 0")(obj)[0]
    if coords is not None or fov is not None or has_images:
        xy = r.call(".seurat_coordinates", obj, coords=_str_or_list(r, coords), fov=fov)
        adata.obsm["spatial"] = r.to_numpy(xy, np.float64).reshape(len(cells), -1, order="F")
    used_assay = assay or r.r("SeuratObject::DefaultAssay")(obj)[0]
    adata.uns["seurat"] = {
        "path": str(path),
        "assay": used_assay,
        "layer": layer,
        "seurat_object_version": r.seurat_object_version,
    }
    return adata


def write_seurat(
    path: str | Path,
    source: str | Path,
    *,
    imputed: ad.AnnData | None = None,
    locations: pd.DataFrame | None = None,
    model=None,
    new_assay_name: str = "imputed",
    one_assay: bool | None = None,
    location_reduction: str = "stcross.location",
    embedding_reduction: str = "stcross",
    joint: bool = True,
    overwrite: bool = False,
    threads: int | None = DEFAULT_THREADS,
) -> Path:
    """Add stcross results to the Seurat object in ``source`` and save it as ``path``.

    What is written is what the R verbs write (the same code writes it):

    - ``imputed`` (from ``model.impute()``, ST objects): as ``ImputeStcross()``; on
      SeuratObject 5 one assay ``new_assay_name`` with layers ``data`` (the mean), ``sd``,
      ``lower``, ``upper``, ``p.zero``; on 4 one assay per statistic (``imputed``,
      ``imputed.sd``, ...). ``one_assay`` overrides the version's default.
    - ``locations`` (from ``model.locate()``, SC objects): as ``LocateStcross()``, metadata
      columns ``stcross_x``, ``stcross_y`` (``_z``), ``stcross_location_sd`` and the
      DimReduc ``location_reduction``.
    - ``model``: as ``EmbedStcross()``, the joint embedding (``model.joint_embedding()``; with
      ``joint=False`` the raw ``model.latent()``) of the object's cells (SC or ST, told apart
      by cell names) as the DimReduc ``embedding_reduction``.

    Unlike the R verbs, nothing is added to the object's command log. ``source`` is left
    as it is.
    """
    r = r_session()
    source = _existing_rds(source)
    path = Path(path)
    if path.suffix.lower() != ".rds":
        msg = f"write_seurat() writes an .rds file; {path} does not end in .rds."
        raise InputError(msg)
    if path.exists() and not overwrite:
        msg = f"{path} exists; pass overwrite=True to replace it."
        raise InputFileExistsError(msg)
    if imputed is None and locations is None and model is None:
        msg = "Nothing to write: give imputed=, locations= and/or model=."
        raise InputError(msg)
    obj = _read_rds(r, source)
    cells = r.to_str(r.r("colnames")(obj))
    default_assay = r.r("SeuratObject::DefaultAssay")(obj)[0]
    if imputed is not None:
        obj = _add_imputation(r, obj, cells, imputed, new_assay_name, one_assay)
    if locations is not None:
        _check_cells(cells, locations.index, "locations")
        # (cells x columns) transposed is C-ordered columns x cells: column-major cells x columns.
        table = r.call(
            "as_frame", r.doubles(locations.to_numpy(dtype=np.float64).T), len(locations),
            r.strings(locations.index), r.strings(locations.columns),
        )
        method = locations.attrs.get("method")  # set by model.locate()
        obj = r.call(
            ".write_location", obj, table, method=method, reduction_name=location_reduction,
            reduction_key="STCROSSLOC_", meta_prefix="stcross", assay=default_assay,
        )
    if model is not None:
        modality = _modality_of(model, cells)
        if not isinstance(joint, bool):
            msg = f"joint must be True (the joint embedding) or False (the raw latent space), got {joint!r}."
            raise InputError(msg)
        latent = (model.joint_embedding if joint else model.latent)(modality, threads=threads)
        model_cells = model.sc_cells if modality == "sc" else model.st_cells
        # cells x dims in C order is column-major dims x cells: build that, then transpose in R.
        z = r.r["t"](r.call("as_matrix", r.doubles(latent), latent.shape[1], None, r.strings(model_cells)))
        obj = r.call(
            ".write_embedding", obj, z, modality=modality, reduction_name=embedding_reduction,
            reduction_key="STCROSS_", assay=default_assay, joint=joint,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    r.r["saveRDS"](obj, str(path))
    return path


def _add_imputation(r: RSession, obj, cells: list[str], imputed: ad.AnnData, name: str, one_assay):
    _check_cells(cells, imputed.obs_names, "imputed")
    if not isinstance(name, str) or not name:
        msg = "new_assay_name must be a non-empty string."
        raise InputError(msg)
    missing = [layer for layer in STATISTICS.values() if layer not in imputed.layers]
    if missing:
        msg = f"imputed lacks the layers {missing}: pass the AnnData that model.impute() returned."
        raise InputError(msg)
    v5 = _is_v5(r)
    one_assay = v5 if one_assay is None else bool(one_assay)
    if one_assay and not v5:
        msg = f"one_assay=True needs SeuratObject 5 (layers); the R in reach has {r.seurat_object_version}."
        raise InputError(msg)
    genes = r.strings(imputed.var_names)
    rows = r.strings(imputed.obs_names)
    result = {
        statistic: _features_by_cells(r, imputed.layers[layer], genes, rows)
        for statistic, layer in STATISTICS.items()
    }
    result["info"] = r.to_r(dict(imputed.uns.get("stcross", {})))
    # Assay names as ImputeStcross() makes them by default (used by the Seurat 4 layout).
    suffixes = r.fn(".v4_suffixes")
    names = {statistic: name + suffix for statistic, suffix in zip(r.to_str(suffixes.names), r.to_str(suffixes))}
    return r.call(
        ".write_imputation", obj, r.ro.ListVector(result), r.to_r(names), one_assay=one_assay
    )


def _features_by_cells(r: RSession, values, genes, cells):
    """A cells x genes array as R's genes x cells matrix (one copy, no transpose in Python)."""
    values = values.toarray() if sp.issparse(values) else np.asarray(values)
    # C-ordered cells x genes is column-major genes x cells: exactly R's layout.
    return r.call("as_matrix", r.doubles(values), values.shape[1], genes, cells)


def _is_v5(r: RSession) -> bool:
    return bool(r.fn(".is_seurat_v5")()[0])


def _modality_of(model, cells: list[str]) -> str:
    wanted = set(cells)
    for modality, model_cells in (("sc", model.sc_cells), ("st", model.st_cells)):
        if set(model_cells) == wanted:
            return modality
    msg = (
        "The object's cells are neither the SC nor the ST cells the model was trained on; "
        "write the embedding into the objects the model was trained on."
    )
    raise InputError(msg)


def _check_cells(cells: list[str], given, what: str) -> None:
    absent = sorted(set(cells) - set(map(str, given)))
    if absent:
        msg = (
            f"{what} lacks {len(absent)} of the object's {len(cells)} cells (e.g. {absent[:3]}): "
            "give results for the cells of this object."
        )
        raise InputError(msg)


def _existing_rds(path) -> Path:
    path = Path(path)
    if not path.is_file():
        msg = f"No .rds file at {path}."
        raise InputFileNotFoundError(msg)
    return path


def _read_rds(r: RSession, path: Path):
    """The Seurat object in an .rds file, with cells to work on."""
    try:
        obj = r.r["readRDS"](str(path))
    except r.RRuntimeError as err:
        msg = f"Could not read {path} with readRDS(): {str(err).strip()}"
        raise InputError(msg) from err
    kind = r.r("function(o) if (inherits(o, 'Seurat')) '' else paste(class(o), collapse = '/')")(obj)[0]
    if kind:
        msg = f"{path} holds an R {kind}, not a Seurat object."
        raise InputError(msg)
    r.call(".check_seurat", obj, "Seurat")  # e.g. no cells
    return obj


def _str_or_list(r: RSession, coords):
    if coords is None:
        return None
    if isinstance(coords, str):
        coords = [coords]
    return r.strings(coords)


def _metadata(r: RSession, obj, cells: list[str]) -> pd.DataFrame:
    """The object's cell metadata (``obj[[]]``) as a DataFrame, column by column."""
    frame = r.r("function(o) o[[]]")(obj)
    rows = r.to_str(r.r("rownames")(frame))
    columns = {}
    for name in r.to_str(r.r("function(f) as.character(names(f))")(frame)):
        column = r.call("column", frame, name)
        kind = column.rx2("kind")[0]
        values = column.rx2("values")
        if kind == "factor":
            codes = r.to_numpy(values, np.int64)
            codes = np.where(codes == np.iinfo(np.int32).min, -1, codes - 1)
            columns[name] = pd.Categorical.from_codes(codes, categories=r.to_str(column.rx2("levels")))
        elif kind in ("integer", "logical"):
            ints = r.to_numpy(values, np.int64)
            na = ints == np.iinfo(np.int32).min
            if kind == "logical":
                columns[name] = pd.array(np.where(na, None, ints.astype(bool)), dtype="boolean")
            elif na.any():
                columns[name] = pd.array(np.where(na, None, ints), dtype="Int64")
            else:
                columns[name] = ints
        elif kind == "double":
            columns[name] = r.to_numpy(values, np.float64)
        else:
            columns[name] = r.to_str(values)
    table = pd.DataFrame(columns, index=pd.Index(rows, dtype=object))
    return table.loc[cells] if rows != cells else table
