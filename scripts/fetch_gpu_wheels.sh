#!/usr/bin/env bash
# Download the wheels a GPU machine without internet lacks (its image has torch, pandas, matplotlib, typer, rich
# but not optuna and its database stack), for CPython 3.12 on x86_64, into DIR (default .gpu/wheels).
set -euo pipefail
dir=${1:-.gpu/wheels}
mkdir -p "$dir"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d "$dir" \
  "optuna==$(python3 -c 'import optuna; print(optuna.__version__)' 2>/dev/null || echo 4.2.1)" \
  sqlalchemy alembic colorlog Mako greenlet
ls -1 "$dir"
