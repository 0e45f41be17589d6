# The S3 handle around a Python stcross.CrossModalModel. The Python object
# lives only here: it is never written into a Seurat object, and after
# saveRDS()/readRDS() or a new session it is gone (use SaveStcross/LoadStcross).

.new_model <- function(py_model, inputs, origin) {
  history <- tryCatch(
    .py_frame_to_r(py_model$history),
    error = function(e) NULL
  )
  structure(
    list(
      py = py_model,
      sc.cells = inputs$sc.cells,
      st.cells = inputs$st.cells,
      shared.genes = .py_strings(py_model$shared_genes),
      imputable.genes = .py_strings(py_model$imputable_genes),
      n.dims = inputs$n.dims,
      history = if (is.data.frame(history)) history else NULL,
      origin = origin,
      python.version = stcross_python_config()$python.version,
      r.version = as.character(packageVersion("stcross"))
    ),
    class = "stcross_model"
  )
}

#' The stcross model handle
#'
#' [TrainStcross()] and [LoadStcross()] return an `stcross_model`: a small list
#' that holds the Python model and what R needs to match results to cells.
#' Fields: `sc.cells`, `st.cells` (cell names of the training data),
#' `shared.genes` (ST panel genes also in SC, used for alignment),
#' `imputable.genes`, `n.dims` (2 or 3 coordinate axes), `history` (loss per
#' epoch, a data.frame), `origin` ("trained" or the path it was loaded from),
#' and `py`, the Python object itself.
#'
#' The Python object does not survive [saveRDS()] or a new R session; keep a
#' model with [SaveStcross()] and bring it back with [LoadStcross()].
#'
#' @param x An `stcross_model`.
#' @param ... Ignored.
#' @return `print()` returns `x` invisibly; `format()` a character vector.
#' @name stcross_model
#' @examples
#' if (stcross_python_available()) {
#'   data <- LoadStcrossExample("osmfish")
#'   sc <- data$sc[, 1:200]
#'   st <- data$st[, 1:300]
#'   model <- TrainStcross(sc, st, max.epochs = 1, verbose = FALSE)
#'   model
#' }
NULL

#' @rdname stcross_model
#' @export
format.stcross_model <- function(x, ...) {
  alive <- .model_alive(x)
  history <- x$history
  last <- if (is.data.frame(history) && nrow(history) > 0L) {
    loss <- intersect(c("loss", "total", "train_loss", "elbo"), colnames(history))
    if (length(loss)) {
      sprintf(", final %s %.4g", loss[1], history[[loss[1]]][nrow(history)])
    } else {
      ""
    }
  } else {
    ""
  }
  c(
    sprintf("An stcross model (R %s, Python %s)%s", x$r.version, x$python.version %||% "?",
            if (identical(x$origin, "trained")) "" else paste0(", loaded from ", x$origin)),
    sprintf("  SC: %d cells; ST: %d cells with %dD coordinates", length(x$sc.cells),
            length(x$st.cells), x$n.dims),
    sprintf("  %d shared genes (e.g. %s); %d imputable genes", length(x$shared.genes),
            paste(head(x$shared.genes, 3), collapse = ", "), length(x$imputable.genes)),
    if (!is.null(history)) sprintf("  trained for %d epochs%s", nrow(history), last),
    if (alive) .calibration_line(x),
    if (!alive) "  The Python model is gone (saved R object or new session): reload it with LoadStcross()."
  )
}

#' @rdname stcross_model
#' @export
print.stcross_model <- function(x, ...) {
  cat(format(x), sep = "\n")
  invisible(x)
}

.calibration_line <- function(model) {
  if (reticulate::py_is_null_xptr(model$py) ||
      inherits(reticulate::py_get_attr(model$py, "calibration"), "python.builtin.NoneType")) {
    return("  intervals: not calibrated (run CalibrateStcross())")
  }
  "  intervals: calibrated on held-out panel genes (conformal)"
}

.model_alive <- function(model) {
  !is.null(model$py) && !reticulate::py_is_null_xptr(model$py)
}

.check_model <- function(model) {
  if (!inherits(model, "stcross_model")) {
    stop(sprintf("model must be an stcross_model from TrainStcross() or LoadStcross(), not %s.",
                 paste(class(model), collapse = "/")), call. = FALSE)
  }
  if (!.model_alive(model)) {
    stop(paste0(
      "This stcross model no longer has its Python side (it was saved with saveRDS() or ",
      "comes from another R session). Save models with SaveStcross() and reload them with LoadStcross()."
    ), call. = FALSE)
  }
  invisible(model)
}

# A one-line description that stands in for the model in LogSeuratCommand,
# so that no Python object is stored in a Seurat object.
.model_label <- function(model) {
  sprintf("stcross_model (%d SC cells, %d ST cells, %d shared genes, %s)",
          length(model$sc.cells), length(model$st.cells), length(model$shared.genes),
          model$origin)
}

# Which side of the model a Seurat object's cells belong to.
.match_cells <- function(object, model, modality = NULL) {
  cells <- colnames(object)
  is_sc <- setequal(cells, model$sc.cells)
  is_st <- setequal(cells, model$st.cells)
  if (!is.null(modality)) {
    modality <- match.arg(modality, c("sc", "st"))
    expected <- if (modality == "sc") is_sc else is_st
    if (!expected) {
      .cells_mismatch(cells, if (modality == "sc") model$sc.cells else model$st.cells,
                      toupper(modality))
    }
    return(modality)
  }
  if (is_sc && is_st) {
    stop("The object's cells match both the SC and the ST data of the model; pass modality = \"sc\" or \"st\".",
         call. = FALSE)
  }
  if (is_sc) {
    return("sc")
  }
  if (is_st) {
    return("st")
  }
  stop(sprintf(
    "The object's %d cells match neither the %d SC cells nor the %d ST cells the model was trained on. Pass the objects given to TrainStcross() or LoadStcross().",
    length(cells), length(model$sc.cells), length(model$st.cells)
  ), call. = FALSE)
}

.cells_mismatch <- function(cells, expected, role) {
  absent <- setdiff(expected, cells)
  extra <- setdiff(cells, expected)
  stop(sprintf(
    "The object's cells are not the %s cells the model was trained on (%d cells here, %d in the model; %s). Pass the %s object given to TrainStcross() or LoadStcross().",
    role, length(cells), length(expected),
    if (length(extra)) paste0("e.g. ", .quote(extra[1]), " is not in the model") else
      paste0("e.g. ", .quote(absent[1]), " is missing here"),
    role
  ), call. = FALSE)
}
