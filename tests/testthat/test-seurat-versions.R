# Seurat 5 objects as users make them (Assay5, split layers, Xenium-like FOVs), and the
# Seurat 4 layouts they replace. CI runs this file on Seurat 4.3 (the host) and on
# Seurat 5.2 (.ci/seurat-v5.sh); tests that need one version skip on the other.

skip_unless_v5 <- function() {
  if (!stcross:::.is_seurat_v5()) testthat::skip("needs SeuratObject 5")
}

test_that("CreateSeuratObject's default assay class is read, on either version", {
  object <- toy_seurat(n.genes = 5, n.cells = 7)
  expected <- if (stcross:::.is_seurat_v5()) "Assay5" else "Assay"
  expect_s4_class(object[["RNA"]], expected)
  x <- stcross:::.assay_matrix(object, NULL, "counts", "ST")
  expect_s4_class(x, "dgCMatrix")
  expect_identical(dim(x), c(5L, 7L))
  expect_identical(colnames(x), colnames(object))
})

test_that("a Seurat 5 object met by SeuratObject 4 is a clear error", {
  if (stcross:::.is_seurat_v5()) testthat::skip("SeuratObject 5 reads Seurat 5 objects")
  object <- toy_seurat()
  # What readRDS() gives on SeuratObject 4 for a Seurat 5 object: an assay of a class it lacks.
  assay <- methods::slot(object, "assays")[["RNA"]]
  class(assay) <- structure("Assay5", package = "SeuratObject")
  assays <- methods::slot(object, "assays")
  assays[["RNA"]] <- assay
  methods::slot(object, "assays", check = FALSE) <- assays
  expect_error(stcross:::.check_seurat(object, "ST"),
               "made with Seurat 5 \\(assay \"RNA\" is an Assay5\\) but this R has SeuratObject 4")
})

test_that("counts and data layers (Seurat 5) or slots (Seurat 4) are read by name", {
  object <- toy_seurat(n.genes = 5, n.cells = 7)
  counts <- layer_data(object, "counts")
  logged <- log1p(counts)
  if (stcross:::.is_seurat_v5()) {
    SeuratObject::LayerData(object, layer = "data") <- logged
  } else {
    object <- SeuratObject::SetAssayData(object, slot = "data", new.data = logged)
  }
  expect_equal(stcross:::.assay_matrix(object, NULL, "data", "ST"), logged)
  expect_equal(stcross:::.assay_matrix(object, NULL, "counts", "ST"), counts)
})

test_that("split layers (one per sample) are joined, in the object's cell order", {
  skip_unless_v5()
  object <- toy_seurat(n.genes = 6, n.cells = 10)
  object$sample <- rep(c("b", "a"), times = 5)  # interleaved: joining reorders the cells
  whole <- stcross:::.assay_matrix(object, NULL, "counts", "SC")
  split_object <- object
  split_object[["RNA"]] <- split(split_object[["RNA"]], f = split_object$sample)
  expect_setequal(SeuratObject::Layers(split_object[["RNA"]]), c("counts.a", "counts.b"))
  expect_message(joined <- stcross:::.assay_matrix(split_object, NULL, "counts", "SC"),
                 "Joining the 2 split \"counts\" layers of assay \"RNA\"")
  expect_identical(as.matrix(joined), as.matrix(whole))
  # the user's object is left split
  expect_setequal(SeuratObject::Layers(split_object[["RNA"]]), c("counts.a", "counts.b"))
  expect_error(stcross:::.assay_matrix(split_object, NULL, "data", "SC"),
               "has no layer \"data\"; its layers are: \"counts.b\", \"counts.a\"|has no layer \"data\"; its layers are: \"counts.a\", \"counts.b\"")
})

test_that("a model trains on split layers and on an Assay5 data layer", {
  skip_if_no_python()
  skip_unless_v5()
  example <- small_example()
  sc <- example$sc
  sc$sample <- rep(c("one", "two"), length.out = ncol(sc))
  sc[["RNA"]] <- split(sc[["RNA"]], f = sc$sample)
  model <- suppressMessages(TrainStcross(sc, example$st, max.epochs = 1, seed.use = 1, verbose = FALSE))
  expect_identical(model$sc.cells, colnames(sc))
  st <- ImputeStcross(example$st, model, features = "Gad2", verbose = FALSE)
  expect_s4_class(st[["imputed"]], "Assay5")
  expect_equal(dim(GetStcrossImputation(st, "sd")), c(1, ncol(example$st)))
})

test_that("an FOV with cell outlines and centroids (as LoadXenium makes) gives the centroids", {
  object <- toy_seurat(n.genes = 5, n.cells = 6, fov = FALSE)
  cells <- colnames(object)
  centroids <- data.frame(x = seq(10, 60, by = 10), y = seq(5, 30, by = 5), cell = cells)
  # a square outline of side 2 around each centroid: 4 vertices per cell
  outline <- do.call(rbind, lapply(seq_along(cells), function(i) {
    data.frame(x = centroids$x[i] + c(-1, 1, 1, -1), y = centroids$y[i] + c(-1, -1, 1, 1),
               cell = cells[i])
  }))
  fov <- SeuratObject::CreateFOV(
    coords = list(segmentation = SeuratObject::CreateSegmentation(outline),
                  centroids = SeuratObject::CreateCentroids(centroids)),
    type = c("segmentation", "centroids"), assay = "RNA", key = "xenium_"
  )
  object[["xenium"]] <- fov
  coords <- stcross:::.seurat_coordinates(object)
  expect_identical(dim(coords), c(6L, 2L))
  expect_equal(unname(coords[, "x"]), centroids$x)
  expect_equal(unname(coords[, "y"]), centroids$y)
  expect_identical(rownames(coords), cells)
})

test_that("Seurat 5 results survive saveRDS and come back as written", {
  skip_if_no_python()
  skip_unless_v5()
  model <- trained_model()
  example <- small_example()
  st <- ImputeStcross(example$st, model, features = example$hidden, verbose = FALSE)
  path <- tempfile(fileext = ".rds")
  saveRDS(st, path)
  back <- readRDS(path)
  expect_s4_class(back[["imputed"]], "Assay5")
  for (statistic in c("mean", "sd", "lower", "upper", "p.zero")) {
    expect_identical(GetStcrossImputation(back, statistic), GetStcrossImputation(st, statistic))
  }
  sd <- SeuratObject::FetchData(back, vars = paste0("imputed_", example$hidden), layer = "sd")
  expect_equal(t(as.matrix(sd)), unname(as.matrix(GetStcrossImputation(st, "sd"))),
               ignore_attr = TRUE)
})
