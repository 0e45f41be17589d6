#' Place single cells in the tissue
#'
#' Predicts spatial coordinates, with a per-cell uncertainty, for every SC cell
#' the model was trained on, from the joint latent space.
#'
#' The Seurat method adds to the SC object
#' * metadata columns `<meta.prefix>_x`, `<meta.prefix>_y` (and `_z` for 3D
#'   tissue) with the coordinates and `<meta.prefix>_location_sd` with their
#'   uncertainty (in coordinate units), by default `stcross_x`, `stcross_y`,
#'   `stcross_location_sd`;
#' * a DimReduc `reduction.name` whose dimensions are the coordinates, so that
#'   `DimPlot(sc, reduction = "stcross.location")` draws the cells where they
#'   were placed.
#'
#' `DefaultAssay` is left unchanged; the call is logged with
#' `LogSeuratCommand`.
#'
#' @param object For the Seurat method, the SC object the model was trained on
#'   (same cells, any order). For the matrix interface, the [stcross_model].
#' @param model An [stcross_model].
#' @param method `"metric"` (default: mean position of the nearest ST cells
#'   in an embedding of latent and shared genes that a small network, trained on
#'   the ST cells, shapes so that spatial neighbours sit together; the most
#'   accurate on the benchmarks), `"knn"` (weighted mean position of the nearest
#'   ST cells in latent space) or `"regression"` (a head trained on the ST
#'   latent space).
#' @param reduction.name Name of the DimReduc to add.
#' @param reduction.key Key of the DimReduc (letters and digits, ending in
#'   `_`).
#' @param meta.prefix Prefix of the metadata column names.
#' @param assay Assay the DimReduc is associated with; `NULL` for
#'   `DefaultAssay(object)`.
#' @param threads Torch threads for this call (see [TrainStcross()]).
#' @param verbose Show messages from Python as they happen.
#' @param ... Further settings of the Python `locate()` method, with R-style
#'   names (e.g. `n.neighbors = 20`, `seed.use = 1`).
#' @return The Seurat method returns `object` with the metadata and DimReduc.
#'   The matrix interface returns a data.frame with one row per SC cell and
#'   columns `x`, `y` (, `z`) and `sd`.
#' @seealso [TrainStcross()], [EmbedStcross()]
#' @examples
#' if (stcross_python_available()) {
#'   data <- LoadStcrossExample("osmfish")
#'   sc <- data$sc[, 1:200]
#'   st <- data$st[, 1:300]
#'   model <- TrainStcross(sc, st, max.epochs = 1, verbose = FALSE)
#'   sc <- LocateStcross(sc, model)
#'   head(sc[[]])
#'   head(LocateStcross(model))
#' }
#' @export
LocateStcross <- function(object, ...) {
  UseMethod("LocateStcross")
}

#' @rdname LocateStcross
#' @export
LocateStcross.Seurat <- function(object, model, method = c("metric", "knn", "regression"),
                                 reduction.name = "stcross.location",
                                 reduction.key = "STCROSSLOC_", meta.prefix = "stcross",
                                 assay = NULL, threads = 1, verbose = TRUE, ...) {
  .check_model(model)
  .match_cells(object, model, "sc")
  method <- match.arg(method)
  .check_key(reduction.key)
  assay <- assay %||% SeuratObject::DefaultAssay(object)
  location <- .locate(model, method = method, threads = threads, verbose = verbose, ...)
  object <- .write_location(object, location, method = method, reduction.name = reduction.name,
                            reduction.key = reduction.key, meta.prefix = meta.prefix,
                            assay = assay)
  if (verbose) {
    columns <- paste0(meta.prefix, "_", c(setdiff(colnames(location), "sd"), "location_sd"))
    message(sprintf("Added metadata %s and reduction %s.",
                    paste(.quote(columns), collapse = ", "), .quote(reduction.name)))
  }
  model <- .model_label(model)
  object <- SeuratObject::LogSeuratCommand(object)
  object
}

#' @rdname LocateStcross
#' @export
LocateStcross.stcross_model <- function(object, method = c("metric", "knn", "regression"),
                                        threads = 1, verbose = TRUE, ...) {
  .check_model(object)
  .locate(object, method = match.arg(method), threads = threads, verbose = verbose, ...)
}

#' @export
LocateStcross.default <- function(object, ...) {
  stop(sprintf(
    "LocateStcross() needs the SC Seurat object and a model, or an stcross_model; got %s.",
    paste(class(object), collapse = "/")
  ), call. = FALSE)
}

.locate <- function(model, method, threads, verbose, ...) {
  args <- c(list(method = method, threads = .count(threads, "threads")),
            .py_kwargs(list(...), "LocateStcross"))
  frame <- .py_call(do.call(model$py$locate, args), "locating the SC cells", verbose)
  cells <- .py_strings(frame$index)
  columns <- .py_strings(frame$columns)
  values <- reticulate::py_to_r(frame$to_numpy(dtype = "float64"))
  location <- as.data.frame(matrix(values, nrow = length(cells), dimnames = list(cells, columns)))
  location
}

.check_key <- function(key) {
  if (!is.character(key) || length(key) != 1L || !grepl("^[a-zA-Z][a-zA-Z0-9]*_$", key)) {
    stop(sprintf(
      "reduction.key %s is not a valid key: use letters and digits ending in \"_\", e.g. \"STCROSS_\".",
      .quote(key)
    ), call. = FALSE)
  }
  invisible(key)
}
