#' Calibrate the prediction intervals of an stcross model
#'
#' Conformal calibration on held-out measured genes: folds of the ST panel
#' genes are hidden, predicted as if unmeasured, and their errors, scaled by
#' each value's predicted spread, turn the predictive spread into intervals
#' with the nominal coverage. Later [ImputeStcross()] calls then report
#' calibrated intervals (`calibrated = TRUE` in the assays' `Misc`).
#'
#' The Python model is changed in place; the handle is returned invisibly for
#' use in pipes.
#'
#' @param model An [stcross_model].
#' @param n.folds Number of gene folds.
#' @param verbose Show messages from Python.
#' @param ... Further arguments passed to the Python `calibrate()` method.
#' @return `model`, invisibly.
#' @examples
#' \donttest{
#' # calibration retrains the model once per fold
#' if (stcross_python_available()) {
#'   data <- LoadStcrossExample("osmfish")
#'   sc <- data$sc[, 1:200]
#'   st <- data$st[, 1:300]
#'   model <- TrainStcross(sc, st, max.epochs = 1, verbose = FALSE)
#'   CalibrateStcross(model, n.folds = 3)
#' }
#' }
#' @export
CalibrateStcross <- function(model, n.folds = 5, verbose = TRUE, ...) {
  .check_model(model)
  .py_call(model$py$calibrate(n_folds = .count(n.folds, "n.folds", min = 2L), ...),
           "calibrating the intervals", verbose)
  invisible(model)
}
