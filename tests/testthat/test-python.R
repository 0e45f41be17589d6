test_that("stcross_python_config() reports both versions", {
  config <- stcross_python_config()
  expect_named(config, c("available", "python", "r.version", "python.version", "message"))
  expect_identical(config$r.version, as.character(packageVersion("stcross")))
  expect_type(stcross_python_available(), "logical")
  if (isTRUE(config$available)) {
    expect_null(config$message)
    expect_false(package_version(config$python.version) < packageVersion("stcross"))
  } else {
    expect_match(config$message, "pip install")
  }
})

test_that("an older Python core is refused with an upgrade hint", {
  problem <- stcross:::.version_problem("0.0.1", "/some/python")
  expect_match(problem, "older than the R package")
  expect_match(problem, "/some/python -m pip install --upgrade /path/to/stcross", fixed = TRUE)
  expect_null(stcross:::.version_problem(as.character(packageVersion("stcross")), "python"))
})

test_that("the interpreter is chosen by RETICULATE_PYTHON, then the option, then STCROSS_PYTHON", {
  withr_env <- function(vars, code) {
    old <- Sys.getenv(names(vars), unset = NA)
    on.exit({
      for (name in names(old)) {
        if (is.na(old[[name]])) Sys.unsetenv(name) else do.call(Sys.setenv, as.list(old[name]))
      }
    })
    for (name in names(vars)) {
      if (is.na(vars[[name]])) Sys.unsetenv(name) else do.call(Sys.setenv, as.list(vars[name]))
    }
    code
  }
  old_option <- options(stcross.python = "/opt/from-option/python")
  on.exit(options(old_option))
  withr_env(c(RETICULATE_PYTHON = "/from/reticulate", STCROSS_PYTHON = "/from/env"),
            expect_null(stcross:::.requested_python()))
  withr_env(c(RETICULATE_PYTHON = NA, STCROSS_PYTHON = "/from/env"),
            expect_identical(stcross:::.requested_python(), "/opt/from-option/python"))
  options(stcross.python = NULL)
  withr_env(c(RETICULATE_PYTHON = NA, STCROSS_PYTHON = "/from/env"),
            expect_identical(stcross:::.requested_python(), "/from/env"))
})

test_that("a missing Python gives one clear error with the fix", {
  skip_on_os("windows")
  code <- c(
    "library(stcross)",
    "cat('available:', stcross_python_available(), '\\n')",
    "sc <- SeuratObject::CreateSeuratObject(counts = Matrix::Matrix(diag(3) + 1, sparse = TRUE, dimnames = list(c('A','B','C'), c('a','b','c'))))",
    "st <- sc; st$x <- 1:3; st$y <- 3:1",
    "e <- tryCatch(TrainStcross(sc, st, coords = c('x', 'y')), error = function(e) e)",
    "cat('class:', class(e)[1], '\\n'); cat(conditionMessage(e), '\\n')"
  )
  via_reticulate <- run_rscript(code, env = "RETICULATE_PYTHON=/nonexistent/bin/python")
  out <- paste(via_reticulate$output, collapse = "\n")
  expect_match(out, "available: FALSE")
  expect_match(out, "class: stcross_python_missing")
  expect_match(out, "pip install /path/to/stcross", fixed = TRUE)

  via_env <- run_rscript(code, env = c("-u", "RETICULATE_PYTHON",
                                       "STCROSS_PYTHON=/nonexistent/bin/python"))
  out <- paste(via_env$output, collapse = "\n")
  expect_match(out, "available: FALSE")
  expect_match(out, "/nonexistent/bin/python", fixed = TRUE)
  expect_match(out, "pip install", fixed = TRUE)
})
