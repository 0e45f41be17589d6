# The Python door to Seurat files (stcross.io, through rpy2): .rds written here, read,
# trained on and written back by Python in a process of its own (rpy2 must never run inside
# this R, which already embeds Python), then compared with what the R verbs write for the
# same model. Runs on whichever Seurat this R has (4.3 on the host, 5.2 in .ci/seurat-v5.sh).

skip_unless_rpy2 <- function() {
  skip_if_no_python()
  if (!reticulate::py_module_available("rpy2")) {
    if (python_required()) {
      stop("STCROSS_REQUIRE_PYTHON=true but the Python lacks rpy2: pip install 'stcross[r]'",
           call. = FALSE)
    }
    testthat::skip("rpy2 is not installed in the Python")
  }
}

# Run Python code in a new process whose embedded R is this R, with this R's libraries.
run_python <- function(code) {
  script <- tempfile(fileext = ".py")
  writeLines(code, script)
  env <- c(paste0("R_HOME=", R.home()), paste0("R_LIBS=", paste(.libPaths(), collapse = ":")),
           "RPY2_CFFI_MODE=ABI")
  output <- suppressWarnings(system2(
    "env", c(env, shQuote(stcross_python_config()$python), shQuote(script)),
    stdout = TRUE, stderr = TRUE
  ))
  list(status = attr(output, "status") %||% 0L, output = output)
}

test_that("Seurat files -> Python (read, train, impute, locate, write) -> R equal the R verbs", {
  skip_unless_rpy2()
  example <- small_example()
  dir <- tempfile("stcross-files-")
  dir.create(dir)
  files <- file.path(dir, c(sc = "sc.rds", st = "st.rds", sc.out = "sc-out.rds",
                            st.out = "st-out.rds", model = "model"))
  names(files) <- c("sc", "st", "sc.out", "st.out", "model")
  saveRDS(example$sc, files[["sc"]])
  saveRDS(example$st, files[["st"]])
  run <- run_python(c(
    "import stcross",
    "from stcross.io import read_seurat, write_seurat",
    sprintf("sc = read_seurat(%s)", deparse(files[["sc"]])),
    sprintf("st = read_seurat(%s)", deparse(files[["st"]])),
    "assert st.obsm['spatial'].shape == (st.n_obs, 2)",
    "model = stcross.CrossModalModel(sc, st)",
    "model.train(max_epochs=2, seed=1)",
    sprintf("model.save(%s)", deparse(files[["model"]])),
    sprintf("imputed = model.impute([%s])", paste(sprintf("'%s'", example$hidden), collapse = ", ")),
    sprintf("write_seurat(%s, %s, imputed=imputed, model=model)",
            deparse(files[["st.out"]]), deparse(files[["st"]])),
    sprintf("write_seurat(%s, %s, locations=model.locate(), model=model)",
            deparse(files[["sc.out"]]), deparse(files[["sc"]]))
  ))
  expect_identical(run$status, 0L, label = paste(run$output, collapse = "\n"))

  model <- LoadStcross(files[["model"]], example$sc, example$st, verbose = FALSE)
  st <- ImputeStcross(example$st, model, features = example$hidden, verbose = FALSE)
  st <- EmbedStcross(st, model, verbose = FALSE)
  sc <- LocateStcross(example$sc, model, verbose = FALSE)
  sc <- EmbedStcross(sc, model, verbose = FALSE)
  st_py <- readRDS(files[["st.out"]])
  sc_py <- readRDS(files[["sc.out"]])

  expect_identical(SeuratObject::Assays(st_py), SeuratObject::Assays(st))
  for (assay in setdiff(SeuratObject::Assays(st), "Spatial")) {
    expect_identical(class(st_py[[assay]]), class(st[[assay]]))
    expect_identical(SeuratObject::Key(st_py[[assay]]), SeuratObject::Key(st[[assay]]))
    expect_equal(SeuratObject::Misc(st_py[[assay]], slot = "stcross"),
                 SeuratObject::Misc(st[[assay]], slot = "stcross"), label = assay)
  }
  for (statistic in c("mean", "sd", "lower", "upper", "p.zero")) {
    expect_equal(GetStcrossImputation(st_py, statistic), GetStcrossImputation(st, statistic),
                 tolerance = 1e-6, label = statistic)
  }
  for (pair in list(list(st_py, st), list(sc_py, sc))) {
    expect_identical(SeuratObject::Reductions(pair[[1]]), SeuratObject::Reductions(pair[[2]]))
    for (reduction in SeuratObject::Reductions(pair[[2]])) {
      expect_equal(SeuratObject::Embeddings(pair[[1]], reduction),
                   SeuratObject::Embeddings(pair[[2]], reduction), tolerance = 1e-5, label = reduction)
      expect_identical(SeuratObject::Key(pair[[1]][[reduction]]), SeuratObject::Key(pair[[2]][[reduction]]))
      expect_identical(SeuratObject::Misc(pair[[1]][[reduction]], slot = "stcross"),
                       SeuratObject::Misc(pair[[2]][[reduction]], slot = "stcross"))
      expect_identical(SeuratObject::DefaultAssay(pair[[1]][[reduction]]),
                       SeuratObject::DefaultAssay(pair[[2]][[reduction]]))
    }
  }
  expect_equal(sc_py[[]], sc[[]], tolerance = 1e-5)
  expect_identical(st_py[[]], st[[]])
  # the measured data went through untouched
  expect_identical(layer_data(st_py), layer_data(example$st))
})
