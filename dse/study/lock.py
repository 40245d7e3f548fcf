"""The study's queue lock: one command at a time queues (point, seed) pairs, on one machine or many (docs/sweeps.md).

Optuna has no "enqueue unless present" that holds across processes (`enqueue_trial(skip_if_exists=True)` says it
may duplicate under concurrency), so whoever queues holds this lock while it reads the study and queues what is
missing. The lock belongs to the process (or the database session), never to a file's contents: a command killed
while holding it releases it with its death, so no stale lock is ever left to clear.

* SQLite: an exclusive `flock` on a file beside the study (``NAME.db.lock``). Not on the study file itself: closing
  any other descriptor of the database would drop SQLite's own POSIX locks of the process.
* PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) keyed by the study name, on its own
  connection to the same database.
* Other databases: no lock; a pair queued twice is trained once (`dse.study.layout.duplicate_of`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import sqlalchemy

from dse.study.storage import PG_CONNECT_TIMEOUT_S, sqlite_path

try:  # the platforms dse runs its sweeps on; without it (Windows) SQLite studies queue unlocked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


def lock_path(study_file: Path) -> Path:
    return study_file.with_name(study_file.name + ".lock")


def advisory_key(study_name: str) -> int:
    """A signed 64-bit key for `pg_advisory_lock`, the same on every machine for one study name."""
    return int.from_bytes(hashlib.sha256(f"dse-queue:{study_name}".encode()).digest()[:8], "big", signed=True)


class QueueLock:
    """Non-blocking: `acquire()` says whether this process now holds it; `release()` lets the next one queue.

    Held by another command (or by this command's own queueing thread): `acquire()` is False at once, so a caller
    can train what is queued meanwhile, or poll the study for the holder's progress."""

    def __init__(self, url: str, study_name: str) -> None:
        self.url, self.study_name = url, study_name
        self._fd: int | None = None
        self._connection = None
        self._engine = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._connection is not None

    def acquire(self) -> bool:
        if self.held:
            return True
        path = sqlite_path(self.url)
        if path is not None:
            return self._acquire_file(lock_path(path))
        if self.url.startswith("postgresql"):
            return self._acquire_advisory()
        return True  # no lock for this database: queueing stays idempotent, duplicates are trained once

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor releases the flock
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"),
                                   {"k": advisory_key(self.study_name)})
            finally:
                connection.close()  # the session's end would release it anyway
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _acquire_file(self, path: Path) -> bool:
        if fcntl is None:  # pragma: no cover
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def _acquire_advisory(self) -> bool:
        if self._engine is None:
            self._engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool,
                                                    connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
        connection = self._engine.connect()
        try:
            got = connection.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"),
                                     {"k": advisory_key(self.study_name)}).scalar()
            connection.commit()  # the lock is the session's, not the transaction's: end the transaction
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def __enter__(self) -> QueueLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
