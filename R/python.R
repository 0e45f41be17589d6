#' Is the stcross Python package usable from R?
#'
#' The model runs in Python, reached through reticulate. The interpreter is
#' chosen, in this order, by
#' 1. the environment variable `RETICULATE_PYTHON`,
#' 2. the option `stcross.python` (set it before stcross is loaded),
#' 3. the environment variable `STCROSS_PYTHON`,
#' 4. reticulate's own search.
#'
#' `stcross_python_available()` starts Python if it is not running yet.
#' That Python needs the stcross Python package, at least as new as this R
#' package: `python -m pip install /path/to/stcross` (the directory holding
#' `pyproject.toml`). Python is initialised once per R session; to switch
#' interpreters, restart R.
#'
#' @return `stcross_python_available()`: `TRUE` or `FALSE`, never an error.
#'   Use it to guard examples and tests.
#'   `stcross_python_config()`: a list with the interpreter (`python`), the
#'   versions of both sides (`r.version`, `python.version`) and `available`;
#'   `message` explains what is wrong when `available` is `FALSE`.
#' @examples
#' stcross_python_available()
#' str(stcross_python_config())
#' @export
stcross_python_available <- function() {
  isTRUE(.python_status()$available)
}

#' @rdname stcross_python_available
#' @export
stcross_python_config <- function() {
  status <- .python_status()
  list(
    available = status$available,
    python = status$python,
    r.version = as.character(packageVersion("stcross")),
    python.version = status$version,
    message = status$message
  )
}

# The interpreter asked for by option/env when RETICULATE_PYTHON is unset.
.requested_python <- function() {
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
    return(NULL)
  }
  option <- getOption("stcross.python")
  if (!is.null(option) && nzchar(option)) {
    return(path.expand(option))
  }
  env <- Sys.getenv("STCROSS_PYTHON")
  if (nzchar(env)) {
    return(path.expand(env))
  }
  NULL
}

.select_python <- function() {
  if (reticulate::py_available(initialize = FALSE)) {
    return(invisible())
  }
  python <- .requested_python()
  if (!is.null(python)) {
    reticulate::use_python(python, required = TRUE)
  }
  invisible()
}

# The install hint names the interpreter so the user can copy the command.
.install_hint <- function(python, upgrade = FALSE) {
  python <- if (is.null(python) || !nzchar(python)) "python" else python
  paste0(
    if (upgrade) "Upgrade it in that Python with\n" else "Install it into that Python with\n",
    "    ", python, " -m pip install ", if (upgrade) "--upgrade ", "/path/to/stcross\n",
    "(the directory holding pyproject.toml), or point R at a Python that has it:\n",
    "set RETICULATE_PYTHON (or options(stcross.python = ...) or STCROSS_PYTHON)\n",
    "before stcross is loaded, then restart R."
  )
}

.version_problem <- function(python_version, python) {
  r_version <- packageVersion("stcross")
  py <- tryCatch(package_version(python_version), error = function(e) NULL)
  if (is.null(py)) {
    return(sprintf("The stcross Python package reports an unreadable version (%s).", python_version))
  }
  if (py < r_version) {
    return(paste0(
      sprintf(
        "The stcross Python package (%s) is older than the R package (%s).\n",
        python_version, r_version
      ),
      .install_hint(python, upgrade = TRUE)
    ))
  }
  NULL
}

.no_python_reason <- function() {
  requested <- Sys.getenv("RETICULATE_PYTHON")
  if (nzchar(requested)) {
    return(sprintf(" (RETICULATE_PYTHON=%s could not be started)", requested))
  }
  requested <- .requested_python()
  if (!is.null(requested)) {
    return(sprintf(" (%s could not be started)", requested))
  }
  " (reticulate found no usable Python)"
}

# Everything stcross_python_available()/stcross_python_config() report. A
# positive answer is cached: once Python runs with stcross, it stays so.
.python_status <- function() {
  if (!is.null(.stcross_env$status)) {
    return(.stcross_env$status)
  }
  status <- list(available = FALSE, python = NULL, version = NULL, message = NULL)
  selected <- tryCatch({
    .select_python()
    TRUE
  }, error = function(e) {
    status$message <<- paste0(
      "Could not use the requested Python: ", conditionMessage(e), "\n",
      .install_hint(.requested_python())
    )
    FALSE
  })
  if (!selected) {
    return(status)
  }
  found <- tryCatch(reticulate::py_module_available("stcross"), error = function(e) {
    status$message <<- conditionMessage(e)
    FALSE
  })
  status$python <- tryCatch(reticulate::py_config()$python, error = function(e) NULL)
  if (!isTRUE(found)) {
    status$message <- paste0(
      "The stcross Python package is not available",
      if (is.null(status$python)) .no_python_reason() else
        paste0(" in the Python that R uses (", status$python, ")"),
      ".\n",
      if (!is.null(status$message)) paste0(status$message, "\n"),
      .install_hint(status$python %||% .requested_python() %||% Sys.getenv("RETICULATE_PYTHON"))
    )
    return(status)
  }
  version <- tryCatch(
    as.character(reticulate::py_to_r(reticulate::py_get_attr(.stcross_env$module, "__version__"))),
    error = function(e) {
      status$message <<- paste0(
        "The stcross Python package was found but failed to import:\n",
        conditionMessage(e), "\n", .install_hint(status$python)
      )
      NULL
    }
  )
  if (is.null(version)) {
    return(status)
  }
  status$version <- version
  problem <- .version_problem(version, status$python)
  if (!is.null(problem)) {
    status$message <- problem
    return(status)
  }
  status$available <- TRUE
  .stcross_env$status <- status
  status
}

# The Python module, or one clear error saying how to fix it.
.stcross <- function() {
  status <- .python_status()
  if (!isTRUE(status$available)) {
    stop(.stcross_condition(status$message, "stcross_python_missing"))
  }
  .stcross_env$module
}

.stcross_condition <- function(message, class) {
  structure(
    class = c(class, "stcross_error", "error", "condition"),
    list(message = message, call = NULL)
  )
}
