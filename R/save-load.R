#' Save and load an stcross model
#'
#' `SaveStcross()` writes the trained model to a directory (settings, gene
#' lists and versions as JSON, the weights as a PyTorch state dict), written
#' by Python and readable from Python too
#' (`stcross.CrossModalModel.load(path, adata_sc, adata_st)`).
#' `LoadStcross()` rebuilds the model from that directory and data given as in
#' [TrainStcross()]; genes are matched by name (their order does not matter).
#'
#' Loaded with the data it was trained on, the model gives exactly its own
#' results. Loaded onto other cells (a trained model applied to a new section or
#' sample), its weights are used as trained, but each cell's cross-modal partners
#' are found again among the cells given, so predictions follow those partners,
#' also for cells that were in the training data. stcross warns when this
#' happens.
#'
#' A model handle does not survive [saveRDS()] or a new R session: save the
#' model with `SaveStcross()` and the Seurat objects as usual.
#'
#' @param model An [stcross_model].
#' @param path Directory to write or read.
#' @param overwrite Replace an existing model directory.
#' @param sc,st Single-cell and spatial data with the model's genes (usually
#'   the data it was trained on): Seurat objects or matrices, as for
#'   [TrainStcross()].
#' @param ... How to read `sc` and `st`: `sc.assay`, `st.assay`, `sc.layer`,
#'   `st.layer`, `coords`, `fov` for Seurat objects (see [TrainStcross()]),
#'   `coords` for matrices; also `verbose`.
#' @return `SaveStcross()` returns `path` invisibly; `LoadStcross()` an
#'   [stcross_model].
#' @examples
#' if (stcross_python_available()) {
#'   data <- LoadStcrossExample("osmfish")
#'   sc <- data$sc[, 1:200]
#'   st <- data$st[, 1:300]
#'   model <- TrainStcross(sc, st, max.epochs = 1, verbose = FALSE)
#'   path <- file.path(tempdir(), "stcross-model")
#'   SaveStcross(model, path, overwrite = TRUE)
#'   model2 <- LoadStcross(path, sc, st)
#'   model2
#' }
#' @export
SaveStcross <- function(model, path, overwrite = FALSE) {
  .check_model(model)
  path <- .one_string(path, "path")
  .py_call(model$py$save(path.expand(path), overwrite = isTRUE(overwrite)),
           sprintf("saving the model to %s", .quote(path)))
  invisible(path)
}

#' @rdname SaveStcross
#' @export
LoadStcross <- function(path, sc, st, ...) {
  path <- .one_string(path, "path")
  if (!dir.exists(path)) {
    stop(sprintf("No saved stcross model at %s (not a directory).", .quote(path)), call. = FALSE)
  }
  args <- list(...)
  verbose <- if (is.null(args$verbose)) TRUE else isTRUE(args$verbose)
  args$verbose <- NULL
  inputs <- if (inherits(sc, "Seurat")) {
    do.call(.seurat_inputs, c(list(sc, st), args))
  } else {
    unknown <- setdiff(names(args), "coords")
    if (length(unknown)) {
      stop(sprintf("Unknown argument%s for matrices: %s.", if (length(unknown) > 1) "s" else "",
                   paste(unknown, collapse = ", ")), call. = FALSE)
    }
    .matrix_inputs(sc, st, args$coords)
  }
  model <- .py_call(
    inputs$module$CrossModalModel$load(path.expand(path), inputs$sc, inputs$st),
    sprintf("loading the model from %s", .quote(path)), verbose
  )
  .new_model(model, inputs, origin = normalizePath(path))
}
