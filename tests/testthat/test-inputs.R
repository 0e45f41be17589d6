# Input checks that happen in R, before any Python is needed.

test_that("a missing assay or layer is a clear R error", {
  sc <- toy_seurat(prefix = "s", fov = FALSE)
  st <- toy_seurat(prefix = "t")
  expect_error(TrainStcross(sc, st, sc.assay = "SCT"),
               "The SC object has no assay \"SCT\"; its assays are: \"RNA\"")
  expect_error(TrainStcross(sc, st, st.assay = "Xenium"), "The ST object has no assay \"Xenium\"")
  # Seurat 4 assays always have a (here empty) scale.data slot; Seurat 5 ones lack the layer.
  expect_error(TrainStcross(sc, st, st.layer = "scale.data"),
               if (stcross:::.is_seurat_v5()) "Assay \"RNA\" of the ST object has no layer \"scale.data\""
               else "Layer \"scale.data\" of assay \"RNA\" in the ST object is empty")
  expect_error(TrainStcross(sc, st, sc.layer = "spliced"), "has no layer \"spliced\"")
  expect_error(TrainStcross(sc, st, sc.layer = c("counts", "data")), "one name")
})

test_that("an ST object without coordinates is a clear R error", {
  sc <- toy_seurat(prefix = "s", fov = FALSE)
  st <- toy_seurat(prefix = "t", fov = FALSE)
  expect_error(TrainStcross(sc, st), "The ST object has no coordinates")
  expect_error(TrainStcross(sc, st, coords = c("x", "height")),
               "no metadata column \"height\"")
  st$label <- "a"
  expect_error(TrainStcross(sc, st, coords = c("x", "label")), "must be numeric")
  expect_error(TrainStcross(sc, st, coords = matrix(1, 3, 2)), "have 3 rows but there are 8 ST cells")
  expect_error(TrainStcross(sc, st, coords = matrix(1, 8, 4)), "expected 2 \\(x, y\\) or 3")
  bad <- matrix(1, 8, 2, dimnames = list(paste0("zz", 1:8), NULL))
  expect_error(TrainStcross(sc, st, coords = bad), "lack 8 of the 8 ST cells")
  na <- cbind(x = st$x, y = st$y)
  na[2, 1] <- NA
  expect_error(TrainStcross(sc, st, coords = na), "NA or infinite")
  st_fov <- toy_seurat(prefix = "t")
  expect_error(TrainStcross(sc, st_fov, fov = "slide2"), "no FOV or image \"slide2\"; it has: \"fov\"")
})

test_that("ST coordinates are read from an FOV, metadata or a matrix, in cell order", {
  st <- toy_seurat(prefix = "t")
  from_fov <- stcross:::.seurat_coordinates(st)
  from_meta <- stcross:::.seurat_coordinates(st, coords = c("x", "y"))
  shuffled <- as.matrix(st[[c("x", "y")]])[rev(colnames(st)), ]
  from_matrix <- stcross:::.seurat_coordinates(st, coords = shuffled)
  expect_identical(dimnames(from_fov), list(colnames(st), c("x", "y")))
  expect_equal(from_fov, from_meta)
  expect_equal(from_matrix, from_meta)
  st$z <- 0.5
  expect_identical(colnames(stcross:::.seurat_coordinates(st, coords = c("x", "y", "z"))),
                   c("x", "y", "z"))
})

test_that("counts are read sparse, features x cells, through accessors", {
  st <- toy_seurat(prefix = "t")
  x <- stcross:::.assay_matrix(st, NULL, "counts", "ST")
  expect_s4_class(x, "dgCMatrix")
  expect_identical(dimnames(x), list(rownames(st), colnames(st)))
})

test_that("the matrix interface checks its inputs", {
  m <- matrix(1, 3, 4, dimnames = list(c("A", "B", "C"), paste0("c", 1:4)))
  expect_error(TrainStcross(m, unname(m), coords = matrix(1, 4, 2)),
               "needs gene names as rownames and cell names as colnames")
  expect_error(TrainStcross(m, m), "coords is missing")
  expect_error(TrainStcross(list(1), m, coords = matrix(1, 4, 2)), "features x cells matrix")
  expect_error(TrainStcross(m, toy_seurat()), "pass two Seurat objects or two matrices")
})

test_that("the verbs refuse objects that are not models", {
  st <- toy_seurat(prefix = "t")
  expect_error(ImputeStcross(st, model = list()), "model must be an stcross_model")
  expect_error(LocateStcross(st, model = "x"), "model must be an stcross_model")
  expect_error(ImputeStcross(matrix(1)), "needs the ST Seurat object")
  expect_error(EmbedStcross(1), "needs a Seurat object")
  dead <- structure(list(py = NULL), class = "stcross_model")
  expect_error(ImputeStcross(st, dead), "no longer has its Python side")
})

test_that("bad inputs reaching Python come back as clear R errors", {
  skip_if_no_python()
  example <- small_example()
  sc <- layer_data(example$sc)
  st <- layer_data(example$st)
  xy <- as.matrix(example$st[[c("x", "y")]])
  # two shared genes: every partner similarity would be +-1
  two <- st[rownames(st)[1:2], ]
  expect_error(TrainStcross(sc, two, coords = xy, verbose = FALSE),
               "Only 2 shared genes .* stcross needs at least 3", class = "stcross_input_error")
  # a single ST cell
  expect_error(TrainStcross(sc, st[, 1, drop = FALSE], coords = xy[1, , drop = FALSE], verbose = FALSE),
               "the ST data has 1 cell; stcross needs at least 2", class = "stcross_input_error")
  # a device that does not exist, in R's words
  expect_error(TrainStcross(sc, st, coords = xy, device = "gpu", verbose = FALSE),
               "device = \"gpu\" is not a device stcross can use", class = "stcross_input_error")
  # a damaged model directory names the file and the fix
  path <- tempfile("stcross-damaged-")
  SaveStcross(trained_model(), path)
  writeLines("{ not json", file.path(path, "config.json"))
  expect_error(LoadStcross(path, example$sc, example$st, verbose = FALSE),
               "config.json is damaged or was not written by stcross.*SaveStcross\\(model, path, overwrite = TRUE\\)",
               class = "stcross_input_error")
})
