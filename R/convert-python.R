# Conversions between R matrices and Python (AnnData, numpy, scipy).
# R keeps features x cells (Seurat's orientation); Python wants cells x genes.
# Transposes happen on the Python side, where `.T` is a free view.

.py_modules <- function() {
  list(
    anndata = reticulate::import("anndata", convert = FALSE),
    numpy = reticulate::import("numpy", convert = FALSE),
    pandas = reticulate::import("pandas", convert = FALSE),
    sparse = reticulate::import("scipy.sparse", convert = FALSE)
  )
}

# A character vector as a Python list, also when it has length 1.
.py_list <- function(x) {
  reticulate::r_to_py(as.list(as.character(x)))
}

# A features x cells matrix (sparse or dense) in R as a cells x genes matrix in
# Python. A dgCMatrix crosses as scipy CSC (no copy to dense); its transpose is CSR.
.matrix_to_py <- function(x, what) {
  if (inherits(x, "sparseMatrix")) {
    if (!methods::is(x, "dgCMatrix")) {
      x <- tryCatch(
        methods::as(methods::as(methods::as(x, "CsparseMatrix"), "generalMatrix"), "dMatrix"),
        error = function(e) stop(sprintf("Cannot convert %s (%s) to a dgCMatrix: %s",
                                         what, class(x)[1], conditionMessage(e)), call. = FALSE)
      )
    }
    return(reticulate::r_to_py(x)$T)
  }
  if (is.data.frame(x)) {
    x <- as.matrix(x)
  }
  if (!is.matrix(x) || !(is.numeric(x) || is.logical(x))) {
    stop(sprintf(
      "%s must be a numeric matrix or a sparse Matrix (features x cells), not %s.",
      what, paste(class(x), collapse = "/")
    ), call. = FALSE)
  }
  if (is.logical(x)) {
    storage.mode(x) <- "integer"
  }
  # A dense R matrix arrives as a Fortran-ordered array: its transpose is C-ordered.
  .py_modules()$numpy$asarray(x)$T
}

# Build an AnnData (cells x genes) in Python from a features x cells matrix.
.as_anndata <- function(x, coords = NULL, what) {
  mods <- .py_modules()
  obs <- mods$pandas$DataFrame(index = mods$pandas$Index(.py_list(colnames(x)), dtype = "object"))
  var <- mods$pandas$DataFrame(index = mods$pandas$Index(.py_list(rownames(x)), dtype = "object"))
  adata <- mods$anndata$AnnData(X = .matrix_to_py(x, what), obs = obs, var = var)
  if (!is.null(coords)) {
    storage.mode(coords) <- "double"
    adata$obsm$`__setitem__`("spatial", mods$numpy$ascontiguousarray(unname(coords)))
  }
  adata
}

# A Python cells x genes matrix (numpy or scipy sparse) as an R features x
# cells matrix with the given dimnames. scipy sparse matrices do not convert
# with reticulate 1.28 + scipy >= 1.11, so the dgCMatrix is built from CSC parts.
.py_to_matrix <- function(x, features, cells) {
  mods <- .py_modules()
  if (reticulate::py_to_r(mods$sparse$issparse(x))) {
    csc <- mods$sparse$csc_matrix(x$T)
    if (!reticulate::py_to_r(csc$has_sorted_indices)) {
      csc <- csc$sorted_indices()
    }
    shape <- unlist(reticulate::py_to_r(csc$shape))
    out <- new(
      "dgCMatrix",
      i = as.integer(reticulate::py_to_r(csc$indices)),
      p = as.integer(reticulate::py_to_r(csc$indptr)),
      x = as.double(reticulate::py_to_r(csc$data)),
      Dim = as.integer(shape)
    )
  } else {
    out <- reticulate::py_to_r(mods$numpy$asarray(x)$T)
    if (!is.matrix(out)) {
      out <- matrix(out, nrow = length(features))
    }
    storage.mode(out) <- "double"
  }
  if (!identical(dim(out), c(length(features), length(cells)))) {
    stop(sprintf(
      "Internal error: Python returned a %s (features x cells) matrix, expected %d x %d.",
      paste(dim(out), collapse = " x "), length(features), length(cells)
    ), call. = FALSE)
  }
  dimnames(out) <- list(features, cells)
  out
}

.py_strings <- function(x) {
  as.character(unlist(reticulate::py_to_r(reticulate::import_builtins(convert = FALSE)$list(x))))
}

# pandas DataFrame -> data.frame. reticulate 1.28 calls the deprecated
# Index.format() while converting; keep pandas' FutureWarning out of the console.
.py_frame_to_r <- function(frame) {
  warnings <- reticulate::import("warnings", convert = FALSE)
  with(warnings$catch_warnings(), {
    warnings$simplefilter("ignore", category = reticulate::import_builtins(convert = FALSE)$FutureWarning)
    reticulate::py_to_r(frame)
  })
}

# Both modalities as AnnData objects plus the cell names, from Seurat objects.
.seurat_inputs <- function(sc, st, sc.assay = NULL, st.assay = NULL, sc.layer = "counts",
                           st.layer = "counts", coords = NULL, fov = NULL) {
  .check_seurat(sc, "SC")
  .check_seurat(st, "ST")
  sc_x <- .assay_matrix(sc, sc.assay, sc.layer, "SC")
  st_x <- .assay_matrix(st, st.assay, st.layer, "ST")
  st_coords <- .seurat_coordinates(st, coords = coords, fov = fov)
  .matrix_inputs(sc_x, st_x, st_coords)
}

.matrix_inputs <- function(sc, st, coords) {
  sc <- .check_matrix(sc, "SC")
  st <- .check_matrix(st, "ST")
  if (missing(coords) || is.null(coords)) {
    stop("coords is missing: give the ST coordinates as a cells x 2 (or 3) matrix.", call. = FALSE)
  }
  coords <- .coordinate_matrix(coords, colnames(st), "coords")
  stcross <- .stcross()
  list(
    sc = .as_anndata(sc, what = "the SC data"),
    st = .as_anndata(st, coords = coords, what = "the ST data"),
    sc.cells = colnames(sc),
    st.cells = colnames(st),
    n.dims = ncol(coords),
    module = stcross
  )
}
