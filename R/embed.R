#' The joint embedding of single cells and spatial cells
#'
#' Both modalities are embedded in one space. The Seurat method adds this
#' embedding as a DimReduc to either object (run it on both: SC and ST cells
#' then share coordinates, e.g. for `RunUMAP(reduction = "stcross")` on a
#' merged object).
#'
#' By default (`joint = TRUE`) this is the joint embedding: the model's latent
#' space with each modality centred and every cell placed halfway between its
#' own latent and the mean latent of its 5 best cross-modal partners (cells
#' with matching shared-gene expression). How to read it: SC and ST cells of
#' one type should sit together, and types apart. Mixing is not proof of a
#' match: every cell is drawn towards its best partners, so a type that one
#' side lacks can still look mixed (SC astrocytes with every ST astrocyte
#' removed mixed as well as the other SC cells; benchmarks/REPORT.md); check
#' types on both sides where labels exist. With `joint = FALSE` you get the raw latent space
#' the model imputes from; there the two modalities keep an offset (on the
#' osmFISH example almost every ST cell's neighbours are ST cells), which is
#' not a failed training: imputation and location work through partners. The
#' benchmark report measures both views (modality mixing, type purity).
#'
#' @param object For the Seurat method, the SC or the ST object the model was
#'   trained on. For the matrix interface, the [stcross_model].
#' @param model An [stcross_model].
#' @param modality `"sc"` or `"st"`; `NULL` tells them apart by the cell names.
#' @param joint `TRUE` (default) for the joint embedding, `FALSE` for the raw
#'   latent space (see Details above).
#' @param reduction.name Name of the DimReduc to add.
#' @param reduction.key Key of the DimReduc.
#' @param assay Assay the DimReduc is associated with; `NULL` for
#'   `DefaultAssay(object)`.
#' @param threads Torch threads for this call (see [TrainStcross()]).
#' @param verbose Show messages.
#' @param ... Ignored.
#' @return The Seurat method returns `object` with the DimReduc. The matrix
#'   interface returns the cells x latent-dimensions matrix of `modality`, or,
#'   when `modality = NULL`, a list with both (`sc`, `st`).
#' @seealso [TrainStcross()]
#' @examples
#' if (stcross_python_available()) {
#'   data <- LoadStcrossExample("osmfish")
#'   sc <- data$sc[, 1:200]
#'   st <- data$st[, 1:300]
#'   model <- TrainStcross(sc, st, max.epochs = 1, verbose = FALSE)
#'   sc <- EmbedStcross(sc, model)
#'   st <- EmbedStcross(st, model)
#'   dim(SeuratObject::Embeddings(st, "stcross"))
#' }
#' @export
EmbedStcross <- function(object, ...) {
  UseMethod("EmbedStcross")
}

#' @rdname EmbedStcross
#' @export
EmbedStcross.Seurat <- function(object, model, modality = NULL, reduction.name = "stcross",
                                reduction.key = "STCROSS_", assay = NULL, threads = 1,
                                verbose = TRUE, joint = TRUE, ...) {
  .check_model(model)
  modality <- .match_cells(object, model, modality)
  .check_key(reduction.key)
  assay <- assay %||% SeuratObject::DefaultAssay(object)
  embedding <- .embedding(model, modality, threads, joint)
  object <- .write_embedding(object, embedding, modality = modality, reduction.name = reduction.name,
                             reduction.key = reduction.key, assay = assay, joint = joint)
  if (verbose) {
    message(sprintf("Added reduction %s (%s, %d dimensions, %s cells).",
                    .quote(reduction.name), if (joint) "joint embedding" else "latent space",
                    ncol(embedding), toupper(modality)))
  }
  model <- .model_label(model)
  object <- SeuratObject::LogSeuratCommand(object)
  object
}

#' @rdname EmbedStcross
#' @export
EmbedStcross.stcross_model <- function(object, modality = NULL, threads = 1, joint = TRUE, ...) {
  .check_model(object)
  if (is.null(modality)) {
    return(list(sc = .embedding(object, "sc", threads, joint), st = .embedding(object, "st", threads, joint)))
  }
  .embedding(object, match.arg(modality, c("sc", "st")), threads, joint)
}

#' @export
EmbedStcross.default <- function(object, ...) {
  stop(sprintf(
    "EmbedStcross() needs a Seurat object and a model, or an stcross_model; got %s.",
    paste(class(object), collapse = "/")
  ), call. = FALSE)
}

.embedding <- function(model, modality, threads = 1, joint = FALSE) {
  if (!is.logical(joint) || length(joint) != 1L || is.na(joint)) {
    stop("joint must be TRUE (the joint embedding) or FALSE (the raw latent space).", call. = FALSE)
  }
  embed <- if (joint) model$py$joint_embedding else model$py$latent
  z <- .py_call(embed(modality, threads = .count(threads, "threads")),
                "computing the embedding", verbose = FALSE)
  cells <- if (modality == "sc") model$sc.cells else model$st.cells
  z <- reticulate::py_to_r(reticulate::import("numpy", convert = FALSE)$asarray(z, dtype = "float64"))
  if (!is.matrix(z) || nrow(z) != length(cells)) {
    stop("Internal error: the embedding does not have one row per cell.", call. = FALSE)
  }
  dimnames(z) <- list(cells, paste0("latent_", seq_len(ncol(z))))
  z
}
