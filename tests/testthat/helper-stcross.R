# Shared fixtures: one small real dataset and one briefly trained model per test run.

python_required <- function() {
  identical(tolower(Sys.getenv("STCROSS_REQUIRE_PYTHON")), "true")
}

# Skip when the Python side is missing, unless CI demands it: then fail loudly.
skip_if_no_python <- function() {
  if (stcross_python_available()) {
    return(invisible(TRUE))
  }
  message <- stcross_python_config()$message
  if (python_required()) {
    stop("STCROSS_REQUIRE_PYTHON=true but the stcross Python package is unavailable:\n",
         message, call. = FALSE)
  }
  testthat::skip(paste("stcross Python package unavailable:", message))
}

.fixtures <- new.env(parent = emptyenv())

# SeuratObject 5 warns "Not validating FOV objects" on every subset of an object with an FOV.
without_fov_noise <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    if (grepl("^Not validating", conditionMessage(w))) invokeRestart("muffleWarning")
  })
}

# osmFISH subset: 150 SC and 200 ST cells (no empty cells); two genes hidden from ST.
small_example <- function() {
  if (is.null(.fixtures$example)) {
    data <- LoadStcrossExample("osmfish")
    without_fov_noise({
      sc <- data$sc[, data$sc$nCount_RNA > 0]
      st <- data$st[, data$st$nCount_Spatial > 0]
      sc <- sc[, seq_len(150)]
      st_full <- st[, seq_len(200)]
      hidden <- c("Gad2", "Plp1")
      st <- subset(st_full, features = setdiff(rownames(st_full), hidden))
    })
    .fixtures$example <- list(sc = sc, st = st, st_full = st_full, hidden = hidden)
  }
  .fixtures$example
}

trained_model <- function() {
  if (is.null(.fixtures$model)) {
    example <- small_example()
    .fixtures$model <- TrainStcross(example$sc, example$st, max.epochs = 2, seed.use = 1,
                                    verbose = FALSE)
  }
  .fixtures$model
}

# One layer (Seurat 5) or slot (Seurat 4) of an assay, without v5's deprecation warnings.
layer_data <- function(object, layer = "counts", assay = NULL) {
  stcross:::.assay_matrix(object, assay, layer, "test")
}

# A tiny Seurat pair built in R only (no Python), for input checks.
toy_seurat <- function(n.genes = 6, n.cells = 8, prefix = "c", fov = TRUE) {
  set.seed(1)
  counts <- matrix(rpois(n.genes * n.cells, 3), n.genes, n.cells,
                   dimnames = list(paste0("G", seq_len(n.genes)), paste0(prefix, seq_len(n.cells))))
  object <- SeuratObject::CreateSeuratObject(counts = Matrix::Matrix(counts, sparse = TRUE))
  object$x <- seq_len(n.cells)
  object$y <- rev(seq_len(n.cells)) * 2
  if (fov) {
    centroids <- SeuratObject::CreateCentroids(
      data.frame(x = object$x, y = object$y, cell = colnames(object))
    )
    object[["fov"]] <- SeuratObject::CreateFOV(centroids, type = "centroids", assay = "RNA",
                                               key = "fov_")
  }
  object
}

# Run an R script in a fresh R session with this session's library paths
# (needs stcross installed there, as under R CMD check; skips under load_all()).
run_rscript <- function(code, env = character()) {
  installed <- find.package("stcross", lib.loc = .libPaths(), quiet = TRUE)
  if (length(installed) == 0L) {
    testthat::skip("stcross is not installed in a library; a new R session could not load it")
  }
  script <- tempfile(fileext = ".R")
  writeLines(c(sprintf(".libPaths(%s)", paste(deparse(.libPaths()), collapse = "")), code), script)
  output <- suppressWarnings(system2(
    "env", c(env, shQuote(file.path(R.home("bin"), "Rscript")), "--vanilla", shQuote(script)),
    stdout = TRUE, stderr = TRUE
  ))
  list(status = attr(output, "status") %||% 0L, output = output)
}

`%||%` <- function(x, y) if (is.null(x)) y else x
