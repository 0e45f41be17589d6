# The R door: threads per call, live messages, R-worded conditions, R-style arguments.

in_python_call <- function() {
  calls <- vapply(sys.calls(), function(call) deparse(call, nlines = 1L)[1], character(1))
  any(grepl("py_call_impl", calls, fixed = TRUE))
}

test_that("a message from training reaches R while Python is still running", {
  skip_if_no_python()
  example <- small_example()
  live <- logical()
  capture.output(type = "message", {
    model <- withCallingHandlers(
      TrainStcross(example$sc, example$st, max.epochs = 2, seed.use = 1),
      message = function(m) {
        if (grepl("^stcross: Trained for", conditionMessage(m))) live <<- c(live, in_python_call())
        invokeRestart("muffleMessage")
      }
    )
  })
  expect_identical(live, TRUE)
  expect_s3_class(model, "stcross_model")
})

test_that("threads apply to the call and the caller's torch setting comes back", {
  skip_if_no_python()
  example <- small_example()
  torch <- reticulate::import("torch")
  before <- torch$get_num_threads()
  on.exit(torch$set_num_threads(before))
  torch$set_num_threads(3L)
  model <- TrainStcross(example$sc, example$st, max.epochs = 1, threads = 1, verbose = FALSE)
  expect_identical(torch$get_num_threads(), 3L)
  ImputeStcross(model, features = "Gad2", threads = 2, verbose = FALSE)
  LocateStcross(model, threads = 2, verbose = FALSE)
  expect_identical(torch$get_num_threads(), 3L)
  expect_error(TrainStcross(example$sc, example$st, threads = 0, verbose = FALSE),
               "threads must be a whole number >= 1")
})

test_that("torch is imported away from R's BLAS", {
  skip_if_no_python()
  stcross_python_available()
  flag <- reticulate::py_eval("__import__('stcross').torch_import.isolated_from_host_blas")
  expect_true(flag)
})

test_that("CalibrateStcross takes R-style arguments and print() says it is calibrated", {
  skip_if_no_python()
  example <- small_example()
  model <- TrainStcross(example$sc, example$st, max.epochs = 1, verbose = FALSE)
  expect_match(format(model), "not calibrated \\(run CalibrateStcross\\(\\)\\)", all = FALSE)
  messages <- character()
  capture.output(type = "message", withCallingHandlers(  # the progress bar goes to stderr
    CalibrateStcross(model, n.folds = 2, max.epochs = 1, level.bins = 2, method = "refits", verbose = TRUE),
    message = function(m) {
      messages <<- c(messages, conditionMessage(m))
      invokeRestart("muffleMessage")
    }
  ))
  expect_match(format(model), "intervals: calibrated", all = FALSE)
  # one line per fold, none from inside the refits
  expect_length(grep("Calibration fold", messages), 2L)
  expect_length(grep("Trained for|not calibrated", messages), 0L)
  expect_error(CalibrateStcross(model, n.folds = 2, bogus.option = 1, verbose = FALSE),
               "unknown argument 'bogus.option'", class = "stcross_type_error")
  # by default, one masked-gene training instead of a refit per fold
  CalibrateStcross(model, n.folds = 2, max.epochs = 1, verbose = FALSE)
  info <- reticulate::py_to_r(model$py$calibration$info)
  expect_match(info$method, "masked-gene training")
  expect_length(info$epochs, 1L)
  expect_error(CalibrateStcross(model, method = "quick", verbose = FALSE), "should be one of")
})

test_that("Python's advice reaches R users in R's words", {
  skip_if_no_python()
  example <- small_example()
  model <- trained_model()
  # an INFO record naming a Python method
  messages <- character()
  withCallingHandlers(
    ImputeStcross(model, features = "Gad2"),
    message = function(m) {
      messages <<- c(messages, conditionMessage(m))
      invokeRestart("muffleMessage")
    }
  )
  expect_match(messages, "run CalibrateStcross\\(\\)", all = FALSE)
  expect_false(any(grepl("model.calibrate", messages, fixed = TRUE)))
  # errors naming Python attributes and keyword arguments
  expect_error(ImputeStcross(model, features = "NotAGene", verbose = FALSE),
               "model$imputable.genes", fixed = TRUE, class = "stcross_input_error")
  path <- tempfile()
  SaveStcross(model, path)
  expect_error(SaveStcross(model, path), "overwrite = TRUE", fixed = TRUE)
  counts <- layer_data(example$sc)
  counts@x <- counts@x + 0.5
  xy <- as.matrix(example$st[[c("x", "y")]])
  st_counts <- layer_data(example$st)
  error <- tryCatch(TrainStcross(counts, st_counts, coords = xy, verbose = FALSE),
                    error = function(e) e)
  expect_match(conditionMessage(error), 'likelihood.sc = "gaussian"', fixed = TRUE)
  expect_match(conditionMessage(error), 'sc.layer = "counts"', fixed = TRUE)
  expect_false(grepl("adata_sc|likelihood_sc|layer='", conditionMessage(error)))
  lower <- st_counts
  rownames(lower) <- tolower(rownames(lower))
  error <- tryCatch(TrainStcross(counts, lower, coords = xy, verbose = FALSE), error = function(e) e)
  expect_match(conditionMessage(error), "case.insensitive = TRUE", fixed = TRUE)
})

test_that("Python phrases are rewritten for R", {
  words <- stcross:::.r_words
  expect_identical(
    words(paste0("adata_st has duplicated gene names (e.g. ['A', 'B']). Make them unique on a copy, ",
                 "e.g. `a = adata_st.copy(); a.var_names_make_unique()`, or remove the duplicates.")),
    paste0("the ST data has duplicated gene names (e.g. c(\"A\", \"B\")). Make them unique on a copy, ",
           "e.g. rownames(x) <- make.unique(rownames(x)) on the ST matrix, or remove the duplicates.")
  )
  expect_identical(words("pass case_insensitive=True; n_samples=0 or device='cpu'"),
                   "pass case.insensitive = TRUE; n.samples = 0 or device = \"cpu\"")
  expect_identical(stcross:::.py_kwargs(list(max.epochs = 3, seed.use = 1), "X"),
                   list(max_epochs = 3L, seed = 1L))
  expect_error(stcross:::.py_kwargs(list(3), "CalibrateStcross"), "CalibrateStcross\\(\\): extra arguments")
})

test_that("a second imputation into the same assays says it replaces them", {
  skip_if_no_python()
  example <- small_example()
  model <- trained_model()
  st <- ImputeStcross(example$st, model, features = example$hidden, verbose = FALSE)
  expect_warning(st <- ImputeStcross(st, model, features = "Gad2", verbose = FALSE),
                 "replaces the existing assays? .*\\(2 genes\\) with this imputation \\(1 genes\\)",
                 class = "stcross_assay_replaced")
  expect_identical(rownames(st[["imputed"]]), "Gad2")
})

test_that("Python warnings raised during a call become classed R warnings, not stderr text", {
  skip_if_no_python()
  stcross_python_available()
  expect_warning(
    stcross:::.py_call(reticulate::py_run_string("import warnings; warnings.warn('from a library')"),
                       "testing", verbose = FALSE),
    "stcross: UserWarning: from a library", class = "stcross_python_warning"
  )
})

test_that("whole numbers, zero included, reach Python as integers through ...", {
  skip_if_no_python()
  model <- trained_model()
  expect_no_error(ImputeStcross(model, features = "Gad2", n.samples = 2, seed.use = 0, verbose = FALSE))
  expect_identical(stcross:::.py_kwargs(list(n.samples = 0, level.bins = 2, lr = 0.5), "X"),
                   list(n_samples = 0L, level_bins = 2L, lr = 0.5))
})
