#' Bundled example data as Seurat objects
#'
#' Loads one of the small real datasets shipped with the stcross Python
#' package (`stcross.datasets`) and returns it as two Seurat objects. The data
#' live once, in the Python package; this function converts them.
#'
#' * `"osmfish"`: osmFISH mouse somatosensory cortex (Codeluppi et al. 2018),
#'   2000 cells x 33 genes, raw counts, cell types (`ClusterName`) and regions
#'   (`Region`), 2D coordinates; with 1000 Allen Smart-seq cells on the same 33
#'   genes (raw counts). Both sides measure the same genes: hide some from the
#'   spatial object to impute them. Train with the default likelihoods.
#' * `"bdtnp"`: the BDTNP *Drosophila* embryo in-situ atlas (Fowlkes et al.
#'   2008), 3039 positions x 84 genes, continuous intensities, 3D coordinates;
#'   with 1297 Drop-seq cells x 1000 genes (Karaiskos et al. 2017),
#'   log-normalised. Neither side holds counts: train with
#'   `sc.layer = "data"`, `st.layer = "data"`, `likelihood.sc = "gaussian"`,
#'   `likelihood.st = "gaussian"` and `coords = c("x", "y", "z")`.
#'
#' Integer-valued matrices go into the `counts` layer (and `data`, as Seurat
#' does before normalisation); other values into `data` only. The spatial
#' object's coordinates are stored both as metadata columns `x`, `y` (, `z`)
#' and as an FOV named `"fov"` holding the x/y centroids, so
#' `ImageDimPlot()` and `ImageFeaturePlot()` work.
#'
#' @param dataset `"osmfish"` or `"bdtnp"`.
#' @return A list with Seurat objects `sc` (assay `"RNA"`) and `st` (assay
#'   `"Spatial"`) and `description`, a one-line summary.
#' @examples
#' if (stcross_python_available()) {
#'   data <- LoadStcrossExample("osmfish")
#'   data$st
#'   head(data$st[[]])
#' }
#' @export
LoadStcrossExample <- function(dataset = c("osmfish", "bdtnp")) {
  dataset <- match.arg(dataset)
  stcross <- .stcross()
  datasets <- stcross$datasets
  pair <- .py_call(datasets$load(dataset), sprintf("loading the %s example", dataset))
  description <- reticulate::py_to_r(
    reticulate::py_get_item(reticulate::py_get_item(datasets$DATASETS, dataset), "description")
  )
  sc <- .anndata_to_seurat(reticulate::py_get_item(pair, 0L), assay = "RNA",
                           project = paste0(dataset, "_sc"))
  st <- .anndata_to_seurat(reticulate::py_get_item(pair, 1L), assay = "Spatial",
                           project = paste0(dataset, "_st"), spatial = TRUE)
  list(sc = sc, st = st, description = description)
}

.anndata_to_seurat <- function(adata, assay, project, spatial = FALSE) {
  mods <- .py_modules()
  genes <- .py_strings(adata$var_names)
  cells <- .py_strings(adata$obs_names)
  x <- .py_to_matrix(mods$sparse$csr_matrix(adata$X), genes, cells)
  is_counts <- all(x@x >= 0) && all(x@x == round(x@x))
  # Counts make the assay class the installed SeuratObject creates by default (Assay5 on
  # Seurat 5, Assay on 4); other values go to the data layer of the same class.
  assay_object <- if (is_counts) {
    x
  } else if (.is_seurat_v5()) {
    getExportedValue("SeuratObject", "CreateAssay5Object")(data = x)
  } else {
    SeuratObject::CreateAssayObject(data = x)
  }
  meta <- .py_frame_to_r(adata$obs)
  meta <- as.data.frame(meta)
  rownames(meta) <- cells
  object <- SeuratObject::CreateSeuratObject(counts = assay_object, project = project,
                                             assay = assay)
  if (ncol(meta) > 0L) {
    object <- SeuratObject::AddMetaData(object, metadata = meta)
  }
  if (spatial) {
    coords <- reticulate::py_to_r(
      mods$numpy$asarray(reticulate::py_get_item(adata$obsm, "spatial"), dtype = "float64")
    )
    coords <- .coordinate_matrix(coords, cells, "the example data")
    object <- SeuratObject::AddMetaData(object, metadata = as.data.frame(coords))
    centroids <- SeuratObject::CreateCentroids(
      data.frame(x = coords[, "x"], y = coords[, "y"], cell = cells)
    )
    object[["fov"]] <- SeuratObject::CreateFOV(centroids, type = "centroids", assay = assay,
                                               key = "fov_")
  }
  object
}
