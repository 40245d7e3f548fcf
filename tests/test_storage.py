"""Storage: paths and URLs to Optuna storage; bad targets refused with one line and left byte-identical; SQLite
shared by several processes without "database is locked" and without a trial taken twice."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import textwrap

import optuna
import pytest
from sweep_helpers import ROOT, as_nobody, fingerprint, shared_dir  # noqa: F401

from dse.errors import StorageError
from dse.study.storage import (
    default_path,
    describe,
    file_name,
    normalize_url,
    open_existing,
    open_storage,
    resolve,
    sqlite_path,
)


def test_default_is_a_file_per_study_in_studies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_path("sr").as_posix() == "studies/sr.db"
    assert resolve(None, "sr") == "sqlite:///studies/sr.db"
    storage = open_storage(None, "sr")
    optuna.create_study(study_name="sr", storage=storage)
    assert (tmp_path / "studies" / "sr.db").is_file()
    assert optuna.load_study(study_name="sr", storage="sqlite:///studies/sr.db").study_name == "sr"


def test_urls_and_paths():
    assert resolve("x/y.db", "s") == "sqlite:///x/y.db"
    assert resolve("sqlite:////abs/s.db", "s") == "sqlite:////abs/s.db"
    assert sqlite_path("sqlite:////abs/s.db").as_posix() == "/abs/s.db"
    assert sqlite_path("postgresql://u@h/db") is None
    assert normalize_url("postgresql://u:secret@h/db").startswith("postgresql")
    assert "secret" not in describe("postgresql://u:secret@h/db")


def _refused(target, match: str) -> str:
    with pytest.raises(StorageError) as info:
        open_storage(target, "sr")
    message = str(info.value)
    assert match in message and "\n" not in message, message
    return message


def test_a_directory_is_refused(tmp_path):
    _refused(tmp_path, "is a directory")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("my thesis, not a database\n" * 100)
    before = fingerprint(path)
    _refused(path, "is not an SQLite database")
    assert fingerprint(path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_an_sqlite_database_of_another_application_is_refused_untouched(tmp_path):
    path = tmp_path / "contacts.db"
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        con.execute("INSERT INTO contacts VALUES ('Ada', '123')")
        con.commit()
    before = fingerprint(path)
    _refused(path, "another application (tables: contacts)")
    assert fingerprint(path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["contacts.db"]


def test_an_empty_sqlite_database_and_an_optuna_one_are_used(tmp_path):
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    open_storage(empty, "sr")
    optuna.create_study(study_name="other", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    open_storage(tmp_path / "optuna.db", "sr")


def test_a_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "studies").write_text("a file")
    _refused(tmp_path / "studies" / "sr.db", "is a file, not a folder")


def test_a_file_that_is_not_writable_is_refused_untouched(shared_dir):  # noqa: F811
    tmp_path = shared_dir
    optuna.create_study(study_name="sr", storage=f"sqlite:///{tmp_path / 'ro.db'}")
    path = tmp_path / "ro.db"
    path.chmod(0o444)
    before = fingerprint(path)
    with as_nobody():
        _refused(path, "is not writable")
    assert fingerprint(path) == before


def test_a_folder_that_is_not_writable_is_refused(shared_dir):  # noqa: F811
    folder = shared_dir / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    with as_nobody():
        _refused(folder / "sr.db", "not writable")
    assert list(folder.iterdir()) == []


def test_unreachable_postgresql_is_one_line():
    message = _refused("postgresql://postgres@127.0.0.1:1/test", "cannot open storage")
    assert "127.0.0.1" in message


def test_an_unknown_url_scheme_is_one_line():
    _refused("nosuchdb://host/x", "invalid storage URL")


WORKER = textwrap.dedent("""
    import sys, time
    from optuna.trial import TrialState
    from dse.study.storage import open_storage
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(sys.argv[1], "race")
    study = optuna.load_study(study_name="race", storage=storage)
    sid = storage.get_study_id_from_name("race")
    taken = 0
    while True:
        waiting = storage.get_all_trials(sid, deepcopy=False, states=(TrialState.WAITING,))
        if not waiting:
            break
        for t in waiting:
            try:
                took = storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # finished by another process since we listed it
            if took:
                storage.set_trial_user_attr(t._trial_id, "taker", sys.argv[2])
                storage.record_heartbeat(t._trial_id)
                storage.set_trial_state_values(t._trial_id, TrialState.COMPLETE, [1.0])
                taken += 1
                break
    print(taken)
""")


@pytest.mark.slow
def test_four_processes_share_sqlite_without_locks_or_double_takes(tmp_path):
    """Optuna's take-a-WAITING-trial step (read state, write RUNNING) on one SQLite file from four processes
    at once: with BEGIN IMMEDIATE every trial is taken exactly once and nothing fails with a locked database."""
    path = tmp_path / "race.db"
    study = optuna.create_study(study_name="race", storage=open_storage(path, "race"))
    for i in range(80):
        study.enqueue_trial({"x": i})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(i)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for i in range(4)]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err
    # taken exactly once each (with the sqlite3 driver's default transactions some are taken twice)
    assert sum(int(out) for out, _ in outs) == 80
    trials = optuna.load_study(study_name="race", storage=f"sqlite:///{path}").trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials) and len(trials) == 80


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs-study", "a\\b", "..", ".", "x" * 300, "", "new\nline"])
def test_a_study_name_names_a_file_only_after_a_check(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError) as info:
        open_storage(None, name)
    message = str(info.value)
    assert "cannot name a file; choose another --study-name" in message and "\n" not in message, message
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "escape.db").exists()
    assert file_name("sr-synthetic_2.5") == "sr-synthetic_2.5"


def test_an_sqlite_url_without_a_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite:///", "sqlite://", "sqlite:///:memory:"):
        _refused(url, "names no file")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["weird?name.db", "pct%41.db", "hash#1 and space.db", "at@colon:.db"])
def test_a_storage_path_is_the_file_made_and_the_file_read(tmp_path, name):
    optuna.create_study(study_name="s", storage=open_storage(tmp_path / name, "s")).enqueue_trial({"x": 1.0})
    assert [p.name for p in tmp_path.iterdir()] == [name]
    for read_only in (True, False):  # report and export, dashboard
        storage, display = open_existing(str(tmp_path / name), read_only=read_only)
        assert display == str(tmp_path / name) and optuna.get_all_study_names(storage) == ["s"]
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_one_reading_of_a_url_as_a_file_serves_the_study_and_its_artifact_store(tmp_path):
    """sqlite_path reads every SQLite URL dse makes (escaped paths, the read-only URI form) back to the file named,
    and the artifact store's default place is found through it."""
    from dse.study.artifacts import default_location
    from dse.study.storage import _sqlite_ro_url, resolve, sqlite_path

    for name in ("plain.db", "weird?name.db", "pct%41.db", "a b.db"):
        path = tmp_path / name
        path.touch()
        for url in (resolve(str(path), "x"), _sqlite_ro_url(path)):
            assert sqlite_path(url) == path.resolve() if "file:" in url else sqlite_path(url) == path, url
            assert default_location(url).name == path.stem + ".artifacts"
    assert sqlite_path("postgresql://u@h/db") is None and default_location("postgresql://u@h/db") is None
    assert sqlite_path("sqlite://") is None


def test_another_process_creating_the_schema_between_check_and_create_is_retried(tmp_path, monkeypatch):
    """Optuna checks for each table, then creates it: a second sweep started at the same moment on a new file can
    create a table in between, and SQLite answers "table ... already exists" (seen: three sweeps started together).
    The race is staged here: the other process's schema is written just before this one's unchecked create."""
    import sqlalchemy

    path = tmp_path / "s.db"
    create_all = sqlalchemy.MetaData.create_all
    raced: list[bool] = []

    def racing(self, bind, tables=None, checkfirst=True):
        if raced:
            return create_all(self, bind, tables, checkfirst)
        raced.append(True)
        other = sqlalchemy.create_engine(f"sqlite:///{path}")
        create_all(self, other)  # the other sweep's process, first to the file
        other.dispose()
        return create_all(self, bind, tables, checkfirst=False)  # this one had checked before it: none there

    monkeypatch.setattr(sqlalchemy.MetaData, "create_all", racing)
    storage = open_storage(path, "s")
    assert raced and optuna.create_study(study_name="s", storage=storage).study_name == "s"
