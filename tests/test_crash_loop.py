"""A study survives anything: the same `dse sweep` killed with SIGKILL at random moments (while it starts, queues,
trains, records and closes trials), 50 times over; after each kill the study reads, `dse report` works on it,
and the next start of the same command goes on; in the end every (point, seed) is complete exactly once."""

from __future__ import annotations

import random
import sqlite3
import threading
import time

import optuna
import pytest
from conftest import PG_URL
from optuna.trial import TrialState
from sweep_helpers import TINY, completed_once, dse, popen

from dse.study import layout

ROUNDS = 50
VALUES, SEEDS = "0.25,0.5,1.0", 12  # 36 pairs: queueing one takes tens of milliseconds, training one under a second
PAIRS = 3 * SEEDS
EARLY, EARLY_S = 0.3, (0.5, 4.0)  # a share of the kills, seconds after the command starts
TRAINING_S = (0.0, 2.5)  # the others, seconds after it printed its header (a tiny trial takes well under one)
ARGS = ["sweep", "--param", "sr", "--values", VALUES, "--seeds", str(SEEDS), *TINY, "--workers", "1"]


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path):
    """(--storage, --study-name, the URL Optuna reads): a file beside the test, or the PostgreSQL server."""
    if request.param == "sqlite":
        yield "s.db", "sr", f"sqlite:///{tmp_path / 's.db'}"
        return
    from dse.study.storage import normalize_url

    yield PG_URL, request.getfixturevalue("pg_name"), normalize_url(PG_URL)


def _completed_pairs(db, url: str, name: str) -> list[tuple] | None:
    """The params of every COMPLETE trial, read through a read-only connection: the test must not repair what a
    kill left (a read-write open would roll a hot journal back for the commands under test). PostgreSQL rolls a
    killed client's transaction back itself: read through Optuna. None: a hot journal, unreadable until the next
    command (the one under test) rolls it back."""
    if not url.startswith("sqlite"):
        try:
            study = optuna.load_study(study_name=name, storage=url)
        except KeyError:  # killed before the study was made
            return []
        done = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
        return [tuple(sorted(t.params.items())) for t in done]
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        rows = con.execute("SELECT t.trial_id, p.param_name, p.param_value FROM trials t JOIN trial_params p"
                           " ON p.trial_id = t.trial_id WHERE t.state = 'COMPLETE'").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # killed before Optuna made its tables
            return []
        if "readonly" in str(exc):  # killed mid-write: a hot journal, which only the next command rolls back
            return None
        raise
    finally:
        con.close()
    params: dict[int, list] = {}
    for trial_id, name, value in rows:
        params.setdefault(trial_id, []).append((name, value))
    return [tuple(sorted(p)) for p in params.values()]



def _watch(proc, opened: threading.Event) -> None:
    for line in proc.stdout:
        if " · study " in line:
            opened.set()


def _report_works(tmp_path, round_: int, storage: str, name: str) -> None:
    only = ["--study-name", name] if "://" in storage else []  # the server holds other tests' studies too
    result = dse("report", storage, *only, "--out", str(tmp_path / f"report-{round_}"), cwd=tmp_path, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


@pytest.mark.slow  # 50 dse commands killed, reports, a final sweep
def test_kill_9_at_random_moments_then_every_pair_completes_exactly_once(tmp_path, where):
    storage, name, url = where
    args = [*ARGS, "--storage", storage, "--study-name", name]
    rng = random.Random(19)  # the kill moments, the same on every run
    db = tmp_path / "s.db"
    for round_ in range(ROUNDS):
        proc = popen(*args, cwd=tmp_path)
        opened = threading.Event()  # the header line: the study is open, queueing has begun, training is next
        reader = threading.Thread(target=_watch, args=(proc, opened), daemon=True)
        reader.start()
        if rng.random() < EARLY:  # while it starts: imports, opening the study, queueing, loading the data
            time.sleep(rng.uniform(*EARLY_S))
        else:  # while it trains, records and closes trials
            opened.wait(120)
            time.sleep(rng.uniform(*TRAINING_S))
        proc.kill()
        reader.join(60)
        err = proc.stderr.read()
        proc.wait()
        # a start before this kill found the study readable and writable: no refusal, no traceback
        assert "Traceback" not in err and "error:" not in err, f"round {round_}: {err}"
        pairs = _completed_pairs(db, url, name)
        assert pairs is None or len(set(pairs)) == len(pairs), f"round {round_}: a pair completed twice"
        if round_ % 10 == 9:
            _report_works(tmp_path, round_, storage, name)
    result = dse(*args, cwd=tmp_path, timeout=600)  # the same command, left to finish
    assert result.returncode == 0, result.stderr
    assert f"{PAIRS} of {PAIRS} done, 0 failed" in result.stdout
    study = optuna.load_study(study_name=name, storage=url)
    counts = completed_once(study)
    assert len(counts) == PAIRS and set(counts.values()) == {1}
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    queued = [t for t in trials if layout.QUEUED_ATTR in t.user_attrs and layout.RETRY_OF_ATTR not in t.user_attrs]
    assert len({layout.key_of(t) for t in queued}) == len(queued) == PAIRS  # each pair queued once (retries aside)
    _report_works(tmp_path, ROUNDS, storage, name)
