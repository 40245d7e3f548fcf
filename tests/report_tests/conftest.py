"""Study files shared by the report tests, built once per session (reading them never changes them)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dse.report.frame import study_data

from .studies import PCT_VALUES, SR_VALUES, make_search, make_sweep

# The sr sweep as a report meets it mid-run: one seed failed (diverged), one point running with its other
# seed queued, the last point not started.
SR_FAIL = {(0.5, 1)}
SR_RUNNING = {(0.875, 0)}
SR_WAITING = {(0.875, 1)}
SR_SKIP = {(1.0, 0), (1.0, 1)}


@pytest.fixture(scope="session")
def studies_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("studies")
    make_sweep(f"sqlite:///{root / 'sr.db'}", "sr", {"sr": SR_VALUES}, seeds=2, fail=SR_FAIL, running=SR_RUNNING,
               waiting=SR_WAITING, skip=SR_SKIP)
    make_sweep(f"sqlite:///{root / 'pct3x3.db'}", "pct3x3", {"pct3x3": PCT_VALUES}, seeds=2, fixed={"sr": 0.5})
    make_search(f"sqlite:///{root / 'search.db'}", "search", n=20)
    two = f"sqlite:///{root / 'two.db'}"
    make_sweep(two, "sr-a", {"sr": (0.25, 0.5)}, seeds=1)
    make_sweep(two, "sr-b", {"sr": (0.25, 0.5)}, seeds=1, shift=-3.0)
    make_sweep(f"sqlite:///{root / 'one.db'}", "one", {"sr": (0.5,)}, seeds=1)
    for f in root.iterdir():
        f.chmod(0o444)  # reports must not need to write them, and cannot
    return root


@pytest.fixture
def sr_db(studies_dir) -> Path:
    return studies_dir / "sr.db"


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder` with its content hash and mtime: to show that reading changed nothing."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = (hashlib.sha256(path.read_bytes()).hexdigest(),
                                                   os.stat(path).st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def sr():
    return study_data(make_sweep(None, "sr", {"sr": SR_VALUES}, seeds=2, fail=SR_FAIL, running=SR_RUNNING,
                                 waiting=SR_WAITING, skip=SR_SKIP))
