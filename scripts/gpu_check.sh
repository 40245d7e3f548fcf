#!/usr/bin/env bash
# The GPU check in one device call that fits the budget, and resumes in the next:
#   1. install what the GPU image lacks (carried wheels), unpack CIFAR-10 (carried JPEG archive);
#   2. smoke test (a minute): each throughput lever on the anchor, the fastest that works, one real epoch, the
#      sweeps' time estimated from that speed and the points' MACs, a forced OOM and a normal run after it;
#   3. as much of both paper sweeps (Figure 3(a) sr, 3(b) pct3x3; 3 seeds, 8 epochs) as fits in BUDGET seconds,
#      the studies written into OUTDIR as they go; the same command later trains only what is missing;
#   4. reports of whatever the studies hold, and one summary line per sweep in OUTDIR/bench.txt.
#
#   scripts/gpu_check.sh OUTDIR            # on the GPU machine (docs/gpu.md: how to prepare and carry)
#   TINY=1 scripts/gpu_check.sh /tmp/gc    # the same path on a CPU in a few minutes, to test the script
#
# Environment: BUDGET (480 s for the sweeps, but they end by CALL_LIMIT, 540 s after the start), EPOCHS (8), SEEDS (3), WORKERS (1), BATCH (512),
#   DATA (an extracted folder, else .gpu/cifar10-jpeg.tar.gz), SEED_STUDIES (studies: its gpu-sr.db, gpu-pct3x3.db copied into an
#   OUTDIR that has no study yet, so a new device session resumes the committed studies), CONCURRENT (2).
set -uo pipefail
script_start=$(date +%s)
out=${1:?usage: scripts/gpu_check.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
exec > >(tee -a "$out/log.txt") 2>&1
echo "== gpu_check $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null)"

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
  device=cpu epochs=1 seeds=1 workers=1 batch=${BATCH:-32} budget=${BUDGET:-300}
  grid_sr=(--range 0.125:1.0 --points 2) grid_pct=(--range 0.01:0.99 --points 2) extra=(--subset 300 --set base_e=16 --set incr_e=16)
  smoke=(--tiny --subset 300)
else
  device=cuda epochs=${EPOCHS:-8} seeds=${SEEDS:-3} workers=${WORKERS:-1} batch=${BATCH:-512} budget=${BUDGET:-480}
  grid_sr=(--range 0.125:1.0) grid_pct=(--range 0.01:0.99) extra=()
  smoke=(--concurrent "${CONCURRENT:-2}")
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
$py -c "import torch, optuna; print('torch', torch.__version__, 'optuna', optuna.__version__)"

echo "== decode the dataset once (later runs read the cache)"
$py -c "from dse.data import load_dataset; d = load_dataset('folder:$data'); print(d.num_train, 'train', d.num_test, 'test')" \
  || exit 2

seed_dir=${SEED_STUDIES:-studies}  # the committed GPU studies: studies/gpu-sr.db, studies/gpu-pct3x3.db
for sweep in sr pct3x3; do
  if [ ! -f "$out/$sweep.db" ] && [ -f "$seed_dir/gpu-$sweep.db" ]; then
    cp "$seed_dir/gpu-$sweep.db" "$out/$sweep.db" && echo "resuming $seed_dir/gpu-$sweep.db"
  fi
done

echo "== smoke test: levers, pick, estimate, OOM"
$py scripts/gpu_smoke.py --dataset "folder:$data" --device "$device" --batch "$batch" --epochs "$epochs" \
  --seeds "$seeds" --out "$out" "${smoke[@]}" | tee -a "$out/bench.txt"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "smoke test failed: no sweep"; exit 1; }

if [ "$device" = cuda ]; then
  echo "== an OOM inside a sweep is recorded as oom (the two largest SR points at a batch of the whole split)"
  timeout -s INT -k 30 120 $py -m dse sweep --param sr --range 0.875:1.0 --seeds 1 --epochs 1 --batch-size 50000 \
    --dataset "folder:$data" --device cuda --storage "$out/oom-check.db" >/dev/null 2>&1
  $py - "$out/oom-check.db" <<'EOF' | tee -a "$out/bench.txt"
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
storage = f"sqlite:///{sys.argv[1]}"
kinds = [t.user_attrs.get("fail_kind") for name in optuna.get_all_study_names(storage)
         for t in optuna.load_study(study_name=name, storage=storage).trials]
print(f"oom check (sweep): fail kinds recorded {kinds}: {'ok' if 'oom' in kinds else 'NOT recorded as oom'}")
EOF
fi

deadline=$(( $(date +%s) + budget ))
call_end=$(( script_start + ${CALL_LIMIT:-540} ))  # a device call may run 10 minutes: leave time for the reports
[ "$deadline" -gt "$call_end" ] && deadline=$call_end
for sweep in sr pct3x3; do
  if [ "$sweep" = sr ]; then grid=("${grid_sr[@]}"); else grid=("${grid_pct[@]}"); fi
  left=$(( deadline - $(date +%s) ))
  if [ "$left" -lt 30 ]; then echo "sweep $sweep: not started ($left s of the budget left)" | tee -a "$out/bench.txt"; continue; fi
  echo "== sweep $sweep (at most $left s)"
  start=$(date +%s)
  # SIGINT at the budget's end: the trial in progress is queued again, so the next call resumes it
  timeout -s INT -k 60 "$left" $py -m dse sweep --param "$sweep" "${grid[@]}" --seeds "$seeds" --epochs "$epochs" \
    --batch-size "$batch" --dataset "folder:$data" --device "$device" --workers "$workers" \
    --storage "$out/$sweep.db" --keep-weights none --latency-runs 0 "${extra[@]}"
  rc=$?
  echo "sweep $sweep: $(( $(date +%s) - start )) s wall, exit $rc$([ $rc = 124 ] || [ $rc = 130 ] && echo ' (budget reached)')" \
    | tee -a "$out/bench.txt"
done

echo "== reports and summary"
for sweep in sr pct3x3; do
  [ -f "$out/$sweep.db" ] && dse report "$out/$sweep.db" --out "$out/reports/$sweep"
done
[ -d "$out/reports" ] && tar czf "$out/reports.tar.gz" -C "$out" reports && rm -rf "$out/reports"
$py - "$out" <<'EOF' | tee -a "$out/bench.txt"
import json, math, sys, pathlib, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
out = pathlib.Path(sys.argv[1])
smoke = json.loads((out / "smoke.json").read_text()) if (out / "smoke.json").exists() else {}
pick = smoke.get("pick", "?")
speed = next((r["images_per_second"] for r in smoke.get("levers", []) if r["lever"] == pick), None)
device = next((r["device"] for r in smoke.get("levers", []) if r.get("device")), "?")
for sweep in ("sr", "pct3x3"):
    db = out / f"{sweep}.db"
    if not db.exists():
        continue
    storage = f"sqlite:///{db}"
    studies = [optuna.load_study(study_name=n, storage=storage) for n in optuna.get_all_study_names(storage)]
    done = [t for s in studies for t in s.trials if t.state == optuna.trial.TrialState.COMPLETE]
    target = 0
    for s in studies:  # the sweep's definition (grid x seeds); retried and interrupted trials are not extra work
        d = s.user_attrs.get("dse") or {}
        grid = [len(v) for v in (d.get("grid") or {}).values()]
        target += math.prod(grid) * len(d.get("seeds") or []) if grid else 0
    minutes = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in done) / 60
    rate = f"{speed:,.0f}" if speed else "?"
    print(f"summary | {device} | {pick} | {rate} img/s (smoke, batch {smoke.get('batch')}) | {sweep}: "
          f"{len(done)} of {target or '?'} trials done | {minutes:.1f} min in finished trials")
EOF
ls -la "$out"
