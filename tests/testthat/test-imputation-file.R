# impute(out = ) streams the imputation into an .h5ad file; R reads it with hdf5r.

test_that("a streamed imputation file reads in R with hdf5r, X linking to the mean", {
  skip_if_no_python()
  skip_if_not_installed("hdf5r")
  model <- trained_model()
  path <- tempfile(fileext = ".h5ad")
  on.exit(unlink(path), add = TRUE)
  model$py$impute(out = path, genes_per_chunk = 3L)
  reticulate::import("gc")$collect()  # the returned object held the file open
  memory <- model$py$impute()
  genes <- reticulate::py_to_r(memory$var_names$to_list())

  file <- hdf5r::H5File$new(path, mode = "r")
  on.exit(file$close_all(), add = TRUE)
  # HDF5 stores cells x genes row-major; R reads it transposed.
  sd <- t(file[["layers/sd"]]$read())
  expect_equal(dim(sd), c(length(model$st.cells), length(genes)))
  expect_equal(sd, reticulate::py_to_r(memory$layers$`__getitem__`("sd")), tolerance = 1e-5,
               ignore_attr = TRUE)
  expect_identical(file[["X"]]$read(), file[["layers/mean"]]$read())
  expect_identical(file[["var/_index"]]$read(), genes)
})
