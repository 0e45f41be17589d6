test_that("a saved model reloads in a new R session and imputes the same values", {
  skip_if_no_python()
  skip_on_os("windows")
  model <- trained_model()
  example <- small_example()
  dir <- tempfile("stcross-test-")
  dir.create(dir)
  path <- file.path(dir, "model")
  expect_identical(SaveStcross(model, path), path)
  expect_error(SaveStcross(model, path), "failed while saving")
  SaveStcross(model, path, overwrite = TRUE)

  expected <- ImputeStcross(example$st, model, features = example$hidden, verbose = FALSE)
  objects <- file.path(dir, "objects.rds")
  result <- file.path(dir, "result.rds")
  saveRDS(list(sc = example$sc, st = example$st, hidden = example$hidden), objects)
  code <- c(
    "library(stcross)",
    sprintf("o <- readRDS(%s)", deparse(objects)),
    sprintf("model <- LoadStcross(%s, o$sc, o$st, verbose = FALSE)", deparse(path)),
    "st <- ImputeStcross(o$st, model, features = o$hidden, verbose = FALSE)",
    "sc <- LocateStcross(o$sc, model, verbose = FALSE)",
    sprintf("saveRDS(list(st = st, sc = sc, printed = format(model)), %s)", deparse(result))
  )
  python <- stcross_python_config()$python
  run <- run_rscript(code, env = paste0("RETICULATE_PYTHON=", python))
  expect_identical(run$status, 0L, label = paste(run$output, collapse = "\n"))
  reloaded <- readRDS(result)
  for (statistic in c("mean", "sd", "lower", "upper", "p.zero")) {
    expect_equal(GetStcrossImputation(reloaded$st, statistic), GetStcrossImputation(expected, statistic),
                 tolerance = 1e-6, label = statistic)
  }
  expect_match(reloaded$printed[1], "loaded from")
  expect_equal(reloaded$sc$stcross_x, LocateStcross(example$sc, model, verbose = FALSE)$stcross_x,
               tolerance = 1e-5)
})

test_that("LoadStcross checks its path and arguments", {
  expect_error(LoadStcross(file.path(tempdir(), "no-such-model"), NULL, NULL),
               "No saved stcross model")
  dir <- tempfile()
  dir.create(dir)
  m <- matrix(1, 2, 2, dimnames = list(c("A", "B"), c("a", "b")))
  expect_error(LoadStcross(dir, m, m, coords = matrix(1, 2, 2), fov = "x"),
               "Unknown argument for matrices: fov")
})

test_that("reloading matches genes by name: extra ST genes are ignored, missing ones refused", {
  skip_if_no_python()
  model <- trained_model()
  example <- small_example()
  path <- file.path(tempfile("stcross-test-"), "model")
  SaveStcross(model, path)
  expect_warning(LoadStcross(path, example$sc, example$st_full, verbose = FALSE),
                 "2 genes of the ST data are not among the 31 panel genes the saved model was trained on")
  fewer <- without_fov_noise(subset(example$st, features = setdiff(rownames(example$st), "Crhbp")))
  expect_error(LoadStcross(path, example$sc, fewer, verbose = FALSE),
               "failed while loading.*the ST data lacks 1 of them, e.g. c\\(\"Crhbp\"\\)",
               class = "stcross_input_error")
})

test_that("LoadStcross onto other cells says so, and works", {
  skip_if_no_python()
  model <- trained_model()
  example <- small_example()
  path <- tempfile("stcross-other-cells-")
  SaveStcross(model, path)
  expect_no_warning(LoadStcross(path, example$sc, example$st, verbose = FALSE))
  section <- without_fov_noise(example$st[, 1:120])
  expect_warning(other <- LoadStcross(path, example$sc, section, verbose = FALSE),
                 "loaded onto other cells .*ST: 200 cells at training, 120 here",
                 class = "stcross_warning")
  imputed <- ImputeStcross(section, other, features = "Gad2", verbose = FALSE)
  expect_equal(ncol(imputed[["imputed"]]), 120)
})
