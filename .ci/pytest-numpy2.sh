#!/usr/bin/env bash
# The pytest suite in a second, fresh venv on current stacks: NumPy 2 and the newest
# anndata, scipy, pandas, matplotlib and h5py that install beside torch 2.13.0 on this
# Python. The first venv (.ci/setup.sh) keeps numpy<2 for Debian 12's reticulate 1.28;
# the package itself supports both.
# Environment: STCROSS_VENV_NUMPY2 (default ~/.cache/stcross/venv-numpy2).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${STCROSS_VENV_NUMPY2:-$HOME/.cache/stcross/venv-numpy2}"
python_bin="${STCROSS_BASE_PYTHON:-$(command -v python3.11 || command -v python3)}"

rm -rf "$venv"   # fresh every run: "newest" means what the registry serves today
"$python_bin" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "torch==2.13.0"   # the CPU wheel on this machine
# Installing the package first, then upgrading, shows that pip keeps NumPy 2 with it.
"$venv/bin/python" -m pip install -q "numpy>=2"
# rpy2 in ABI mode: no compiler or R headers needed.
RPY2_CFFI_MODE=ABI "$venv/bin/python" -m pip install -q -e "$repo[test,r,scale]"
"$venv/bin/python" -m pip install -q --upgrade numpy anndata scipy pandas matplotlib h5py
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
import sys
names = ["numpy", "scipy", "pandas", "anndata", "matplotlib", "h5py", "torch"]
print("pytest (current stacks): Python", sys.version.split()[0], "|",
      ", ".join(f"{n} {md.version(n)}" for n in names))
if int(md.version("numpy").split(".")[0]) < 2:
    sys.exit("expected NumPy 2 in this venv")
PY
cd "$repo"
"$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider
