# Package state: the lazily imported Python module and the last problem met
# while choosing the interpreter (reported by the "Python missing" message).
.stcross_env <- new.env(parent = emptyenv())

.onLoad <- function(libname, pkgname) {
  .stcross_env$select_error <- NULL
  # Choose the interpreter now, before anything else initialises Python, but
  # never fail to load the package because of it.
  tryCatch(.select_python(), error = function(e) {
    .stcross_env$select_error <- conditionMessage(e)
  })
  .stcross_env$module <- reticulate::import(
    "stcross",
    convert = FALSE,
    delay_load = list(before_load = function() .select_python())
  )
  invisible()
}
