# The matrix interface: features x cells matrices and coordinates in, lists out.

test_that("matrices train a model whose results come back as matrices and data.frames", {
  skip_if_no_python()
  example <- small_example()
  sc <- as.matrix(layer_data(example$sc))  # dense
  st <- layer_data(example$st)             # sparse
  xy <- as.data.frame(example$st[[c("x", "y")]])
  rownames(xy) <- NULL  # no names: rows are taken in cell order
  model <- TrainStcross(sc, st, coords = xy, max.epochs = 1, verbose = FALSE)
  expect_s3_class(model, "stcross_model")
  expect_identical(model$st.cells, colnames(st))

  imputed <- ImputeStcross(model, features = example$hidden, interval = 0.8, verbose = FALSE)
  expect_named(imputed, c("mean", "sd", "lower", "upper", "p.zero", "info"))
  for (name in c("mean", "sd", "lower", "upper", "p.zero")) {
    expect_identical(dimnames(imputed[[name]]), list(example$hidden, colnames(st)))
  }
  expect_equal(imputed$info$interval, 0.8)

  location <- LocateStcross(model, method = "knn", verbose = FALSE)
  expect_s3_class(location, "data.frame")
  expect_identical(rownames(location), colnames(sc))
  expect_named(location, c("x", "y", "sd"))

  latent <- EmbedStcross(model)
  expect_named(latent, c("sc", "st"))
  expect_identical(rownames(latent$sc), colnames(sc))
  expect_identical(EmbedStcross(model, "st"), latent$st)
})

test_that("R matrices cross to Python and back unchanged, sparse and dense", {
  skip_if_no_python()
  set.seed(2)
  sparse <- Matrix::rsparsematrix(7, 5, density = 0.3)
  dimnames(sparse) <- list(paste0("g", 1:7), paste0("c", 1:5))
  dense <- as.matrix(sparse)
  for (x in list(sparse, dense)) {
    adata <- stcross:::.as_anndata(x, what = "x")
    expect_identical(reticulate::py_to_r(adata$shape), list(5L, 7L))  # cells x genes in Python
    expect_identical(stcross:::.py_strings(adata$obs_names), colnames(x))
    back <- stcross:::.py_to_matrix(adata$X, rownames(x), colnames(x))
    expect_equal(as.matrix(back), dense)
  }
  sparse_back <- stcross:::.py_to_matrix(stcross:::.as_anndata(sparse, what = "x")$X,
                                         rownames(sparse), colnames(sparse))
  expect_s4_class(sparse_back, "dgCMatrix")
  expect_identical(sparse_back, sparse)
  one <- stcross:::.as_anndata(sparse[, 1, drop = FALSE], what = "x")
  expect_identical(stcross:::.py_strings(one$obs_names), "c1")
})

test_that("the latent-neighbour blend is reported and a bad weight is a clear error", {
  skip_if_no_python()
  example <- small_example()
  sc <- layer_data(example$sc)
  st <- layer_data(example$st)
  xy <- as.matrix(example$st[[c("x", "y")]])
  expect_error(TrainStcross(sc, st, coords = xy, config = list(neighbor_blend = 2), verbose = FALSE),
               "neighbor_blend must lie in \\[0, 1\\]")
  model <- TrainStcross(sc, st, coords = xy, config = list(neighbor_blend = 0.5), max.epochs = 1,
                        verbose = FALSE)
  imputed <- ImputeStcross(model, features = example$hidden, verbose = FALSE)
  expect_equal(imputed$info$neighbor_blend, 0.5)
  expect_true(all(is.finite(imputed$mean)) && all(imputed$mean >= 0))
})
