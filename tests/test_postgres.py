"""Many machines, one sweep: two `dse sweep` commands started at once on one PostgreSQL study (the real server at
127.0.0.1:5432, or $DSE_TEST_POSTGRES_URL) train each (point, seed) exactly once between them."""

from __future__ import annotations

import optuna
import pytest
from conftest import PG_URL as URL
from optuna.trial import TrialState
from sweep_helpers import completed_once, popen

from dse.study.storage import normalize_url


@pytest.mark.slow
def test_two_commands_share_one_postgresql_sweep(tmp_path, pg_name):
    args = ["sweep", "--param", "sr", "--values", "0.25,0.375,0.5,0.625,0.75,1.0", "--dataset", "synthetic",
            "--subset", "128", "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--set", "base_e=16",
            "--set", "incr_e=16", "--storage", URL, "--study-name", pg_name]
    machines = [tmp_path / "a", tmp_path / "b"]
    for m in machines:
        m.mkdir()
    procs = [popen(*args, cwd=m) for m in machines]  # started together, as on two machines
    outs = [p.communicate(timeout=400) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "6 of 6 done" in out
    study = optuna.load_study(study_name=pg_name, storage=normalize_url(URL))
    counts = completed_once(study)
    assert len(counts) == 6 and set(counts.values()) == {1}
    assert not [t for t in study.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    pids = {t.user_attrs["worker"]["pid"] for t in study.trials if t.state == TrialState.COMPLETE}
    assert pids <= {p.pid for p in procs} and len(pids) == 2  # both machines trained
    assert not any((m / "studies").exists() for m in machines)  # nothing local
