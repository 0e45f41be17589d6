#' stcross: join single-cell RNA-seq and spatial transcriptomics
#'
#' A thin Seurat interface to the `stcross` Python package. One cross-modal
#' model, trained on a single-cell RNA-seq object and a single-cell-resolution
#' spatial object, gives
#' * imputed expression of genes the spatial panel did not measure, with a
#'   predictive distribution for every value ([ImputeStcross()]);
#' * tissue coordinates, with an uncertainty, for every single cell
#'   ([LocateStcross()]);
#' * a joint embedding of both modalities ([EmbedStcross()]).
#'
#' Train with [TrainStcross()], keep the model with [SaveStcross()] and
#' [LoadStcross()]. The model runs in Python; see [stcross_python_available()]
#' for how the interpreter is chosen. [LoadStcrossExample()] returns the
#' bundled real example data as Seurat objects.
#'
#' @keywords internal
"_PACKAGE"

#' @importFrom methods new
#' @importClassesFrom Matrix dgCMatrix
#' @importFrom utils packageVersion head
NULL
