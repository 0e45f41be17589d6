#!/usr/bin/env bash
# Build the peers' own virtualenv (Tangram, gimVI/scvi-tools, SpaGE + TISSUE from tissue-sc).
# These are NOT stcross dependencies: keep this environment apart from stcross's.
#
#   bash benchmarks/peers/setup_env.sh [VENV_DIR]      (default /opt/peers-venv)
#
# Needs Python 3.11 (scvi-tools 1.4 needs >= 3.11) and PyPI. About 3 minutes, ~2.5 GB.
set -euo pipefail

VENV="${1:-${PEERS_VENV:-/opt/peers-venv}}"
PY="${PEERS_PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in /root/.pyenv/versions/3.11*/bin/python3 "$(command -v python3.11 || true)"; do
    if [ -n "$cand" ] && [ -x "$cand" ]; then PY="$cand"; break; fi
  done
fi
if [ -z "$PY" ]; then
  echo "setup_env.sh: no Python 3.11 found; set PEERS_PYTHON=/path/to/python3.11" >&2
  exit 1
fi
case "$VENV" in
  "$(cd "$(dirname "$0")/../.." && pwd)"/*)
    echo "setup_env.sh: put the venv outside the repository (R CMD build copies the tree)" >&2
    exit 1 ;;
esac

"$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
# torch first and pinned: an unpinned torch pulls several GB of CUDA wheels; 2.13.0 resolves
# to the CPU wheel here (same torch as stcross's environment).
"${PIP[@]}" "torch==2.13.0"
# The peers, with the versions this benchmark was run with. numpy 2 is fine for all three
# (stcross's metrics.py/folds.py are loaded by file path and only need numpy/scipy/pandas).
"${PIP[@]}" \
  "torch==2.13.0" \
  "tangram-sc==1.0.4" \
  "scvi-tools==1.4.2" \
  "tissue-sc==1.0.1" \
  "numpy==2.4.6" \
  "scipy==1.17.1" \
  "pandas==2.3.3" \
  "anndata==0.12.19" \
  "scanpy==1.11.5" \
  "squidpy==1.8.2" \
  "scikit-learn==1.9.1" \
  "lightning==2.6.6" \
  "numba==0.68.1"

# Smoke test: every peer imports.
"$VENV/bin/python" - <<'EOF'
import warnings
warnings.filterwarnings("ignore")
import numpy, torch, tangram, scvi, tissue.main  # noqa: F401
from scvi.external import GIMVI  # noqa: F401
from tissue.SpaGE.main import SpaGE  # noqa: F401
print(f"peers venv ok: numpy {numpy.__version__}, torch {torch.__version__}, "
      f"scvi-tools {scvi.__version__}, tangram-sc 1.0.4, tissue-sc 1.0.1")
EOF
echo "Run: nice -n 15 $VENV/bin/python benchmarks/peers/run_peers.py --dataset osmfish --methods tangram,gimvi,spage"
