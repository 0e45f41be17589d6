# Round trip on bundled real data (osmFISH subset): Seurat objects in, results back.

# What Python returns, converted by reticulate alone (not by stcross's converters).
python_layer <- function(model, genes, layer) {
  result <- model$py$impute(reticulate::r_to_py(as.list(genes)))
  values <- reticulate::py_to_r(reticulate::py_get_item(result$layers, layer))
  cells <- unlist(reticulate::py_to_r(result$obs_names$tolist()))
  dimnames(values) <- list(cells, unlist(reticulate::py_to_r(result$var_names$tolist())))
  t(values)
}

no_python_inside <- function(object) {
  params <- unlist(lapply(SeuratObject::Command(object), function(name) {
    as.list(SeuratObject::Command(object, command = name))
  }), recursive = FALSE)
  !any(vapply(params, function(p) inherits(p, c("python.builtin.object", "stcross_model")),
              logical(1)))
}

test_that("the model handle summarises the training", {
  skip_if_no_python()
  model <- trained_model()
  example <- small_example()
  expect_s3_class(model, "stcross_model")
  expect_identical(model$sc.cells, colnames(example$sc))
  expect_identical(model$st.cells, colnames(example$st))
  expect_setequal(model$shared.genes, rownames(example$st))
  expect_true(all(example$hidden %in% model$imputable.genes))
  expect_identical(model$n.dims, 2L)
  expect_identical(nrow(model$history), 2L)
  printed <- capture.output(print(model))
  expect_match(printed[1], "An stcross model")
  expect_match(printed[2], "SC: 150 cells; ST: 200 cells with 2D coordinates")
})

test_that("ImputeStcross writes the mean and uncertainty equal to the Python result", {
  skip_if_no_python()
  model <- trained_model()
  example <- small_example()
  st <- example$st[, rev(colnames(example$st))]  # another cell order than the model's
  measured <- layer_data(st)
  statistics <- c(mean = "mean", sd = "sd", lower = "lower", upper = "upper", p.zero = "p_zero")
  # Seurat 4's layout (one assay per statistic) on either version; one assay with layers on 5.
  layouts <- if (stcross:::.is_seurat_v5()) c(FALSE, TRUE) else FALSE
  for (one.assay in layouts) {
    written <- ImputeStcross(st, model, features = example$hidden, one.assay = one.assay,
                             verbose = FALSE)
    assays <- if (one.assay) "imputed" else c("imputed", paste0("imputed.", c("sd", "lower", "upper", "pzero")))
    expect_setequal(SeuratObject::Assays(written), c("Spatial", assays))
    expect_identical(SeuratObject::DefaultAssay(written), "Spatial")
    expect_identical(layer_data(written, assay = "Spatial"), measured)
    for (statistic in names(statistics)) {
      values <- GetStcrossImputation(written, statistic)
      expect_identical(rownames(values), example$hidden)
      expect_identical(colnames(values), colnames(st))
      expect_equal(as.matrix(values), python_layer(model, example$hidden, statistics[[statistic]])[, colnames(st)],
                   tolerance = 1e-6, label = paste(statistic, "one.assay =", one.assay))
    }
    get <- function(statistic) GetStcrossImputation(written, statistic)
    expect_true(all(get("sd") >= 0) && all(get("p.zero") >= 0 & get("p.zero") <= 1) &&
                  all(get("lower") <= get("upper")))
    info <- SeuratObject::Misc(written[[if (one.assay) "imputed" else "imputed.sd"]], slot = "stcross")
    if (one.assay) {
      expect_identical(info$layers, list(mean = "data", sd = "sd", lower = "lower", upper = "upper",
                                         p.zero = "p.zero"))
      expect_s4_class(written[["imputed"]], "Assay5")
      expect_identical(SeuratObject::Key(written[["imputed"]]), "imputed_")
    } else {
      expect_identical(info$statistic, "sd")
      expect_identical(SeuratObject::Key(written[["imputed.sd"]]), "imputedsd_")
    }
    expect_equal(info$interval, 0.9)
    expect_false(info$calibrated)
    expect_true("ImputeStcross.Spatial" %in% SeuratObject::Command(written))
    expect_true(no_python_inside(written))
  }
})

test_that("custom assay names, skipped statistics and bad names", {
  skip_if_no_python()
  model <- trained_model()
  example <- small_example()
  st <- ImputeStcross(example$st, model, features = "Gad2", new.assay.name = "pred",
                      lower.assay.name = NULL, upper.assay.name = NULL, pzero.assay.name = NULL,
                      one.assay = FALSE, verbose = FALSE)
  expect_setequal(SeuratObject::Assays(st), c("Spatial", "pred", "pred.sd"))
  if (stcross:::.is_seurat_v5()) {
    one <- ImputeStcross(example$st, model, features = "Gad2", new.assay.name = "pred",
                         lower.assay.name = NULL, upper.assay.name = NULL, verbose = FALSE)
    expect_setequal(SeuratObject::Assays(one), c("Spatial", "pred"))
    expect_identical(SeuratObject::Layers(one[["pred"]]), c("data", "sd", "p.zero"))
    expect_error(GetStcrossImputation(one, "upper", "pred"), "has no layer \"upper\"")
  } else {
    expect_error(ImputeStcross(example$st, model, one.assay = TRUE), "needs SeuratObject 5")
  }
  expect_error(GetStcrossImputation(st, "mean", "nothing"), "has no assay \"nothing\"")
  expect_error(ImputeStcross(example$st, model, new.assay.name = "Spatial"),
               "is the object's DefaultAssay")
  expect_error(ImputeStcross(example$st, model, sd.assay.name = "imputed", one.assay = FALSE),
               "must differ")
})

test_that("LocateStcross adds coordinates, their uncertainty and a DimReduc", {
  skip_if_no_python()
  model <- trained_model()
  example <- small_example()
  sc <- LocateStcross(example$sc, model, verbose = FALSE)
  meta <- sc[[c("stcross_x", "stcross_y", "stcross_location_sd")]]
  expect_true(all(is.finite(as.matrix(meta))))
  expect_true(all(meta$stcross_location_sd >= 0))
  expect_identical(SeuratObject::DefaultAssay(sc), "RNA")
  expect_true("stcross.location" %in% SeuratObject::Reductions(sc))
  embeddings <- SeuratObject::Embeddings(sc, "stcross.location")
  expect_identical(colnames(embeddings), c("STCROSSLOC_1", "STCROSSLOC_2"))
  expect_identical(rownames(embeddings), colnames(sc))
  expect_equal(unname(embeddings[, 1]), meta$stcross_x)
  expect_equal(unname(embeddings[, 2]), meta$stcross_y)
  located <- reticulate::py_to_r(model$py$locate()$to_numpy())
  expect_equal(unname(embeddings), unname(located[, 1:2]), tolerance = 1e-5)
  expect_true("LocateStcross.RNA" %in% SeuratObject::Command(sc))
  expect_true(no_python_inside(sc))
  expect_error(LocateStcross(example$st, model), "not the SC cells the model was trained on")
})

test_that("EmbedStcross puts the joint embedding (or the raw latent) on both objects", {
  skip_if_no_python()
  model <- trained_model()
  example <- small_example()
  sc <- EmbedStcross(example$sc, model, verbose = FALSE)
  st <- EmbedStcross(example$st, model, verbose = FALSE)
  z_sc <- SeuratObject::Embeddings(sc, "stcross")
  z_st <- SeuratObject::Embeddings(st, "stcross")
  expect_identical(ncol(z_sc), ncol(z_st))
  expect_identical(rownames(z_sc), colnames(sc))
  expect_identical(rownames(z_st), colnames(st))
  expect_identical(colnames(z_sc)[1], "STCROSS_1")
  expect_equal(unname(z_st), unname(reticulate::py_to_r(model$py$joint_embedding("st"))), tolerance = 1e-6)
  expect_identical(SeuratObject::Misc(st[["stcross"]], slot = "stcross")$modality, "st")
  expect_true(SeuratObject::Misc(st[["stcross"]], slot = "stcross")$joint)
  raw <- EmbedStcross(example$st, model, joint = FALSE, reduction.name = "stcross.latent",
                      reduction.key = "STCROSSLATENT_", verbose = FALSE)
  expect_equal(unname(SeuratObject::Embeddings(raw, "stcross.latent")),
               unname(reticulate::py_to_r(model$py$latent("st"))), tolerance = 1e-6)
  expect_false(SeuratObject::Misc(raw[["stcross.latent"]], slot = "stcross")$joint)
  expect_error(EmbedStcross(example$st, model, joint = NA), "joint must be TRUE")
})

test_that("a Python error becomes an R error and the session goes on", {
  skip_if_no_python()
  model <- trained_model()
  example <- small_example()
  error <- tryCatch(ImputeStcross(model, features = "NotAGene", verbose = FALSE),
                    error = function(e) e)
  expect_s3_class(error, "stcross_python_error")
  expect_match(conditionMessage(error), "stcross \\(Python\\) failed while imputing")
  expect_s3_class(error, "stcross_input_error")
  expect_match(conditionMessage(error), "NotAGene")
  again <- ImputeStcross(model, features = "Gad2", verbose = FALSE)
  expect_identical(rownames(again$mean), "Gad2")
  expect_error(ImputeStcross(model, interval = 1.5), "interval must be a number between 0 and 1")
})

test_that("genes not shared between SC and ST are a clear error", {
  skip_if_no_python()
  example <- small_example()
  counts <- layer_data(example$st)
  rownames(counts) <- paste0("probe", seq_len(nrow(counts)))
  st <- SeuratObject::CreateSeuratObject(counts = counts, meta.data = example$st[[c("x", "y")]])
  expect_error(TrainStcross(example$sc, st, coords = c("x", "y"), max.epochs = 1, verbose = FALSE),
               "No shared genes")
})

test_that("objects of the wrong cells and dead models are refused", {
  skip_if_no_python()
  model <- trained_model()
  example <- small_example()
  expect_error(ImputeStcross(example$sc, model), "not the ST cells the model was trained on")
  revived <- unserialize(serialize(model, NULL))
  expect_error(ImputeStcross(example$st, revived), "SaveStcross")
  expect_match(paste(format(revived), collapse = "\n"), "Python model is gone")
})
