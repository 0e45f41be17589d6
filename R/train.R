#' Train an stcross model on single-cell and spatial data
#'
#' Builds the Python `stcross.CrossModalModel` from a single-cell RNA-seq
#' reference (`sc`) and a single-cell-resolution spatial query (`st`) and
#' trains it. Genes are matched by name: the ST panel genes that are also in
#' SC align the two modalities; every SC gene (or `features`) can then be
#' imputed into ST.
#'
#' Counts are read from the chosen assay layer without densifying; raw counts
#' suit the default count likelihoods. Log-normalised or intensity data need
#' `likelihood.sc = "gaussian"` and/or `likelihood.st = "gaussian"` (and e.g.
#' `sc.layer = "data"`); the Python side refuses non-integer data under a
#' count likelihood rather than guess.
#'
#' The ST coordinates come from an FOV (`GetTissueCoordinates()`; the first
#' image unless `fov` names one), from metadata columns (`coords = c("x",
#' "y")`, or three names for 3D), or from a numeric matrix with one row per
#' ST cell (`coords = matrix`, rows named by cell or in cell order).
#'
#' @param sc Single-cell data: a Seurat object, or (matrix interface) a
#'   features x cells matrix or sparse `Matrix` with gene and cell names.
#' @param st Spatial data, of the same kind as `sc`.
#' @param sc.assay,st.assay Assays to read; `NULL` uses each object's
#'   `DefaultAssay`.
#' @param sc.layer,st.layer Layer (Seurat v5) or slot (v4) to read:
#'   `"counts"` by default, `"data"` for log-normalised values.
#' @param coords ST coordinates: `NULL` to read an FOV, names of 2 or 3
#'   metadata columns, or a numeric cells x 2 (or 3) matrix or data.frame. For
#'   the matrix interface, a matrix (required).
#' @param fov Name of the FOV (image) holding the ST coordinates when
#'   `coords = NULL`; `NULL` takes the first.
#' @param features Genes that may be imputed (SC gene names); `NULL` for all SC
#'   genes.
#' @param likelihood.sc,likelihood.st Observation models: `"zinb"`, `"nb"`,
#'   `"poisson"` for counts, `"gaussian"` for log-scale non-count values.
#' @param case.insensitive Match gene names ignoring case (reported, never
#'   silent).
#' @param config Model settings: a named list of `stcross.ModelConfig` fields
#'   (e.g. `list(n_latent = 10)`), or `NULL` for the defaults.
#' @param max.epochs Maximum number of epochs; `NULL` lets Python choose from
#'   the data size (early stopping may end training sooner).
#' @param batch.size,lr Minibatch size and learning rate; `NULL` for the Python
#'   defaults.
#' @param seed.use Random seed; training is reproducible for a given seed.
#' @param device `"auto"`, `"cpu"` or `"cuda"`.
#' @param threads Torch threads for this call (restored afterwards); `NULL` keeps
#'   the current setting. One thread is the measured default: stcross's layers are
#'   small, and a second thread makes training several times slower when another
#'   process holds a core. Setting `OMP_NUM_THREADS` from R after Python has started
#'   has no effect; use this argument.
#' @param verbose Show a progress bar and messages from Python as they happen.
#' @param ... Further training settings, with R-style names (e.g.
#'   `patience = 5L`, `weight.decay = 0`).
#' @return An [stcross_model] handle.
#' @seealso [ImputeStcross()], [LocateStcross()], [EmbedStcross()],
#'   [SaveStcross()].
#' @examples
#' if (stcross_python_available()) {
#'   data <- LoadStcrossExample("osmfish")
#'   sc <- data$sc[, 1:200]
#'   st <- data$st[, 1:300]
#'   model <- TrainStcross(sc, st, max.epochs = 1, verbose = FALSE)
#'   model
#'
#'   # matrix interface: features x cells matrices and a coordinate matrix
#'   counts <- function(object) {  # a layer on Seurat 5, a slot on Seurat 4
#'     if (packageVersion("SeuratObject") >= "5") SeuratObject::LayerData(object, layer = "counts")
#'     else SeuratObject::GetAssayData(object, slot = "counts")
#'   }
#'   counts.sc <- counts(sc)
#'   counts.st <- counts(st)
#'   xy <- as.matrix(st[[c("x", "y")]])
#'   model2 <- TrainStcross(counts.sc, counts.st, coords = xy, max.epochs = 1,
#'                          verbose = FALSE)
#' }
#' @export
TrainStcross <- function(sc, st, ...) {
  UseMethod("TrainStcross")
}

#' @rdname TrainStcross
#' @export
TrainStcross.Seurat <- function(sc, st, sc.assay = NULL, st.assay = NULL, sc.layer = "counts",
                                st.layer = "counts", coords = NULL, fov = NULL, features = NULL,
                                likelihood.sc = "zinb", likelihood.st = "nb",
                                case.insensitive = FALSE, config = NULL, max.epochs = NULL,
                                batch.size = NULL, lr = NULL, seed.use = 0, device = "auto",
                                threads = 1, verbose = TRUE, ...) {
  inputs <- .seurat_inputs(sc, st, sc.assay = sc.assay, st.assay = st.assay,
                           sc.layer = sc.layer, st.layer = st.layer, coords = coords, fov = fov)
  .train_model(inputs, features = features, likelihood.sc = likelihood.sc,
               likelihood.st = likelihood.st, case.insensitive = case.insensitive,
               config = config, max.epochs = max.epochs, batch.size = batch.size, lr = lr,
               seed.use = seed.use, device = device, threads = threads, verbose = verbose, ...)
}

#' @rdname TrainStcross
#' @export
TrainStcross.default <- function(sc, st, coords, features = NULL, likelihood.sc = "zinb",
                                 likelihood.st = "nb", case.insensitive = FALSE, config = NULL,
                                 max.epochs = NULL, batch.size = NULL, lr = NULL, seed.use = 0,
                                 device = "auto", threads = 1, verbose = TRUE, ...) {
  if (inherits(st, "Seurat")) {
    stop("sc is not a Seurat object but st is: pass two Seurat objects or two matrices.",
         call. = FALSE)
  }
  inputs <- .matrix_inputs(sc, st, if (missing(coords)) NULL else coords)
  .train_model(inputs, features = features, likelihood.sc = likelihood.sc,
               likelihood.st = likelihood.st, case.insensitive = case.insensitive,
               config = config, max.epochs = max.epochs, batch.size = batch.size, lr = lr,
               seed.use = seed.use, device = device, threads = threads, verbose = verbose, ...)
}

.train_model <- function(inputs, features, likelihood.sc, likelihood.st, case.insensitive,
                         config, max.epochs, batch.size, lr, seed.use, device, threads, verbose,
                         ...) {
  stcross <- inputs$module
  # R-side checks first, before any work in Python. Every training setting goes into one
  # TrainConfig, so R-style extras such as patience = 5 reach it, and a misspelt one is named.
  settings <- c(
    list(max_epochs = .count(max.epochs, "max.epochs"), seed = .count(seed.use, "seed.use", min = 0L)),
    if (!is.null(batch.size)) list(batch_size = .count(batch.size, "batch.size")),
    if (!is.null(lr)) list(lr = as.numeric(lr)),
    .py_kwargs(list(...), "TrainStcross")
  )
  train_args <- list(
    device = .one_string(device, "device"),
    threads = .count(threads, "threads"),
    # R draws its own progress bar: tqdm writes to a stderr that R consoles do not show.
    progress_bar = FALSE
  )
  model_args <- list(
    inputs$sc, inputs$st,
    likelihood_sc = .one_string(likelihood.sc, "likelihood.sc"),
    likelihood_st = .one_string(likelihood.st, "likelihood.st"),
    case_insensitive = isTRUE(case.insensitive)
  )
  if (!is.null(features)) {
    model_args$genes <- .py_list(features)
  }
  if (!is.null(config)) {
    model_args$config <- .model_config(stcross, config)
  }
  train_args$config <- .py_call(do.call(stcross$TrainConfig, settings), "reading the training settings")
  model <- .py_call(do.call(stcross$CrossModalModel, model_args),
                    "checking the data and building the model", verbose)
  .py_call(do.call(model$train, train_args), "training the model", verbose)
  .new_model(model, inputs, origin = "trained")
}

.model_config <- function(stcross, config) {
  if (!is.list(config) || is.null(names(config)) || any(!nzchar(names(config)))) {
    stop("config must be a named list of stcross.ModelConfig fields, e.g. list(n_latent = 10).",
         call. = FALSE)
  }
  .py_call(do.call(stcross$ModelConfig, .whole_numbers_as_integers(config)), "reading config")
}

# Whole numbers go to Python as int, since many settings are sizes or counts.
.whole_numbers_as_integers <- function(values) {
  lapply(values, function(value) {
    if (is.numeric(value) && length(value) == 1L && !is.na(value) && value == round(value) &&
        abs(value) < .Machine$integer.max && !is.integer(value)) {
      as.integer(value)
    } else {
      value
    }
  })
}

.one_string <- function(x, name) {
  if (!is.character(x) || length(x) != 1L || is.na(x)) {
    stop(sprintf("%s must be a single string.", name), call. = FALSE)
  }
  x
}

# A positive (or non-negative) whole number as an R integer, or NULL.
.count <- function(x, name, min = 1L) {
  if (is.null(x)) {
    return(NULL)
  }
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x != round(x) || x < min) {
    stop(sprintf("%s must be a whole number >= %d.", name, min), call. = FALSE)
  }
  as.integer(x)
}
