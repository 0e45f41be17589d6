#' Impute genes into spatial cells, with their uncertainty
#'
#' Predicts, for every ST cell the model was trained on, the expression of
#' genes the spatial panel did not measure (or of measured genes, for
#' checking), with a predictive distribution per value.
#'
#' The Seurat method writes the predictive distribution into the ST object:
#' the mean on the ST measurement scale, the standard deviation, the bounds of
#' the central `interval` prediction interval and the probability of a zero.
#'
#' * **Seurat 5** (`one.assay = TRUE`, the default with SeuratObject 5): one
#'   assay `new.assay.name` (default `"imputed"`) whose layers are `"data"`
#'   (the mean, where plots and `FetchData()` look), `"sd"`, `"lower"`,
#'   `"upper"` and `"p.zero"`, e.g. `FetchData(st, "imputed_Gad2", layer = "sd")`.
#' * **Seurat 4** (`one.assay = FALSE`, the default with SeuratObject 4): one
#'   assay per statistic, each value in its `data` slot: `new.assay.name`,
#'   `sd.assay.name` (`"imputed.sd"`), `lower.assay.name`, `upper.assay.name`
#'   (`"imputed.lower"`, `"imputed.upper"`) and `pzero.assay.name`
#'   (`"imputed.pzero"`).
#'
#' [GetStcrossImputation()] reads a statistic back from either layout. Set any
#' of the last four names to `NULL` to skip that statistic (with one assay,
#' the other names only choose which layers are written). The assay's
#' `Misc(assay, "stcross")` records the statistic or layers, the interval level
#' and whether the intervals are calibrated (see the Python
#' `CrossModalModel.calibrate()`). `DefaultAssay` is left unchanged; the call is
#' logged with `LogSeuratCommand`.
#'
#' @param object For the Seurat method, the ST object the model was trained
#'   on (same cells, any order). For the matrix interface, the
#'   [stcross_model] itself.
#' @param model An [stcross_model].
#' @param features Genes to impute (a subset of `model$imputable.genes`);
#'   `NULL` for all of them. Imputing all genes of a large reference creates
#'   dense assays of ST cells x genes: choose the genes you need.
#' @param interval Nominal coverage of the prediction interval.
#' @param n.samples Latent samples used to include model uncertainty; `0` uses
#'   the closed-form predictive distribution.
#' @param new.assay.name Name of the assay with the predictive mean.
#' @param sd.assay.name,lower.assay.name,upper.assay.name,pzero.assay.name
#'   Names of the uncertainty assays (Seurat 4 layout); `NULL` skips one.
#' @param one.assay Write one assay with a layer per statistic (needs
#'   SeuratObject 5) rather than one assay per statistic.
#' @param assay The ST assay the model was trained on, recorded in the command
#'   log; `NULL` for `DefaultAssay(object)`.
#' @param threads Torch threads for this call (see [TrainStcross()]).
#' @param verbose Show messages from Python as they happen.
#' @param ... Further settings of the Python `impute()` method, with R-style
#'   names (e.g. `batch.size = 512`).
#' @return The Seurat method returns `object` with the new assay(s). The matrix
#'   interface returns a list of features x cells matrices `mean`, `sd`,
#'   `lower`, `upper`, `p.zero` and `info` (a list with `interval`,
#'   `calibrated`, the ST likelihood and `neighbor_blend`, the weight of the
#'   latent-neighbour estimate in the imputed means).
#' @seealso [TrainStcross()]
#' @examples
#' if (stcross_python_available()) {
#'   data <- LoadStcrossExample("osmfish")
#'   # hide two genes from the spatial panel, then impute them back
#'   hidden <- c("Gad2", "Plp1")
#'   sc <- data$sc[, 1:200]
#'   st <- subset(data$st[, 1:300], features = setdiff(rownames(data$st), hidden))
#'   model <- TrainStcross(sc, st, max.epochs = 1, verbose = FALSE)
#'   st <- ImputeStcross(st, model, features = hidden)
#'   GetStcrossImputation(st, "sd")[, 1:3]
#'
#'   # matrix interface
#'   res <- ImputeStcross(model, features = hidden)
#'   str(res$mean)
#' }
#' @export
ImputeStcross <- function(object, ...) {
  UseMethod("ImputeStcross")
}

#' @rdname ImputeStcross
#' @export
ImputeStcross.Seurat <- function(object, model, features = NULL, interval = 0.9, n.samples = 0,
                                 new.assay.name = "imputed",
                                 sd.assay.name = paste0(new.assay.name, ".sd"),
                                 lower.assay.name = paste0(new.assay.name, ".lower"),
                                 upper.assay.name = paste0(new.assay.name, ".upper"),
                                 pzero.assay.name = paste0(new.assay.name, ".pzero"),
                                 one.assay = .is_seurat_v5(), assay = NULL, threads = 1,
                                 verbose = TRUE, ...) {
  .check_model(model)
  .match_cells(object, model, "st")
  if (!isTRUE(one.assay) && !isFALSE(one.assay)) {
    stop("one.assay must be TRUE or FALSE.", call. = FALSE)
  }
  if (one.assay && !.is_seurat_v5()) {
    stop(sprintf(paste0("one.assay = TRUE needs SeuratObject 5 (layers); this R has SeuratObject %s. ",
                        "Use one.assay = FALSE."), format(packageVersion("SeuratObject"))),
         call. = FALSE)
  }
  names <- list(mean = new.assay.name, sd = sd.assay.name, lower = lower.assay.name,
                upper = upper.assay.name, p.zero = pzero.assay.name)
  names <- names[!vapply(names, is.null, logical(1))]
  written <- if (one.assay) names["mean"] else names
  .check_assay_names(object, written)
  result <- .impute(model, features = features, interval = interval, n.samples = n.samples,
                    threads = threads, verbose = verbose, ...)
  .warn_replaced_assays(object, written, nrow(result$mean))
  object <- .write_imputation(object, result, names, one.assay = one.assay)
  if (verbose) {
    what <- if (one.assay) {
      sprintf("assay %s with layers %s", .quote(new.assay.name),
              paste(.quote(.imputation_layers[names(names)]), collapse = ", "))
    } else {
      sprintf("assay%s %s", if (length(names) > 1) "s" else "", paste(.quote(unlist(names)), collapse = ", "))
    }
    message(sprintf("Added %s (%d genes x %d cells).", what, nrow(result$mean), ncol(object)))
  }
  assay <- assay %||% SeuratObject::DefaultAssay(object)
  model <- .model_label(model)
  object <- SeuratObject::LogSeuratCommand(object)
  object
}

#' @rdname ImputeStcross
#' @export
ImputeStcross.stcross_model <- function(object, features = NULL, interval = 0.9, n.samples = 0,
                                        threads = 1, verbose = TRUE, ...) {
  .check_model(object)
  .impute(object, features = features, interval = interval, n.samples = n.samples,
          threads = threads, verbose = verbose, ...)
}

#' @export
ImputeStcross.default <- function(object, ...) {
  stop(sprintf(
    "ImputeStcross() needs the ST Seurat object and a model, or an stcross_model; got %s.",
    paste(class(object), collapse = "/")
  ), call. = FALSE)
}

# A second imputation under the same names replaces the first: say so, with what to do.
.warn_replaced_assays <- function(object, names, n.genes) {
  existing <- intersect(unlist(names), SeuratObject::Assays(object))
  if (!length(existing)) {
    return(invisible())
  }
  before <- nrow(object[[existing[1]]])
  warning(.stcross_warning(
    sprintf(paste0("ImputeStcross() replaces the existing assay%s %s (%d genes) with this ",
                   "imputation (%d genes). To keep both, pass another new.assay.name; to ",
                   "add genes, impute them all in one call (features = c(...))."),
            if (length(existing) > 1) "s" else "", paste(.quote(existing), collapse = ", "),
            before, n.genes),
    "stcross_assay_replaced"
  ))
  invisible()
}

# The new assays must not replace the data the user measured.
.check_assay_names <- function(object, names) {
  for (name in names) {
    if (!is.character(name) || length(name) != 1L || !nzchar(name)) {
      stop("Assay names must be single non-empty strings (or NULL to skip one).", call. = FALSE)
    }
  }
  if (anyDuplicated(unlist(names))) {
    stop("The assay names for the mean and the uncertainty must differ.", call. = FALSE)
  }
  clash <- intersect(unlist(names), SeuratObject::DefaultAssay(object))
  if (length(clash)) {
    stop(sprintf("Assay %s is the object's DefaultAssay; choose another new.assay.name.",
                 .quote(clash)), call. = FALSE)
  }
  invisible()
}

.impute <- function(model, features, interval, n.samples, threads, verbose, ...) {
  if (!is.numeric(interval) || length(interval) != 1L || !(interval > 0 && interval < 1)) {
    stop("interval must be a number between 0 and 1, e.g. 0.9.", call. = FALSE)
  }
  args <- c(
    list(genes = if (is.null(features)) NULL else .py_list(features),
         interval = as.numeric(interval),
         n_samples = .count(n.samples, "n.samples", min = 0L),
         threads = .count(threads, "threads")),
    .py_kwargs(list(...), "ImputeStcross")
  )
  imputed <- .py_call(do.call(model$py$impute, args), "imputing", verbose)
  genes <- .py_strings(imputed$var_names)
  cells <- .py_strings(imputed$obs_names)
  layers <- imputed$layers
  get <- function(layer) .py_to_matrix(reticulate::py_get_item(layers, layer), genes, cells)
  info <- tryCatch(
    reticulate::py_to_r(reticulate::py_get_item(imputed$uns, "stcross")),
    error = function(e) list()
  )
  list(
    mean = get("mean"),
    sd = get("sd"),
    lower = get("lower"),
    upper = get("upper"),
    p.zero = get("p_zero"),
    info = .plain_list(info)
  )
}

# Python dict -> R list of plain values (numpy scalars become R scalars).
.plain_list <- function(x) {
  if (!is.list(x)) {
    return(list())
  }
  lapply(x, function(value) {
    if (inherits(value, "python.builtin.object")) {
      value <- tryCatch(reticulate::py_to_r(value$item()), error = function(e) as.character(value))
    }
    value
  })
}
