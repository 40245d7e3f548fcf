"""One intra-op thread for every test (and every process a test starts): on a shared machine, OpenMP threads of
several trainings spin against each other and a tiny epoch takes seconds instead of a fraction of one."""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported anywhere; inherited by child processes
# a sweep's default on a CPU is a worker per core; tests run one in-process worker unless they ask for more
os.environ["DSE_WORKERS"] = "1"

import torch  # noqa: E402

torch.set_num_threads(1)
