# The R door's speed against Python's, in one run.
#
#   RETICULATE_PYTHON=/path/to/venv/bin/python Rscript benchmarks/run_r_speed.R [repeats] [epochs]
#
# Trains the same model (bundled osmFISH pair: 1000 SC x 2000 ST cells, 33 genes; fixed epochs,
# seed 0, the default thread setting) from R with TrainStcross() and from Python with
# CrossModalModel(...).train() in a child process of the same interpreter, alternately
# (R, Python, R, Python, ...), each after a warm-up fit. Each wall covers building the model from the data objects
# and training it. Also times a BLAS-bound micro check (a 256 x 256 linear layer, forward
# + backward x 300) inside R and in Python: the R/Python ratio there exposes a BLAS clash.
suppressPackageStartupMessages(library(stcross))
args <- commandArgs(trailingOnly = TRUE)
repeats <- if (length(args) >= 1) as.integer(args[1]) else 3L
epochs <- if (length(args) >= 2) as.integer(args[2]) else 10L
if (!stcross_python_available()) stop(stcross_python_config()$message)
python <- stcross_python_config()$python

py_train_script <- sprintf('
import time, stcross
sc, st = stcross.datasets.osmfish()
stcross.CrossModalModel(sc, st).train(max_epochs=1, device="cpu", progress_bar=False)  # warm-up, as in R
start = time.perf_counter()
model = stcross.CrossModalModel(sc, st)
model.train(config=stcross.TrainConfig(max_epochs=%d, patience=%d, seed=0), device="cpu",
            progress_bar=False)
print(time.perf_counter() - start)
', epochs, epochs)
micro_script <- '
import time, torch
torch.manual_seed(0)
layer = torch.nn.Linear(256, 256)
x = torch.randn(256, 256)
start = time.perf_counter()
for _ in range(300):
    layer(x).sum().backward()
micro_seconds = time.perf_counter() - start
'

in_python <- function(script) {
  out <- system2(python, c("-c", shQuote(script)), stdout = TRUE, stderr = FALSE)
  as.numeric(tail(out, 1))
}

data <- LoadStcrossExample("osmfish")
r_train <- function() {
  start <- proc.time()[["elapsed"]]
  TrainStcross(data$sc, data$st, max.epochs = epochs, seed.use = 0, device = "cpu",
               patience = epochs, verbose = FALSE)
  proc.time()[["elapsed"]] - start
}
r_micro <- function() {
  reticulate::py_run_string(micro_script)
  reticulate::py_eval("micro_seconds")
}

blas <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "?")
cat(sprintf("R %s, BLAS %s; Python %s; %d epochs, %d repeats; load average %s\n",
            getRversion(), if (nzchar(blas)) blas else "(R's own)", python, epochs, repeats,
            paste(readLines("/proc/loadavg", warn = FALSE), collapse = "")))
isolated <- reticulate::py_eval("__import__('stcross').torch_import.isolated_from_host_blas")
cat(sprintf("torch imported away from R's BLAS: %s\n", isolated))

invisible(r_train())  # warm-up: imports, first allocations
rows <- list()
for (i in seq_len(repeats)) {
  rows[[i]] <- c(r_train = r_train(), py_train = in_python(py_train_script),
                 r_micro = r_micro(),
                 py_micro = in_python(paste0(micro_script, "\nprint(micro_seconds)")))
}
walls <- do.call(rbind, rows)
ratio_train <- walls[, "r_train"] / walls[, "py_train"]
ratio_micro <- walls[, "r_micro"] / walls[, "py_micro"]
for (i in seq_len(repeats)) {
  cat(sprintf("run %d: train R %.1f s, Python %.1f s (R/Python %.2f) | micro R %.2f s, Python %.2f s (%.2f)\n",
              i, walls[i, "r_train"], walls[i, "py_train"], ratio_train[i],
              walls[i, "r_micro"], walls[i, "py_micro"], ratio_micro[i]))
}
cat(sprintf("median R/Python: training %.2f, BLAS micro check %.2f\n",
            stats::median(ratio_train), stats::median(ratio_micro)))
