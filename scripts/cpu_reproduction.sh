#!/usr/bin/env bash
# The paper's three experiments on a CPU, full CIFAR-10 (the JPEG copy: 45,000 train, 5,000 validation held out of
# it, the full 10,000 test), 3 seeds per point, one training budget for all three (README, "What a sweep produces").
# Each line resumes its study if it is run again: completed trials are never retrained.
#   nice -n 10 scripts/cpu_reproduction.sh            # from the repository root, in the venv
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DSE_CIFAR10_FOLDER:-data/cifar10-jpeg}"
B=(--dataset "folder:$DATA" --base-e 64 --incr-e 64 --epochs 4 --batch-size 128 --seeds 3 --device cpu
   --workers 2 --keep-weights best)
dse sweep --param sr --range 0.125:1.0 "${B[@]}" --study-name cpu-sr --storage studies/cpu-sr.db
dse sweep --param pct3x3 --range 0.01:0.99 "${B[@]}" --study-name cpu-pct3x3 --storage studies/cpu-pct3x3.db
dse sweep --param bypass --values none,simple,complex "${B[@]}" --study-name cpu-bypass \
  --storage studies/cpu-bypass.db
for s in sr pct3x3 bypass; do dse report "studies/cpu-$s.db"; done
