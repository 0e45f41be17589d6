#!/usr/bin/env bash
# Build and check the R package (R CMD build + R CMD check --no-manual).
#
# Environment:
#   STCROSS_PYTHON or RETICULATE_PYTHON  Python with the stcross package installed
#                                        (STCROSS_PYTHON wins when both are set).
#   STCROSS_REQUIRE_PYTHON               true (default here): tests and the vignette
#                                        fail, not skip, when Python is unavailable.
#   STCROSS_CHECK_STRICT                 true: NOTEs fail the check too (default false).
#   STCROSS_CHECK_DIR                    where to build and check (default: a temp dir).
# Exits non-zero unless R CMD check ends with no ERROR and no WARNING.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${STCROSS_PYTHON:-${RETICULATE_PYTHON:-}}"
export STCROSS_REQUIRE_PYTHON="${STCROSS_REQUIRE_PYTHON:-true}"
strict="${STCROSS_CHECK_STRICT:-false}"

if [[ -n "$python" ]]; then
  export RETICULATE_PYTHON="$python"
  if ! "$python" -c "import stcross, sys; print('stcross', stcross.__version__, 'in', sys.executable)"; then
    echo "r-check: $python cannot import stcross; install it with: $python -m pip install $repo" >&2
    exit 1
  fi
elif [[ "$STCROSS_REQUIRE_PYTHON" == "true" ]]; then
  echo "r-check: set STCROSS_PYTHON or RETICULATE_PYTHON to a Python with stcross installed" \
       "(or STCROSS_REQUIRE_PYTHON=false to let the R tests skip)" >&2
  exit 1
fi

workdir="${STCROSS_CHECK_DIR:-$(mktemp -d -t stcross-rcheck-XXXXXX)}"
mkdir -p "$workdir"
cd "$workdir"
echo "r-check: building in $workdir (RETICULATE_PYTHON=${RETICULATE_PYTHON:-unset}," \
     "STCROSS_REQUIRE_PYTHON=$STCROSS_REQUIRE_PYTHON)"

# No network here: skip the check of the system clock against a time server.
export _R_CHECK_SYSTEM_CLOCK_=0
# Keep Python's threads from oversubscribing shared CPUs.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

Rscript -e 'cat("r-check:", R.version.string, "| SeuratObject", format(packageVersion("SeuratObject")),
  "| Seurat", tryCatch(format(packageVersion("Seurat")), error = function(e) "absent"),
  "| reticulate", format(packageVersion("reticulate")), "\n")'
start=$SECONDS
rm -f stcross_*.tar.gz
R CMD build "$repo"
tarball="$(ls -t stcross_*.tar.gz | head -n 1)"
echo "r-check: built $tarball in $((SECONDS - start)) s"

status=0
# The vignette was built from real computation by R CMD build; check runs its code
# again but does not rebuild the HTML a second time.
R CMD check --no-manual --no-build-vignettes "$tarball" || status=$?
log="stcross.Rcheck/00check.log"
echo "r-check: R CMD check finished in $((SECONDS - start)) s (exit $status)"

if [[ ! -f "$log" ]]; then
  echo "r-check: no $log" >&2
  exit 1
fi
for out in stcross.Rcheck/tests/*.Rout.fail; do
  [[ -f "$out" ]] && { echo "---- $out (tail)"; tail -n 60 "$out"; }
done
if grep -q "^\* .*\.\.\. NOTE" "$log"; then
  echo "---- NOTEs:"
  awk '/\.\.\. NOTE$/{p=1; print; next} /^\* /{p=0} p' "$log"
fi
status_line="$(grep "^Status:" "$log" | tail -n 1 || true)"
echo "r-check: $status_line"
if [[ "$status" -ne 0 ]] || ! grep -q "^Status:" "$log" \
   || grep -Eq "^Status:.*(ERROR|WARNING)" "$log"; then
  echo "r-check: FAILED" >&2
  exit 1
fi
if [[ "$strict" == "true" && "$status_line" != "Status: OK" ]]; then
  echo "r-check: FAILED (STCROSS_CHECK_STRICT=true and the check has NOTEs)" >&2
  exit 1
fi
echo "r-check: OK"
