#!/usr/bin/env bash
# The GPU figures of benchmarks/REPORT.md, in one command for a lent GPU machine (no network):
# the demo on CUDA (a check of every step on the device), then run_scale.py at --n-sc N --n-st N.
#
#   bash benchmarks/run_gpu.sh [N] [SECONDS] [BATCH]   # default 1000000 cells a side, 585 s in all, batch 256
#
# Python packages the machine lacks travel as wheels in .whl (git-ignored). The H200 run used
# (pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64
# --platform manylinux2014_x86_64 -d .whl ...): anndata==0.12.19 array-api-compat==1.16.0
# donfig==0.8.1.post1 google-crc32c==1.9.0 legacy-api-wrap==1.5 natsort==8.4.0 numcodecs==0.16.6
# pandas==2.3.3 pytz tzdata scverse-misc==0.0.3 session-info2 zarr==3.1.6. Logs and the
# scale JSON go to $OUT (default /tmp/stcross_gpu). The data are drawn by every core while the
# demo runs, so the demo's time is not a quiet one; the scale run has the machine to itself.
set -uo pipefail
n="${1:-1000000}"
budget="${2:-585}"
batch="${3:-256}"
started=$SECONDS
export PYTHONUNBUFFERED=1
out="${OUT:-/tmp/stcross_gpu}"
mkdir -p "$out"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD/python"
else
  export PYTHONPATH="$PWD/python"
fi
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cpus $(nproc); $(free -g | awk '/Mem/ {print $2 " GiB memory"}')"
  df -h /tmp "$PWD" /root 2>/dev/null
  python3 -W ignore -c "import sys, torch, numpy, pandas, anndata, h5py, stcross
print('python', sys.version.split()[0], 'torch', torch.__version__, 'numpy', numpy.__version__,
      'pandas', pandas.__version__, 'anndata', anndata.__version__, 'cuda', torch.cuda.is_available())" || exit 1
} 2>&1 | tee "$out/machine.txt"
[ "${PIPESTATUS[0]}" = 0 ] || exit 1

# The writable folder with the most room holds the data and the streamed output (5 float32 layers).
free_kib=0
for dir in /tmp "$PWD" /root; do
  avail=$(df -P "$dir" 2>/dev/null | awk 'NR == 2 {print $4}')
  if [ -w "$dir" ] && [ "${avail:-0}" -gt "$free_kib" ]; then free_kib=$avail; work="$dir/stcross_scale"; fi
done
free_gib=$(( free_kib / 1048576 ))
# 20 bytes a cell a gene on disk, 10 GiB kept for the inputs and the model: fewer genes if short of room.
genes=$(( (free_gib - 10) * 1073741824 / (20 * n) ))
[ "$genes" -gt 2000 ] && genes=2000
[ "$genes" -lt 1 ] && genes=1
echo "work $work, ${free_gib} GiB free: imputing $genes genes" | tee -a "$out/machine.txt"

nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 >"$out/gpu_use.csv" 2>&1 &
python3 benchmarks/run_scale.py --n-sc "$n" --n-st "$n" --work "$work" --stage generate >"$out/generate.log" 2>&1 &
generating=$!
timeout 150 python3 -m stcross.cli demo --device cuda --out /tmp/stcross_demo 2>&1 | tee "$out/demo.log"
wait "$generating" || { echo "data generation failed"; tail -20 "$out/generate.log"; }
left=$(( budget - (SECONDS - started) ))
echo "scale run: $left s left"
timeout "$left" python3 benchmarks/run_scale.py --device cuda --n-sc "$n" --n-st "$n" --n-impute "$genes" \
  --batch-size "$batch" --work "$work" --out "$out" 2>&1 | tee "$out/scale.log"
echo "exit ${PIPESTATUS[0]} after $(( SECONDS - started )) s"
