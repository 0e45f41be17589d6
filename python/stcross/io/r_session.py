"""An embedded R session (rpy2) for reading and writing Seurat files from Python.

rpy2 runs in ABI mode, which needs no compiler or R headers. The R code that reads
Seurat objects and writes stcross results is the R package's own (``R/convert-seurat.R``
and ``R/seurat-results.R``, shipped here under ``io/R``), sourced into one environment,
so both doors read and write alike. Never call reticulate from this session: R calling
back into this Python process crashes.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError

R_FILES = ("convert-seurat.R", "seurat-results.R")
R_DIR = Path(__file__).parent / "R"
R_HINT = "pip install 'stcross[r]' (rpy2 >= 3.5, < 3.6) with R >= 4.1 and the R package SeuratObject"

# Base-R glue: vectors from Python become matrices, data frames are taken apart column by column.
R_GLUE = """
list(
  as_matrix = function(values, nrow, rows, cols) {
    dim(values) <- c(nrow, length(values) %/% nrow)
    dimnames(values) <- list(rows, cols)
    values
  },
  as_frame = function(values, nrow, rows, cols) {
    as.data.frame(matrix(values, nrow = nrow, dimnames = list(rows, cols)))
  },
  as_dgc = function(x) {
    if (methods::is(x, "dgCMatrix")) return(x)
    if (!methods::is(x, "Matrix")) x <- Matrix::Matrix(as.matrix(x), sparse = TRUE)
    methods::as(methods::as(methods::as(x, "CsparseMatrix"), "generalMatrix"), "dMatrix")
  },
  column = function(frame, name) {
    v <- frame[[name]]
    if (is.factor(v)) return(list(kind = "factor", values = as.integer(v), levels = levels(v)))
    if (is.logical(v)) return(list(kind = "logical", values = as.integer(v)))
    if (is.integer(v)) return(list(kind = "integer", values = v))
    if (is.double(v) && is.null(attr(v, "class"))) return(list(kind = "double", values = v))
    list(kind = "character", values = as.character(v))
  }
)
"""


class RSession:
    """The R functions stcross needs, in one environment of an embedded R."""

    def __init__(self) -> None:
        os.environ.setdefault("RPY2_CFFI_MODE", "ABI")
        try:
            from rpy2 import rinterface, robjects
            from rpy2.rinterface_lib.embedded import RRuntimeError
        except ImportError as err:
            msg = f"Reading and writing Seurat files needs rpy2, which is not installed: {R_HINT}."
            raise ImportError(msg) from err
        except Exception as err:  # rpy2 found no R (R_HOME) or could not start it
            msg = f"rpy2 could not start R ({err}). Install R and set R_HOME if needed: {R_HINT}."
            raise RuntimeError(msg) from err
        self.ri = rinterface
        self.ro = robjects
        self.r = robjects.r  # r("code") evaluates, r["name"] finds
        self.RRuntimeError = RRuntimeError
        if not robjects.r('isTRUE(requireNamespace("SeuratObject", quietly = TRUE))')[0]:
            msg = f"The R that rpy2 runs ({robjects.r('R.home()')[0]}) lacks the package SeuratObject: {R_HINT}."
            raise RuntimeError(msg)
        self.env = robjects.r("new.env()")
        for name in R_FILES:
            robjects.r["sys.source"](str(R_DIR / name), envir=self.env)
        self.glue = robjects.r(R_GLUE)
        self.seurat_object_version = robjects.r('format(packageVersion("SeuratObject"))')[0]

    def fn(self, name: str):
        """An R function from the stcross R files or the glue."""
        if name in self.glue.names:
            return self.glue.rx2(name)
        return self.env.find(name)

    def call(self, name: str, *args, **kwargs):
        """Call an R function; R's ``stop()`` becomes an InputError with R's message."""
        kwargs = {key.replace("_", "."): value for key, value in kwargs.items()}
        args = [self.to_r(a) for a in args]
        kwargs = {key: self.to_r(value) for key, value in kwargs.items()}
        try:
            return self.fn(name)(*args, **kwargs)
        except self.RRuntimeError as err:
            raise InputError(str(err).removeprefix("Error: ").strip()) from err

    # --- values across the border -------------------------------------------------------
    def to_r(self, value):
        """Python scalars and string lists as R vectors; None as NULL; R objects as they are."""
        ro = self.ro
        if value is None:
            return ro.NULL
        if isinstance(value, (bool, np.bool_)):
            return ro.BoolVector([bool(value)])
        if isinstance(value, (int, np.integer)):
            return ro.IntVector([int(value)])
        if isinstance(value, (float, np.floating)):
            return ro.FloatVector([float(value)])
        if isinstance(value, str):
            return ro.StrVector([value])
        if isinstance(value, dict):
            return ro.ListVector({str(k): self.to_r(v) for k, v in value.items()})
        return value

    def strings(self, values) -> object:
        return self.ro.StrVector([str(v) for v in values])

    def doubles(self, array: np.ndarray):
        """A float64 R vector sharing nothing with ``array`` (R copies from the buffer)."""
        flat = np.ascontiguousarray(array, dtype=np.float64).ravel()
        return self.ri.FloatSexpVector.from_memoryview(memoryview(flat))

    def ints(self, array: np.ndarray):
        flat = np.ascontiguousarray(array, dtype=np.int32).ravel()
        return self.ri.IntSexpVector.from_memoryview(memoryview(flat))

    @staticmethod
    def to_numpy(vector, dtype) -> np.ndarray:
        """A copy of an R numeric vector (copied: R may free its memory later)."""
        if len(vector) == 0:
            return np.zeros(0, dtype=dtype)
        return np.array(vector.memoryview(), dtype=dtype)

    def to_str(self, vector) -> list:
        """R character vector -> Python strings, NA -> None."""
        na = self.ri.NA_Character
        return [None if v is na else str(v) for v in vector]


@lru_cache(maxsize=1)
def r_session() -> RSession:
    """The one embedded R of this process (started on first use)."""
    return RSession()
