# Calling the Python core from R: its log records reach R as messages and warnings while
# the call runs (with an R progress bar for long calls), and its errors become classed R
# conditions worded for R users.

# Run a Python call. `expr` is evaluated lazily, inside the forwarding.
.py_call <- function(expr, doing, verbose = TRUE) {
  relay <- .relay(verbose)
  forwarding <- .forwarding_module()$Forwarding(
    relay$callback,
    level = if (verbose) 20L else 30L,
    progress = isTRUE(verbose)
  )
  forwarding$start()
  on.exit({
    forwarding$stop()
    relay$close()
  }, add = TRUE)
  tryCatch(expr, error = function(e) stop(.python_error(e, doing)))
}

.forwarding_module <- function() {
  .stcross()
  if (is.null(.stcross_env$forwarding)) {
    .stcross_env$forwarding <- reticulate::import("stcross.forwarding", convert = FALSE)
  }
  .stcross_env$forwarding
}

# The R side of stcross.forwarding: messages, warnings and one progress bar (for the
# first task a call reports; the calibration's own training runs inside it).
.relay <- function(verbose) {
  bar <- NULL
  main_task <- NULL
  close_bar <- function() {
    if (!is.null(bar)) {
      close(bar)
      bar <<- NULL
    }
  }
  callback <- function(kind, level, text, task, done, total) {
    kind <- .r_value(kind)
    text <- .r_words(.r_value(text))
    if (identical(kind, "progress")) {
      task <- .r_value(task)
      main_task <<- main_task %||% task
      if (verbose && identical(task, main_task)) {
        done <- .r_value(done)
        total <- .r_value(total)
        if (is.null(bar)) {
          bar <<- utils::txtProgressBar(min = 0, max = max(1, total), style = 3, file = stderr())
        }
        utils::setTxtProgressBar(bar, done)
        if (done >= total) close_bar()
      }
    } else if (identical(kind, "warning") || .r_value(level) >= 30L) {
      close_bar()
      warning(.stcross_warning(paste0("stcross: ", text),
                               if (identical(kind, "warning")) "stcross_python_warning"))
    } else {
      close_bar()
      message("stcross: ", text)
    }
    invisible(NULL)
  }
  list(callback = callback, close = close_bar)
}

.r_value <- function(x) {
  if (inherits(x, "python.builtin.object")) reticulate::py_to_r(x) else x
}

.stcross_warning <- function(message, class = NULL) {
  structure(
    class = c(class, "stcross_warning", "warning", "condition"),
    list(message = message, call = NULL)
  )
}

# A Python exception as a classed R error: "stcross_python_error" plus a class per
# Python type (InputError -> "stcross_input_error", TypeError -> "stcross_type_error"), worded for R.
.python_error <- function(e, doing) {
  if (inherits(e, "stcross_error")) {
    return(e)
  }
  text <- sub("\\s+$", "", conditionMessage(e))
  text <- sub("^Error in py_call_impl[^:]*:\\s*", "", text)
  type <- regmatches(text, regexpr("^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception)(?=:)", text, perl = TRUE))
  if (length(type)) {
    text <- sub("^[^:]+:\\s*", "", text)
  }
  # Python's traceback is for developers; the message is what the user needs.
  text <- sub("\\n+(Run `reticulate::py_last_error\\(\\)`|Detailed traceback).*$", "", text)
  type_class <- if (length(type)) {
    short <- sub(".*\\.", "", type)
    # InputTypeError, InputKeyError, ... are all bad input: they carry stcross_input_error too.
    c(paste0("stcross_", tolower(gsub("([a-z0-9])([A-Z])", "\\1_\\2", short))),
      if (startsWith(short, "Input") && short != "InputError") "stcross_input_error")
  }
  .stcross_condition(
    sprintf("stcross (Python) failed while %s:\n%s", doing, .r_words(text)),
    c(type_class, "stcross_python_error")
  )
}
