"""A study left with a hot journal (its writer killed mid-transaction) opens for every command: the unfinished write
is rolled back through a read-write connection, once, with one line; a live writer's journal is left alone. A file
with damaged pages is refused whole, with one line."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from sweep_helpers import TINY, dse, fingerprint, load

from dse.errors import DseError
from dse.study.storage import check_sqlite_file, open_existing

# A writer mid-transaction, waiting to be killed or told to finish. With "spill" it journals many pages and a tiny
# page cache writes them to the file (holding the exclusive lock), so the journal is hot on disk once it is killed.
WRITER = r"""
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
spill = sys.argv[2] == "spill"
con.execute(f"PRAGMA cache_size={1 if spill else 2000}")
con.execute("BEGIN IMMEDIATE")
con.execute("CREATE TABLE IF NOT EXISTS junk (x BLOB)")
for _ in range(2000 if spill else 1):
    con.execute("INSERT INTO junk VALUES (randomblob(2000))")
con.execute("UPDATE trials SET state = 'FAIL'")
con.execute("DELETE FROM trial_values")
print("mid-write", flush=True)
if sys.stdin.readline().strip() == "finish":
    con.execute("ROLLBACK")  # a live writer that changes its mind: the study must be as it was
    print("done", flush=True)
"""


def _writer(path: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "mid-write"
    assert Path(f"{path}-journal").exists()
    return proc


def hot_journal(path: Path) -> None:
    """Kill -9 a writer in the middle of its transaction: the journal stays, hot."""
    proc = _writer(path, "spill")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert Path(f"{path}-journal").stat().st_size > 0


def _states(path: Path) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
        return con.execute("SELECT number, state FROM trials ORDER BY number").fetchall()


def _study(path: Path) -> None:
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{path}")
    for x in range(5):
        study.enqueue_trial({"x": float(x)})
    study.optimize(lambda t: t.suggest_float("x", 0, 10) ** 2, n_trials=5)


def test_a_hot_journal_is_rolled_back_once_with_one_line(tmp_path, capfd):
    path = tmp_path / "s.db"
    _study(path)
    before = _states(path)
    hot_journal(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # what a read-only open did before
        _states(path)
    storage, _ = open_existing(str(path))  # the report's and export's open
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "rolled back the unfinished write" in err and "s.db-journal" in err
    assert not Path(f"{path}-journal").exists() and _states(path) == before
    assert [t.value for t in optuna.load_study(study_name="s", storage=storage).trials] == [0, 1, 4, 9, 16]
    hot_journal(path)
    check_sqlite_file(path)  # the sweep's pre-check
    assert "rolled back" in capfd.readouterr().err and _states(path) == before
    hot_journal(path)
    open_existing(str(path), read_only=False)  # the dashboard's open
    assert "rolled back" in capfd.readouterr().err and _states(path) == before
    check_sqlite_file(path)  # nothing left to roll back: nothing said
    assert capfd.readouterr().err == ""


def test_a_live_writers_journal_is_not_touched(tmp_path, capfd):
    path = tmp_path / "s.db"
    _study(path)
    before = _states(path)
    writer = _writer(path, "hold")  # holds the write lock (reserved), readers read beside it
    try:
        check_sqlite_file(path)  # its journal is not hot: read, not rolled back
        open_existing(str(path))
        assert Path(f"{path}-journal").exists() and capfd.readouterr().err == ""
        writer.stdin.write("finish\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "done"
    finally:
        writer.kill()
        writer.wait()
    assert _states(path) == before


@pytest.mark.slow
def test_report_and_the_same_sweep_work_after_a_kill_mid_write(tmp_path):
    sweep = ["sweep", "--param", "sr=0.25,0.5", "--study-name", "hot", *TINY]
    first = dse(*sweep, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "studies" / "hot.db"
    hot_journal(path)
    report = dse("report", str(path), "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "rolled back the unfinished write" in report.stderr and (tmp_path / "report" / "index.html").is_file()
    hot_journal(path)
    again = dse(*sweep, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "rolled back the unfinished write" in again.stderr
    study = load(path, "hot")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"] and "nothing left to train" in again.stdout


def damage(path: Path) -> None:
    """Overwrite the start (the b-tree header) of every other page after the first: a disk that lost writes."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        for page in range(2, size // 4096, 2):
            f.seek(page * 4096)
            f.write(bytes(range(7, 256)))


def test_a_damaged_study_is_one_line_for_every_open_and_left_as_it_is(tmp_path):
    path = tmp_path / "s.db"
    _study(path)
    damage(path)
    before = fingerprint(path)
    for open_it in (check_sqlite_file, lambda p: open_existing(str(p)),
                    lambda p: open_existing(str(p), read_only=False)):  # sweep, report and export, dashboard
        with pytest.raises(DseError) as info:
            open_it(path)
        message = str(info.value)
        assert "is a damaged SQLite database" in message and "\n" not in message, message
    assert fingerprint(path) == before
