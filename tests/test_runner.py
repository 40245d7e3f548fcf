"""The three resume holes of the old home-made queue, with real processes: killed while queueing, a second machine
starting while the first still queues a large grid (PostgreSQL), a trial lost before its first heartbeat."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import optuna
import pytest
from optuna.trial import TrialState
from sweep_helpers import NOTHING_KEPT, ROOT, TINY, ScriptedTrain, child_env, completed_once, popen

from dse.study import layout
from dse.study.grid import build_spec
from dse.study.runner import RunOptions, open_study, run

GRID = ["--param", "sr=0.125:1.0", "--param", "pct3x3=0.01:0.99"]  # 8 x 9 points
TEN = {"params": ["sr"], "values": [",".join(str(v / 10) for v in range(1, 11))], "dataset": "synthetic",
       "subset": 64, "design": {"base_e": 16, "incr_e": 16}, "recipe_options": {"epochs": 1, "batch_size": 32}}

KILLED_WHILE_QUEUEING = textwrap.dedent("""
    import json, os, signal, sys
    from dse.study import layout, queue
    from dse.study.grid import build_spec
    from dse.study.handle import RunOptions, open_study
    handle = open_study(build_spec(**json.loads(sys.argv[2])), RunOptions(storage=sys.argv[1], study_name="sr"))
    queued, enqueue = [], layout.queue
    def enqueue_then_die(study, params, **attrs):
        if len(queued) == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of queueing the grid
        enqueue(study, params, **attrs)
        queued.append(params)
    layout.queue = enqueue_then_die
    queue.queue_missing(handle)
""")


@pytest.mark.slow
def test_killed_while_queueing_then_the_same_sweep_finishes(tmp_path):
    """A start killed (SIGKILL) after queueing 4 of 10 pairs leaves a study the same sweep completes, each pair
    trained once: the definition was written before the first trial, and queueing only adds what is missing."""
    db = tmp_path / "s.db"
    dead = subprocess.run([sys.executable, "-c", KILLED_WHILE_QUEUEING, str(db), json.dumps(TEN), "4"],
                          env=child_env(), capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert dead.returncode == -signal.SIGKILL, dead.stderr
    study = optuna.load_study(study_name="sr", storage=f"sqlite:///{db}")
    assert [t.state for t in study.trials] == [TrialState.WAITING] * 4  # killed in the middle of queueing
    assert layout.read_definition(study) is not None  # written before the first trial

    fake = ScriptedTrain()
    run(build_spec(**TEN), RunOptions(storage=str(db), study_name="sr", device="cpu"), train_fn=fake, poll=0.05)
    study = optuna.load_study(study_name="sr", storage=f"sqlite:///{db}")
    counts = completed_once(study)
    assert len(counts) == 10 and set(counts.values()) == {1} and len(fake.calls) == 10
    assert len(study.trials) == 10  # the four queued by the dead start were trained, not queued again


LOST_BEFORE_HEARTBEAT = textwrap.dedent("""
    import os, signal, sys
    import optuna
    from dse.study.storage import open_storage
    storage = open_storage(sys.argv[1], "sr", heartbeat_interval=1, grace_period=2)
    study = optuna.load_study(study_name="sr", storage=storage)
    trial = study.ask()  # takes the first queued trial (RUNNING) ...
    print(trial.number, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # ... and dies before any heartbeat
""")


@pytest.mark.slow  # a process that dies holding a trial
def test_a_trial_lost_before_its_first_heartbeat_is_reclaimed_within_the_grace_period(tmp_path):
    spec = build_spec(params=["sr"], values=["0.25,0.5,1.0"], dataset="synthetic", subset=32,
                      design={"base_e": 16, "incr_e": 16}, recipe_options={"epochs": 1, "batch_size": 32})
    opts = RunOptions(storage=str(tmp_path / "s.db"), study_name="sr", device="cpu", grace_period=2,
                      heartbeat_interval=1)
    handle = open_study(spec, opts)
    from dse.study.runner import queue_missing

    queue_missing(handle)
    dead = subprocess.run([sys.executable, "-c", LOST_BEFORE_HEARTBEAT, str(tmp_path / "s.db")], env=child_env(),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert dead.returncode == -signal.SIGKILL, dead.stderr
    number = int(dead.stdout.split()[0])
    assert handle.study.trials[number].state == TrialState.RUNNING
    fake = ScriptedTrain()
    run(spec, opts, train_fn=fake, poll=0.1)  # waits for the grace period, reclaims it, trains it
    study = optuna.load_study(study_name="sr", storage=f"sqlite:///{tmp_path / 's.db'}")
    lost = study.trials[number]
    assert lost.state == TrialState.FAIL and layout.failure(lost) == ("lost", "worker lost before its first heartbeat")
    counts = completed_once(study)
    assert len(counts) == 3 and set(counts.values()) == {1} and len(fake.calls) == 3


# ------------------------------------------------------------------------------------------------ PostgreSQL

URL = os.environ.get("DSE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEEDS = int(os.environ.get("DSE_TEST_LARGE_SEEDS", "14"))  # 72 points x 14 seeds = 1,008 (point, seed) pairs


def _pg_count(storage, study_name: str, *, completed_by: int | None = None) -> int:
    """Trials of the study (those completed by the process `completed_by`), counted in SQL: the test polls, and
    loading 1,000 trials at every look would take the CPU the commands under test need."""
    import sqlalchemy

    query = "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id WHERE s.study_name = :name"
    args = {"name": study_name}
    if completed_by is not None:
        query += (" AND t.state = 'COMPLETE' AND EXISTS (SELECT 1 FROM trial_user_attributes a WHERE"
                  " a.trial_id = t.trial_id AND a.key = 'worker' AND a.value_json LIKE :pid)")
        args["pid"] = f'%"pid": {completed_by},%'
    with storage.engine.connect() as connection:
        return connection.execute(sqlalchemy.text(query), args).scalar_one()


@pytest.mark.slow
def test_a_second_machine_started_while_the_first_queues_a_large_grid(tmp_path):
    """The second command joins while the first is still queueing over 1,000 pairs: it is not refused and trains;
    then both are stopped with Ctrl-C (the whole grid would take long: every trial reads the study) and the
    study is consistent: nothing RUNNING, each pair completed at most once, pairs queued twice never trained
    twice."""
    from dse.errors import StorageError
    from dse.study.storage import normalize_url, open_storage

    try:
        storage = open_storage(URL, "probe")
    except StorageError as exc:
        pytest.skip(f"no PostgreSQL server for this test: {exc}")
    name, total = f"dse-test-{uuid.uuid4().hex[:12]}", 72 * SEEDS
    args = [*GRID, "--seeds", str(SEEDS), *TINY, "--storage", URL, "--study-name", name]
    procs = []
    try:
        procs.append(popen("sweep", *args, cwd=tmp_path, session=True))
        first = procs[0]
        deadline = time.monotonic() + 300
        while not 0 < _pg_count(storage, name) < total // 2:  # the first is queueing: some trials, not all
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        procs.append(popen("sweep", *args, cwd=tmp_path, session=True))
        second = procs[1]
        deadline = time.monotonic() + 600
        while not _pg_count(storage, name, completed_by=second.pid):
            assert second.poll() is None, second.communicate()  # not refused, not stopped
            assert time.monotonic() < deadline, "the second command trained nothing in 10 minutes"
            time.sleep(0.5)
        for p in procs:
            os.killpg(p.pid, signal.SIGINT)  # Ctrl-C in each machine's terminal
        for p in procs:
            _, err = p.communicate(timeout=180)
            assert p.returncode == 130, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    try:
        study = optuna.load_study(study_name=name, storage=normalize_url(URL))
        trials = study.get_trials(deepcopy=False)
        assert not [t for t in trials if t.state == TrialState.RUNNING]
        counts = completed_once(study)
        assert counts and set(counts.values()) == {1}  # each completed pair once
        by_key: dict = {}
        for t in trials:
            by_key.setdefault(layout.key_of(t), []).append(t)
        assert len(by_key) <= total
        for t in trials:
            if t.state == TrialState.FAIL and layout.failure(t)[0] == "duplicate":  # a pair queued twice ...
                assert "top1" not in t.user_attrs  # ... closed without training, for the trial that holds it
                assert t.user_attrs["duplicate_of"] in {u.number for u in by_key[layout.key_of(t)]} - {t.number}
        interrupted = [t for t in trials if t.state == TrialState.FAIL and layout.failure(t)[0] == "interrupted"]
        retried = layout.retried_numbers(trials)
        assert all(t.number in retried for t in interrupted)  # its work queued again before the command exited
    finally:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=storage)


# ------------------------------------------------------------------------------------------------ killed commands


def _running_with_worker(db, pid: int) -> bool:
    """A trial RUNNING with its `worker` attr naming process `pid` (reclaimed at once once that process is gone),
    read in SQL: the test polls while the command writes."""
    import sqlite3

    if not db.exists():
        return False
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        return bool(con.execute("SELECT count(*) FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id"
                                " WHERE t.state = 'RUNNING' AND a.key = 'worker' AND a.value_json LIKE ?",
                                (f'%"pid": {pid},%',)).fetchone()[0])
    except sqlite3.OperationalError:  # the tables are not there yet
        return False
    finally:
        con.close()


@pytest.mark.slow  # dse commands, killed
def test_a_command_killed_three_times_in_one_trial_does_not_use_up_its_retries(tmp_path):
    """kill -9 of the command while it trains the grid's only pair, three times, with --retries 2: the trial is
    lost each time (not a failure of the trial itself), redone by the next start, and the fourth start finishes it."""
    db = tmp_path / "s.db"
    args = ["sweep", "--param", "sr", "--values", "0.5", "--dataset", "synthetic", "--subset", "1000", "--epochs", "2",
            "--batch-size", "32", "--device", "cpu", "--set", "base_e=16", "--set", "incr_e=16", *NOTHING_KEPT,
            "--retries", "2", "--storage", str(db), "--study-name", "sr"]
    for _ in range(3):
        p = popen(*args, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 240
            while not _running_with_worker(db, p.pid):
                assert p.poll() is None and time.monotonic() < deadline, p.communicate()
                time.sleep(0.02)
        finally:
            p.kill()
            p.communicate()
    p = popen(*args, cwd=tmp_path)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert "1 of 1 done, 0 failed" in out
    study = optuna.load_study(study_name="sr", storage=f"sqlite:///{db}")
    lost = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(lost) == 3 and {layout.failure(t)[0] for t in lost} == {"lost"}
    assert set(completed_once(study).values()) == {1}
