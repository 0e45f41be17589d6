# Writing stcross results into Seurat objects: imputation assays, location metadata and
# DimReducs. Plain R on SeuratObject only: the Python package sources this file and
# convert-seurat.R through rpy2 (stcross.io.write_seurat), so both doors write the same
# objects.

# The layer (Seurat 5) holding each statistic of the one imputation assay. The mean sits in
# "data", where Seurat's plots and FetchData() look by default.
.imputation_layers <- c(mean = "data", sd = "sd", lower = "lower", upper = "upper",
                        p.zero = "p.zero")

# Adds the imputation `result` (a list of features x cells matrices named like
# .imputation_layers, plus `info`) for the statistics in `names` (statistic -> assay name).
# one.assay = TRUE (the Seurat 5 default): one Assay5 `names$mean` with a layer per
# statistic. FALSE (Seurat 4): one assay per statistic, its value in the data slot.
.write_imputation <- function(object, result, names, one.assay = .is_seurat_v5()) {
  cells <- colnames(object)
  values <- function(statistic) result[[statistic]][, cells, drop = FALSE]
  key <- function(name) paste0(gsub("[^A-Za-z0-9]", "", name), "_")
  if (one.assay) {
    layers <- lapply(names(names), values)
    names(layers) <- .imputation_layers[names(names)]
    assay <- .layered_assay(layers, key = key(names$mean))
    SeuratObject::Misc(assay, slot = "stcross") <- c(
      list(layers = as.list(.imputation_layers[names(names)])), result$info
    )
    return(.put_assay(object, names$mean, assay))
  }
  for (statistic in names(names)) {
    assay <- SeuratObject::CreateAssayObject(data = values(statistic))
    SeuratObject::Key(assay) <- key(names[[statistic]])
    SeuratObject::Misc(assay, slot = "stcross") <- c(list(statistic = statistic), result$info)
    object <- .put_assay(object, names[[statistic]], assay)
  }
  object
}

# object[[name]] <- assay, replacing any assay of that name. SeuratObject 5 warns that an
# assay without counts has none, and that a replaced assay had other features; both are
# expected here (ImputeStcross() warns about replacing in its own words).
.put_assay <- function(object, name, assay) {
  if (name %in% SeuratObject::Assays(object)) {
    object[[name]] <- NULL
  }
  withCallingHandlers(
    object[[name]] <- assay,
    warning = function(w) {
      if (grepl("^(Layer counts isn't present|No layers found matching)", conditionMessage(w))) {
        invokeRestart("muffleWarning")
      }
    }
  )
  object
}

# Seurat 4 layout: the assay of each statistic is new.assay.name with this suffix (the
# defaults of ImputeStcross()'s *.assay.name arguments).
.v4_suffixes <- c(mean = "", sd = ".sd", lower = ".lower", upper = ".upper", p.zero = ".pzero")

# An Assay5 of dense features x cells layers with identical dimnames, the first the
# default. Built slot by slot: SeuratObject 5.0's CreateAssay5Object() and LayerData<-
# turn dense layers sparse and fail on a single feature (they subset without drop = FALSE).
.layered_assay <- function(layers, key) {
  first <- layers[[1L]]
  assay <- methods::new(
    "Assay5", layers = list(), default = 0L, assay.orig = character(), misc = list(), key = key,
    features = SeuratObject::LogMap(rownames(first)), cells = SeuratObject::LogMap(colnames(first)),
    meta.data = data.frame(row.names = seq_len(nrow(first)))
  )
  for (layer in names(layers)) {
    methods::slot(assay, "layers")[[layer]] <- layers[[layer]]
    methods::slot(assay, "features")[[layer]] <- seq_len(nrow(first))
    methods::slot(assay, "cells")[[layer]] <- seq_len(ncol(first))
  }
  methods::slot(assay, "default") <- 1L
  methods::validObject(assay)
  assay
}

# Adds inferred SC locations (a data.frame of cells x (x, y[, z], sd)) as metadata columns
# `<meta.prefix>_x`, ..., `<meta.prefix>_location_sd` and a DimReduc of the coordinates.
.write_location <- function(object, location, method, reduction.name, reduction.key,
                            meta.prefix, assay) {
  location <- location[colnames(object), , drop = FALSE]
  axes <- setdiff(colnames(location), "sd")
  meta <- location[, c(axes, "sd"), drop = FALSE]
  colnames(meta) <- paste0(meta.prefix, "_", c(axes, "location_sd"))
  object <- SeuratObject::AddMetaData(object, metadata = meta)
  embeddings <- as.matrix(location[, axes, drop = FALSE])
  colnames(embeddings) <- paste0(reduction.key, seq_along(axes))
  object[[reduction.name]] <- SeuratObject::CreateDimReducObject(
    embeddings = embeddings, key = reduction.key, assay = assay,
    misc = list(stcross = list(method = method, axes = axes))
  )
  object
}

# Adds an embedding (a cells x dimensions matrix with cell rownames); misc records the modality
# and whether it is the joint embedding (TRUE) or the raw latent space (FALSE).
.write_embedding <- function(object, latent, modality, reduction.name, reduction.key, assay, joint = TRUE) {
  latent <- latent[colnames(object), , drop = FALSE]
  colnames(latent) <- paste0(reduction.key, seq_len(ncol(latent)))
  object[[reduction.name]] <- SeuratObject::CreateDimReducObject(
    embeddings = latent, key = reduction.key, assay = assay,
    misc = list(stcross = list(modality = modality, joint = joint))
  )
  object
}

#' Read an imputed statistic back from a Seurat object
#'
#' [ImputeStcross()] stores its results by Seurat version: on Seurat 5 one
#' assay (`"imputed"`) with a layer per statistic, on Seurat 4 one assay per
#' statistic (`"imputed"`, `"imputed.sd"`, ...). This reads either.
#'
#' @param object The ST Seurat object [ImputeStcross()] wrote to.
#' @param statistic `"mean"`, `"sd"`, `"lower"`, `"upper"` or `"p.zero"`.
#' @param new.assay.name The `new.assay.name` given to [ImputeStcross()].
#' @return A features x cells matrix.
#' @examples
#' if (stcross_python_available()) {
#'   data <- LoadStcrossExample("osmfish")
#'   st <- subset(data$st[, 1:300], features = setdiff(rownames(data$st), "Gad2"))
#'   model <- TrainStcross(data$sc[, 1:200], st, max.epochs = 1, verbose = FALSE)
#'   st <- ImputeStcross(st, model, features = "Gad2", verbose = FALSE)
#'   GetStcrossImputation(st, "sd")[, 1:3]
#' }
#' @export
GetStcrossImputation <- function(object, statistic = c("mean", "sd", "lower", "upper", "p.zero"),
                                 new.assay.name = "imputed") {
  statistic <- match.arg(statistic)
  assays <- SeuratObject::Assays(object)
  if (!new.assay.name %in% assays) {
    stop(sprintf("The object has no assay %s; run ImputeStcross() first (its assays: %s).",
                 .quote(new.assay.name), paste(.quote(assays), collapse = ", ")), call. = FALSE)
  }
  if (inherits(object[[new.assay.name]], "Assay5")) {
    assay <- new.assay.name
    layer <- .imputation_layers[[statistic]]
  } else {
    assay <- paste0(new.assay.name, .v4_suffixes[[statistic]])
    layer <- "data"
    if (!assay %in% assays) {
      stop(sprintf("The object has no assay %s: ImputeStcross() skipped it or named it otherwise.",
                   .quote(assay)), call. = FALSE)
    }
  }
  .assay_matrix(object, assay, layer, "ST")
}
