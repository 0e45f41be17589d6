"""Import torch so that its matrix products run on its own BLAS, also inside R.

An R process (where Seurat users reach stcross through reticulate) has already put R's BLAS
into the global symbol scope. torch's libraries call BLAS routines by name (``sgemm_``, ...)
and the dynamic loader binds those calls to the first definition it finds: R's library, on
Debian the unoptimised reference BLAS (a linear layer's forward + backward ran 30x slower
inside R). Loading torch with ``RTLD_DEEPBIND`` makes its libraries look up their own
symbols first, whatever BLAS the host loaded (reference, OpenBLAS, MKL). A plain Python
process has no BLAS in the global scope (numpy loads its own privately), so torch is imported
there as usual, and the loader flags are restored either way.
"""
from __future__ import annotations

import ctypes
import os
import sys

#: Whether torch was imported with its own symbols bound first (True only where a BLAS
#: was already in the process's global symbol scope, e.g. inside R).
isolated_from_host_blas = False


def host_blas_in_global_scope() -> bool:
    """Whether a BLAS library (one exporting ``sgemm_``) is visible to every later library."""
    try:
        return hasattr(ctypes.CDLL(None), "sgemm_")
    except OSError:  # no handle on the main program (unusual platforms): assume a plain process
        return False


def import_torch():
    """Import torch (once per process), isolating it from a host BLAS when one is loaded."""
    global isolated_from_host_blas
    if "torch" in sys.modules or not hasattr(os, "RTLD_DEEPBIND") or not host_blas_in_global_scope():
        import torch

        return torch
    flags = sys.getdlopenflags()
    sys.setdlopenflags(os.RTLD_NOW | os.RTLD_DEEPBIND)
    try:
        import torch
    finally:
        sys.setdlopenflags(flags)
    isolated_from_host_blas = True
    return torch
