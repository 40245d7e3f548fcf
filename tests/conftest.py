"""One intra-op thread for every test (and every process a test starts): on a shared machine, OpenMP threads of
several trainings spin against each other and a tiny epoch takes seconds instead of a fraction of one."""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported anywhere; inherited by child processes
# a sweep's default on a CPU is a worker per core; tests run one in-process worker unless they ask for more
os.environ["DSE_WORKERS"] = "1"

import torch  # noqa: E402

torch.set_num_threads(1)

import contextlib  # noqa: E402
import uuid  # noqa: E402

import optuna  # noqa: E402
import pytest  # noqa: E402

PG_URL = os.environ.get("DSE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_name():
    """A fresh study name on the PostgreSQL server at PG_URL (its study deleted afterwards); skips without one."""
    from dse.errors import StorageError
    from dse.study.storage import open_storage

    try:
        storage = open_storage(PG_URL, "probe")
    except StorageError as exc:
        pytest.skip(f"no PostgreSQL server for this test: {exc}")
    name = f"dse-test-{uuid.uuid4().hex[:12]}"
    yield name
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=name, storage=storage)
