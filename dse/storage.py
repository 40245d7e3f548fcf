"""Study storage: a path or URL -> an Optuna RDBStorage, after checking that nothing of value is at risk.

A path (the default is ``studies/<study>.db``) is an SQLite file; ``sqlite:///...``, ``postgresql://...`` and
other SQLAlchemy URLs are passed on. An existing file is inspected read-only *before* Optuna opens it, because
Optuna's RDBStorage creates its tables in whatever database it is given: a directory, an unwritable file, a
file that is not SQLite or the SQLite database of another application is refused with one line, untouched.

Why plain SQLite (RDBStorage) and not Optuna's journal file for several local workers: the study stays one
``.db`` file that ``optuna-dashboard sqlite:///studies/sr.db``, ``optuna.load_study`` and ``dse report`` read
directly. The classic failure of SQLite with several writers, "database is locked", has two causes and both
are removed here:

* a writer finding the lock taken: SQLite waits up to ``SQLITE_TIMEOUT_S`` (the driver's busy timeout)
  instead of the default 5 s; Optuna's transactions last milliseconds, trials last seconds to minutes;
* two read-then-write transactions deadlocking on the upgrade from a shared to a write lock, which SQLite
  reports at once, without waiting: every transaction here starts with ``BEGIN IMMEDIATE`` (it takes the
  write lock up front, so it waits instead of deadlocking). It also makes Optuna's "take a WAITING trial"
  step (read state, set RUNNING) atomic across processes, which the sqlite3 driver's default of running
  SELECTs outside any transaction does not.

The rollback journal (not WAL) keeps the file self-contained, so it can be copied or committed as is.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sqlite3
import time
import warnings
from pathlib import Path

import optuna
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import make_url

from dse.errors import StorageError

STUDIES_DIR = Path("studies")
SQLITE_TIMEOUT_S = 120  # busy timeout: how long a writer waits for the lock before giving up
PG_CONNECT_TIMEOUT_S = 10
HEARTBEAT_INTERVAL_S = 10  # a worker records a heartbeat for its running trial this often
GRACE_PERIOD_S = 60  # a RUNNING trial without a heartbeat for this long belongs to a lost worker
SQLITE_MAGIC = b"SQLite format 3\x00"
OPTUNA_TABLES = frozenset({"studies", "trials", "version_info"})


def default_path(study_name: str) -> Path:
    return STUDIES_DIR / f"{study_name}.db"


def resolve(target: str | os.PathLike | None, study_name: str) -> str:
    """The SQLAlchemy URL of a --storage value (None: the default file)."""
    if target is None:
        target = default_path(study_name)
    text = os.fspath(target)
    if "://" in text:
        return normalize_url(text)
    return f"sqlite:///{text}"


def normalize_url(url: str) -> str:
    """A bare ``postgresql://`` URL with the driver that is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; dse's ``postgres`` extra installs psycopg2.
    """
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
            return f"postgresql+psycopg2{sep}{rest}"
        return f"postgresql{sep}{rest}"
    return url


def describe(url: str) -> str:
    """The storage as a user would name it: the file path, or the URL without its password."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for messages
        return url


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL; None for other databases (and in-memory SQLite)."""
    if not url.startswith("sqlite:"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database)


def check_sqlite_file(path: Path) -> None:
    """Refuse, with one line and without writing anything, a path that is not usable as a study file.

    A missing file is fine if its folder can be created and written; an existing one must be a writable
    SQLite database that is empty or already holds Optuna's tables.
    """
    try:
        _check_sqlite_file(path)
    except OSError as exc:
        raise StorageError(f"cannot use storage {path}: {exc.strerror or exc}") from None


def _check_sqlite_file(path: Path) -> None:
    if path.is_dir():
        raise StorageError(f"storage {path} is a directory; give a file such as {path / 'study.db'}")
    if not path.exists():
        folder = path.parent
        for parent in (folder, *folder.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise StorageError(f"cannot create {path}: {parent} is a file, not a folder")
                if not _can(parent, os.W_OK | os.X_OK):
                    raise StorageError(f"cannot create {path}: folder {parent} is not writable")
                break
        return
    if not _can(path, os.R_OK):
        raise StorageError(f"storage {path} is not readable")
    if not _can(path, os.W_OK):
        raise StorageError(f"storage {path} is not writable")
    if not _can(path.parent, os.W_OK | os.X_OK):
        raise StorageError(f"storage {path} is in a folder that is not writable (SQLite needs it for its journal)")
    if path.stat().st_size == 0:
        return  # an empty file is an empty SQLite database
    with open(path, "rb") as f:
        header = f.read(len(SQLITE_MAGIC))
    if header != SQLITE_MAGIC:
        raise StorageError(f"storage {path} is not an SQLite database; refusing to touch it")
    tables = _sqlite_tables(path)
    if tables and not OPTUNA_TABLES <= tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StorageError(
            f"storage {path} is an SQLite database of another application (tables: {shown}), not an Optuna study"
        )


def _can(path: Path, mode: int) -> bool:
    """Permission for this process as it runs (its effective ids, where the platform tells them apart)."""
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def _sqlite_tables(path: Path) -> set[str]:
    """Table names, read through a read-only connection (nothing is written, not even a journal)."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=SQLITE_TIMEOUT_S)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"storage {path} is not a readable SQLite database: {exc}") from None
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def open_storage(
    target: str | os.PathLike | None,
    study_name: str,
    *,
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
    grace_period: int = GRACE_PERIOD_S,
    check: bool = True,
) -> optuna.storages.RDBStorage:
    """Open (creating the file and its folder if needed) the storage of a study.

    The heartbeat lets any worker, on any machine, find trials whose worker died (see `dse.worker`).
    """
    url = resolve(target, study_name)
    path = sqlite_path(url)
    kwargs: dict = {}
    if path is not None:
        if check:
            check_sqlite_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
    elif url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        kwargs["pool_pre_ping"] = True
    storage = _rdb_storage(url, kwargs, heartbeat_interval, grace_period)
    if path is not None:
        _serialize_sqlite_transactions(storage.engine)
    return storage


def _rdb_storage(url: str, engine_kwargs: dict, heartbeat_interval: int, grace_period: int):
    """RDBStorage, retried briefly: two machines creating the schema of a new database at once may collide."""
    for attempt in range(4):
        try:
            with warnings.catch_warnings():  # Optuna marks the heartbeat experimental: noise to dse users
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=dict(engine_kwargs), heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                )
        except sqlalchemy.exc.OperationalError as exc:
            raise StorageError(f"cannot open storage {describe(url)}: {_first_line(exc.orig or exc)}") from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            if attempt == 3:
                raise StorageError(f"cannot open storage {describe(url)}: {_first_line(exc.orig or exc)}") from None
            time.sleep(0.2 + random.random())
        except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ImportError, ValueError) as exc:
            raise StorageError(f"invalid storage URL {describe(url)}: {_first_line(exc)}") from None
        except RuntimeError as exc:  # Optuna: schema of another version
            raise StorageError(f"cannot use storage {describe(url)}: {_first_line(exc)}") from None
    raise AssertionError("unreachable")


def _serialize_sqlite_transactions(engine: sqlalchemy.engine.Engine) -> None:
    """Every transaction takes SQLite's write lock when it begins (see the module docstring)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made while Optuna set up its tables predate the listeners


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
