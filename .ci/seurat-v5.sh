#!/usr/bin/env bash
# The R package's build + check (testthat and the vignette) on Seurat 5: R 4.5, Seurat 5.2,
# SeuratObject 5.0 and reticulate 1.41 from Debian 13, in a root of their own next to the
# Debian 12 host (whose R is 4.2 with Seurat 4.3). The root is built once with debootstrap and
# kept in the cache; the host's Python venv and this checkout are bind-mounted into it at their
# own paths, so the check runs against the same Python as the host's.
#
# Environment:
#   STCROSS_PYTHON   the venv's python, with stcross installed (required)
#   STCROSS_V5_ROOT  where the Debian 13 root lives (default ~/.cache/stcross/debian13-seurat5)
#   STCROSS_MIRROR   Debian mirror (default http://deb.debian.org/debian)
# Needs root (debootstrap, chroot, bind mounts). Exits non-zero when the check fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${STCROSS_PYTHON:?set STCROSS_PYTHON to the venv python with stcross installed}"
root="${STCROSS_V5_ROOT:-$HOME/.cache/stcross/debian13-seurat5}"
mirror="${STCROSS_MIRROR:-http://deb.debian.org/debian}"
packages=(r-base-core r-cran-matrix r-cran-reticulate r-cran-seuratobject r-cran-seurat
          r-cran-testthat r-cran-knitr r-cran-rmarkdown r-bioc-biocstyle pandoc r-cran-ggplot2 r-cran-hdf5r)

if [[ $(id -u) -ne 0 ]]; then
  echo "seurat-v5: needs root for debootstrap, chroot and bind mounts" >&2
  exit 1
fi

mounted=()
mount_into() {  # mount_into ROOT SOURCE [TYPE]: SOURCE at the same path inside ROOT
  local target="$1$2"
  mkdir -p "$target"
  if [[ -n "${3:-}" ]]; then
    mount -t "$3" "$3" "$target"
  else
    mount --bind "$2" "$target"
  fi
  mounted+=("$target")
}
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true
  done
  mounted=()
}
trap unmount_all EXIT

# --- build the root once (about 3 minutes, 2 GB); rebuilt when the package list changes ---
stamp="$root/.stcross-packages"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${packages[*]}" ]]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  build="$root.partial"
  # Nothing is mounted under $build now, so removing it cannot reach the host.
  [[ -d "$build" ]] && rm -rf --one-file-system "$build"
  start=$SECONDS
  echo "seurat-v5: building a Debian 13 root in $root (cached for later runs)"
  debootstrap --variant=minbase trixie "$build" "$mirror" >/dev/null
  cp /etc/resolv.conf "$build/etc/resolv.conf"
  mount_into "$build" /proc proc
  mount_into "$build" /dev
  mount_into "$build" /dev/pts
  chroot "$build" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends ${packages[*]} >/dev/null"
  chroot "$build" apt-get clean
  unmount_all
  echo "${packages[*]}" > "$build/.stcross-packages"
  [[ -d "$root" ]] && rm -rf --one-file-system "$root"
  mv "$build" "$root"
  echo "seurat-v5: root built in $((SECONDS - start)) s"
fi

# --- the host's Python inside the root: the venv, its base interpreter, this checkout ---
venv="$("$python" -c 'import sys; print(sys.prefix)')"
base="$("$python" -c 'import sys; print(sys.base_prefix)')"
if [[ "$base" == "/usr" ]]; then
  echo "seurat-v5: the venv's base Python is the system's (/usr); it cannot be carried into the" \
       "Debian 13 root. Build the venv from a self-contained Python (e.g. pyenv)." >&2
  exit 1
fi
mount_into "$root" /proc proc
mount_into "$root" /dev
mount_into "$root" "$base"
mount_into "$root" "$venv"
mount_into "$root" "$repo"

in_root() {
  chroot "$root" env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" STCROSS_PYTHON="$python" "$@"
}
in_root env STCROSS_REQUIRE_PYTHON=true STCROSS_CHECK_DIR=/tmp/stcross-rcheck \
  bash "$repo/.ci/r-check.sh"
# The Python door to Seurat files (stcross.io, rpy2) on this R: read and write Seurat 5 objects.
in_root env STCROSS_REQUIRE_R=true PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg \
  "$python" -m pytest "$repo/tests/python/io" -q -p no:cacheprovider
