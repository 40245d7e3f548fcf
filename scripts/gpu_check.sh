#!/usr/bin/env bash
# The whole GPU check in one call: install what the GPU image lacks, unpack CIFAR-10, print the throughput table,
# run both of the paper's sweeps, report them, and leave everything in OUTDIR.
#
#   scripts/gpu_check.sh OUTDIR            # on the GPU machine (see docs/gpu.md for how to prepare and carry)
#   TINY=1 scripts/gpu_check.sh /tmp/gc    # the same path on a CPU, in a minute or two, to test the script
#
# Environment: EPOCHS (8), SEEDS (3), WORKERS (3), BATCH (512), DATA (an extracted folder or .gpu/cifar10-jpeg.tar.gz).
# The sweeps write their studies into OUTDIR: if the call is cut short, the same command resumes them.
set -uo pipefail
out=${1:?usage: scripts/gpu_check.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
exec > >(tee -a "$out/log.txt") 2>&1

py=${PYTHON:-python3}
if ! $py -c "import optuna" 2>/dev/null; then
  [ -d .gpu/wheels ] || { echo "optuna is missing and .gpu/wheels is absent: run scripts/fetch_gpu_wheels.sh"; exit 2; }
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl \
    || exit 2
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
dse() { $py -m dse "$@"; }

data=${DATA:-data/cifar10-jpeg}
if [ ! -d "$data" ]; then
  archive=.gpu/cifar10-jpeg.tar.gz
  [ -f "$archive" ] || archive=../shared/datasets/cifar10-jpeg.tar.gz
  mkdir -p data && tar xzf "$archive" -C data && data=data/cifar10-jpeg || { echo "no CIFAR-10 copy found"; exit 2; }
fi

if [ -n "${TINY:-}" ]; then
  device=cpu epochs=1 seeds=1 workers=1 batch=64
  grid_sr=(--range 0.125:1.0 --points 2) grid_pct=(--range 0.01:0.99 --points 2) extra=(--subset 300)
  bench_steps=2 bench_batches=(32)
else
  device=cuda epochs=${EPOCHS:-8} seeds=${SEEDS:-3} workers=${WORKERS:-3} batch=${BATCH:-512}
  grid_sr=(--range 0.125:1.0) grid_pct=(--range 0.01:0.99) extra=()
  bench_steps=50 bench_batches=(512 1024 2048)
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
$py -c "import torch, optuna; print('torch', torch.__version__, 'optuna', optuna.__version__)"

echo "== decode the dataset once (later trials read the cache)"
time dse arch --dataset "folder:$data" --json > /dev/null
$py -c "from dse.data import load_dataset; d = load_dataset('folder:$data'); print(d.num_train, 'train', d.num_test, 'test')"

echo "== throughput"
for b in "${bench_batches[@]}"; do
  dse bench --device "$device" --steps "$bench_steps" --batch-size "$b" --dataset "folder:$data" | tee -a "$out/bench.txt"
done

for sweep in sr pct3x3; do
  if [ "$sweep" = sr ]; then grid=("${grid_sr[@]}"); else grid=("${grid_pct[@]}"); fi
  echo "== sweep $sweep"
  start=$(date +%s)
  dse sweep --param "$sweep" "${grid[@]}" --seeds "$seeds" --epochs "$epochs" --batch-size "$batch" \
    --dataset "folder:$data" --device "$device" --workers "$workers" --storage "$out/$sweep.db" "${extra[@]}"
  rc=$?
  echo "sweep $sweep: $(( $(date +%s) - start )) s wall, exit $rc" | tee -a "$out/bench.txt"
done

echo "== reports"
for sweep in sr pct3x3; do dse report "$out/$sweep.db" --out "$out/reports/$sweep"; done
tar czf "$out/reports.tar.gz" -C "$out" reports && rm -rf "$out/reports"
ls -la "$out"
