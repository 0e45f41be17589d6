# Reading Seurat objects through accessors only, so that Seurat v4 `Assay` and
# v5 `Assay5` objects both work. Plain R on SeuratObject only: the Python package
# sources this file through rpy2 (stcross.io.read_seurat), so both doors read alike.

.is_seurat_v5 <- function() {
  packageVersion("SeuratObject") >= "5.0.0"
}

.check_seurat <- function(object, role) {
  if (!inherits(object, "Seurat")) {
    stop(sprintf("The %s object must be a Seurat object, not %s.", role,
                 paste(class(object), collapse = "/")), call. = FALSE)
  }
  made_with_v5 <- vapply(methods::slot(object, "assays"), function(a) class(a)[1] == "Assay5",
                         logical(1))
  if (any(made_with_v5) && !.is_seurat_v5()) {
    stop(sprintf(paste0(
      "The %s object was made with Seurat 5 (assay %s is an Assay5) but this R has SeuratObject %s, ",
      "which cannot read it: install SeuratObject >= 5.0 (R >= 4.1)."
    ), role, .quote(names(made_with_v5)[made_with_v5][1]), format(packageVersion("SeuratObject"))),
    call. = FALSE)
  }
  if (ncol(object) == 0L) {
    stop(sprintf("The %s object has no cells.", role), call. = FALSE)
  }
  invisible(object)
}

# The features x cells matrix of one assay layer (v5) or slot (v4).
.assay_matrix <- function(object, assay = NULL, layer = "counts", role) {
  .check_seurat(object, role)
  assay <- assay %||% SeuratObject::DefaultAssay(object)
  assays <- SeuratObject::Assays(object)
  if (!is.character(assay) || length(assay) != 1L || !assay %in% assays) {
    stop(sprintf(
      "The %s object has no assay %s; its assays are: %s.",
      role, .quote(assay), paste(.quote(assays), collapse = ", ")
    ), call. = FALSE)
  }
  if (!is.character(layer) || length(layer) != 1L) {
    stop(sprintf("The %s layer must be one name such as \"counts\" or \"data\".", role),
         call. = FALSE)
  }
  assay_object <- object[[assay]]
  if (.is_seurat_v5()) {
    # Named through getExportedValue(): SeuratObject 4 has no LayerData/Layers.
    layers <- getExportedValue("SeuratObject", "Layers")(assay_object)
    split <- grep(paste0("^", layer, "\\."), layers, value = TRUE)
    if (!layer %in% layers && length(split)) {
      # Split by sample (split(obj[["RNA"]], f = obj$sample)): the model wants every cell.
      message(sprintf("Joining the %d split %s layers of assay %s (%s) for stcross.",
                      length(split), .quote(layer), .quote(assay), paste(.quote(split), collapse = ", ")))
      assay_object <- getExportedValue("SeuratObject", "JoinLayers")(assay_object, layers = layer)
      layers <- getExportedValue("SeuratObject", "Layers")(assay_object)
    }
    if (!layer %in% layers) {
      stop(sprintf(
        "Assay %s of the %s object has no layer %s; its layers are: %s.",
        .quote(assay), role, .quote(layer), paste(.quote(layers), collapse = ", ")
      ), call. = FALSE)
    }
    x <- getExportedValue("SeuratObject", "LayerData")(assay_object, layer = layer)
  } else {
    slots <- c("counts", "data", "scale.data")
    if (!layer %in% slots) {
      stop(sprintf(
        "Assay %s of the %s object has no layer %s; Seurat v4 assays hold %s.",
        .quote(assay), role, .quote(layer), paste(.quote(slots), collapse = ", ")
      ), call. = FALSE)
    }
    x <- SeuratObject::GetAssayData(assay_object, slot = layer)
  }
  if (is.null(x) || nrow(x) == 0L || ncol(x) == 0L) {
    stop(sprintf(
      "Layer %s of assay %s in the %s object is empty; choose another layer (e.g. %s = \"data\") or assay.",
      .quote(layer), .quote(assay), role, paste0(tolower(role), ".layer")
    ), call. = FALSE)
  }
  if (!inherits(x, "Matrix") && !is.matrix(x)) {
    # e.g. on-disk (BPCells) layers: bring them into memory as sparse.
    x <- methods::as(x, "dgCMatrix")
  }
  if (is.null(rownames(x)) || is.null(colnames(x))) {
    dimnames(x) <- list(rownames(assay_object), colnames(assay_object))
  }
  # A layer may hold its cells in another order (e.g. after joining split layers).
  if (!identical(colnames(x), colnames(object)) && setequal(colnames(x), colnames(object))) {
    x <- x[, colnames(object), drop = FALSE]
  }
  x
}

# ST coordinates as a numeric cells x 2 (or 3) matrix in the object's cell order.
.seurat_coordinates <- function(object, coords = NULL, fov = NULL) {
  cells <- colnames(object)
  if (is.null(coords)) {
    images <- SeuratObject::Images(object)
    if (length(images) == 0L) {
      stop(paste0(
        "The ST object has no coordinates: it has no FOV (image) and coords = NULL. ",
        "Pass coords = c(\"x\", \"y\") (names of metadata columns) or a matrix with one row per ",
        "cell, or add an FOV with SeuratObject::CreateFOV()."
      ), call. = FALSE)
    }
    fov <- fov %||% images[1]
    if (!fov %in% images) {
      stop(sprintf("The ST object has no FOV or image %s; it has: %s.",
                   .quote(fov), paste(.quote(images), collapse = ", ")), call. = FALSE)
    }
    image <- object[[fov]]
    # An FOV from LoadXenium() & co. holds cell outlines too: take one point per cell.
    boundaries <- if (inherits(image, "FOV")) SeuratObject::Boundaries(image) else character()
    table <- as.data.frame(if ("centroids" %in% boundaries) {
      SeuratObject::GetTissueCoordinates(image, which = "centroids")
    } else {
      SeuratObject::GetTissueCoordinates(image)
    })
    if ("cell" %in% colnames(table)) {
      rownames(table) <- table$cell
    }
    axes <- intersect(c("x", "y", "z"), colnames(table))
    if (length(axes) < 2L) {
      axes <- names(which(vapply(table, is.numeric, logical(1))))[1:2]
    }
    return(.coordinate_matrix(table[, axes, drop = FALSE], cells, sprintf("FOV %s", .quote(fov))))
  }
  if (is.character(coords)) {
    meta <- object[[]]
    missing <- setdiff(coords, colnames(meta))
    if (length(missing)) {
      stop(sprintf("The ST object has no metadata column %s (coords = %s).",
                   paste(.quote(missing), collapse = ", "),
                   paste(deparse(coords), collapse = "")), call. = FALSE)
    }
    return(.coordinate_matrix(meta[, coords, drop = FALSE], cells, "the metadata columns"))
  }
  .coordinate_matrix(coords, cells, "coords")
}

# Check a matrix/data.frame of coordinates and order its rows like `cells`.
.coordinate_matrix <- function(coords, cells, what) {
  if (!is.matrix(coords) && !is.data.frame(coords)) {
    stop(sprintf(
      "coords must be metadata column names, a matrix or a data.frame, not %s.",
      paste(class(coords), collapse = "/")
    ), call. = FALSE)
  }
  if (is.data.frame(coords)) {
    numeric <- vapply(coords, is.numeric, logical(1))
    if (!all(numeric)) {
      stop(sprintf("Coordinates from %s must be numeric; %s is not.", what,
                   paste(.quote(names(coords)[!numeric]), collapse = ", ")), call. = FALSE)
    }
    coords <- as.matrix(coords)
  }
  if (!is.numeric(coords)) {
    stop(sprintf("Coordinates from %s must be numeric.", what), call. = FALSE)
  }
  if (!ncol(coords) %in% c(2L, 3L)) {
    stop(sprintf("Coordinates from %s have %d columns; expected 2 (x, y) or 3 (x, y, z).",
                 what, ncol(coords)), call. = FALSE)
  }
  if (!is.null(rownames(coords))) {
    absent <- setdiff(cells, rownames(coords))
    if (length(absent)) {
      stop(sprintf("Coordinates from %s lack %d of the %d ST cells (e.g. %s).", what,
                   length(absent), length(cells), paste(.quote(head(absent, 3)), collapse = ", ")),
           call. = FALSE)
    }
    coords <- coords[cells, , drop = FALSE]
  } else if (nrow(coords) != length(cells)) {
    stop(sprintf("Coordinates from %s have %d rows but there are %d ST cells.", what,
                 nrow(coords), length(cells)), call. = FALSE)
  }
  if (anyNA(coords) || any(!is.finite(coords))) {
    stop(sprintf("Coordinates from %s contain NA or infinite values.", what), call. = FALSE)
  }
  storage.mode(coords) <- "double"
  dimnames(coords) <- list(cells, c("x", "y", "z")[seq_len(ncol(coords))])
  coords
}

# A features x cells matrix from the matrix interface, checked for names.
.check_matrix <- function(x, role) {
  if (!is.matrix(x) && !inherits(x, "Matrix") && !is.data.frame(x)) {
    stop(sprintf(
      "The %s data must be a features x cells matrix or sparse Matrix, not %s.",
      role, paste(class(x), collapse = "/")
    ), call. = FALSE)
  }
  if (nrow(x) == 0L || ncol(x) == 0L) {
    stop(sprintf("The %s matrix is empty (%d x %d).", role, nrow(x), ncol(x)), call. = FALSE)
  }
  if (is.null(rownames(x)) || is.null(colnames(x))) {
    stop(sprintf(
      "The %s matrix needs gene names as rownames and cell names as colnames (features x cells).",
      role
    ), call. = FALSE)
  }
  x
}

.quote <- function(x) {
  if (is.null(x)) "NULL" else paste0("\"", x, "\"")
}

`%||%` <- function(x, y) if (is.null(x)) y else x
