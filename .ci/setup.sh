#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for stcross: R + Seurat from Debian, a Python venv
# with the package installed. Idempotent; prints nothing else to stdout on success but
# the venv's python path (last line). Environment: STCROSS_VENV (default ~/.cache/stcross/venv),
# STCROSS_SKIP_R=true to skip the Debian R packages (Python-only use).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${STCROSS_VENV:-$HOME/.cache/stcross/venv}"

if [[ "${STCROSS_SKIP_R:-false}" != "true" ]]; then
  r_packages=(r-base-core r-cran-matrix r-cran-reticulate r-cran-seuratobject r-cran-seurat r-cran-hdf5r
              r-cran-testthat r-cran-knitr r-cran-rmarkdown r-bioc-biocstyle pandoc r-cran-roxygen2 r-cran-ggplot2)
  missing=()
  for p in "${r_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi

# Python 3.11: reticulate 1.28 (Debian) breaks on 3.12.
python_bin="${STCROSS_BASE_PYTHON:-$(command -v python3.11 || command -v python3)}"
if [[ ! -x "$venv/bin/python" ]]; then
  mkdir -p "$(dirname "$venv")"
  "$python_bin" -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install -q --upgrade pip >&2
# torch pinned: this version's CPU wheel is on the machine; an unpinned torch pulls CUDA.
# numpy<2 here only: this venv is the one R reaches, and Debian 12's reticulate 1.28 cannot
# convert NumPy 2 arrays. The package itself supports NumPy 2 (.ci/pytest-numpy2.sh tests it).
"$venv/bin/python" -m pip install -q "torch==2.13.0" "numpy<2" >&2
# [r]: rpy2 for stcross.io (Seurat .rds files), in ABI mode (no compiler or R headers needed);
# [scale]: faiss-cpu, the approximate neighbour index for large data.
# numpy<2 again: without it pip upgrades numpy for a dependency's newest release (zarr 3.2 needs 2).
RPY2_CFFI_MODE=ABI "$venv/bin/python" -m pip install -q -e "$repo[test,r,scale]" "numpy<2" >&2
"$venv/bin/python" -c "import numpy, sys; sys.exit(numpy.__version__ >= '2')" \
  || { echo "setup: the R path's venv got NumPy 2; reticulate 1.28 cannot read it" >&2; exit 1; }
echo "$venv/bin/python"
