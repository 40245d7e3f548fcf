"""One queue entry per (point, seed) however many commands start together (dse/study/queue.py, dse/study/lock.py):
the queue lock, the background queueing thread, and real processes queueing one study at once on SQLite and
PostgreSQL."""

from __future__ import annotations

import multiprocessing

import optuna
import pytest
from conftest import PG_URL
from optuna.trial import TrialState
from sweep_helpers import TINY, TINY_DESIGN, TINY_RECIPE, completed_once, popen

from dse.study import layout
from dse.study.grid import build_spec
from dse.study.handle import RunOptions, open_study
from dse.study.lock import QueueLock, lock_path
from dse.study.queue import Queueing, has_work, queue_missing
from dse.study.storage import normalize_url

VALUES = ",".join(str(v / 40) for v in range(1, 41))  # 40 points of sr


def _spec(seeds: int = 1, values: str = VALUES):
    return build_spec(params=["sr"], values=[values], seeds=seeds, dataset="synthetic", subset=32,
                      design=TINY_DESIGN, recipe_options=TINY_RECIPE)


def _handle(storage: str, name: str = "sr", **kw):
    return open_study(_spec(**kw), RunOptions(storage=storage, study_name=name, device="cpu"))


def _keys(trials) -> list[tuple]:
    return [layout.key_of(t) for t in trials]


# ------------------------------------------------------------------------------------------------ the lock


def test_the_lock_is_exclusive_and_released_for_the_next_holder(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    first, second = QueueLock(url, "sr"), QueueLock(url, "sr")
    assert first.acquire() and not second.acquire()
    assert lock_path(tmp_path / "s.db").exists()
    first.release()
    assert second.acquire()
    second.release()


def test_queueing_under_a_held_lock_waits_for_the_holder(tmp_path):
    handle = _handle(str(tmp_path / "s.db"), values="0.25,0.5,1.0")
    with QueueLock(handle.storage.url, "sr") as held:
        assert held.acquire()
        assert queue_missing(handle, wait=False) is None  # another command is queueing: nothing written
        assert handle.trials() == []
        assert has_work(handle)  # its pairs are on their way
    assert queue_missing(handle, wait=False) == 3 and queue_missing(handle) == 0
    assert len(handle.trials([TrialState.WAITING])) == 3


def test_the_background_queue_queues_the_grid_once_and_a_second_start_adds_nothing(tmp_path):
    handle = _handle(str(tmp_path / "s.db"), seeds=2)
    queueing = Queueing(handle).start()
    assert queueing.first.wait(60)
    assert has_work(handle, queueing)
    queueing.close()
    assert queueing.count == 80 and sorted(_keys(handle.trials())) == sorted(set(_keys(handle.trials())))
    again = Queueing(handle).start()
    again.close()
    assert again.count == 0 and len(handle.trials()) == 80


def test_a_stopped_background_queue_leaves_the_rest_to_the_next_start(tmp_path):
    handle = _handle(str(tmp_path / "s.db"))
    queueing = Queueing(handle)
    queueing.stop.set()  # stopped before its first pair (a Ctrl-C during start-up)
    queueing.start().close(stop=True)
    assert queueing.count == 0 and handle.trials() == []
    assert queue_missing(handle) == 40 and len(set(_keys(handle.trials()))) == 40


# ------------------------------------------------------------------------------------------------ processes


def _queue_in_process(storage: str, name: str, barrier) -> None:
    handle = _handle(storage, name, seeds=2)
    barrier.wait()  # every process opened the study: now all queue at the same moment
    queue_missing(handle)


def _queue_together(storage: str, name: str, processes: int = 3) -> list:
    _handle(storage, name, seeds=2)  # the study and its definition, as the first start writes them
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    procs = [ctx.Process(target=_queue_in_process, args=(storage, name, barrier)) for _ in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    url = storage if "://" in storage else f"sqlite:///{storage}"
    return optuna.load_study(study_name=name, storage=normalize_url(url)).get_trials(deepcopy=False)


@pytest.mark.slow  # starts processes
def test_three_processes_queueing_at_once_on_sqlite_queue_each_pair_once(tmp_path):
    trials = _queue_together(str(tmp_path / "s.db"), "sr")
    assert len(trials) == 80 and len(set(_keys(trials))) == 80


@pytest.mark.slow  # starts processes
def test_three_processes_queueing_at_once_on_postgresql_queue_each_pair_once(pg_name):
    trials = _queue_together(PG_URL, pg_name)
    assert len(trials) == 80 and len(set(_keys(trials))) == 80


def _sweeps_together(storage: str, name: str, cwd, commands: int = 3) -> optuna.Study:
    args = ["sweep", "--param", "sr", "--values", "0.25,0.5,0.75,1.0", "--seeds", "2", *TINY, "--storage", storage,
            "--study-name", name]
    procs = [popen(*args, cwd=cwd) for _ in range(commands)]  # started together, as on three machines
    for p in procs:
        out, err = p.communicate(timeout=400)
        assert p.returncode == 0, err
        assert "8 of 8 done" in out
    url = storage if "://" in storage else f"sqlite:///{storage}"
    return optuna.load_study(study_name=name, storage=normalize_url(url))


def _each_pair_once(study: optuna.Study) -> None:
    trials = study.get_trials(deepcopy=False)
    queued = [t for t in trials if layout.QUEUED_ATTR in t.user_attrs]
    assert len(queued) == 8 and len(set(_keys(queued))) == 8  # one queue entry per pair
    assert not [t for t in trials if layout.failure(t)[0] == "duplicate" and t.state == TrialState.FAIL]
    counts = completed_once(study)
    assert len(counts) == 8 and set(counts.values()) == {1}


@pytest.mark.slow  # three dse commands
def test_three_sweeps_started_together_on_sqlite_queue_and_train_each_pair_once(tmp_path):
    _each_pair_once(_sweeps_together(str(tmp_path / "s.db"), "sr", tmp_path))


@pytest.mark.slow  # three dse commands
def test_three_sweeps_started_together_on_postgresql_queue_and_train_each_pair_once(tmp_path, pg_name):
    _each_pair_once(_sweeps_together(PG_URL, pg_name, tmp_path))
