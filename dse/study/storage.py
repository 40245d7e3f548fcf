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
import inspect
import json
import os
import random
import re
import sqlite3
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from sqlalchemy import event
from sqlalchemy.engine import make_url

from dse.errors import DseError, StorageError, first_line

STUDIES_DIR = Path("studies")
SQLITE_TIMEOUT_S = 120  # busy timeout: how long a writer waits for the lock before giving up
PG_CONNECT_TIMEOUT_S = 10
HEARTBEAT_INTERVAL_S = 10  # a worker records a heartbeat for its running trial this often
GRACE_PERIOD_S = 60  # a RUNNING trial without a heartbeat for this long belongs to a lost worker
SQLITE_MAGIC = b"SQLite format 3\x00"
OPTUNA_TABLES = frozenset({"studies", "trials", "version_info"})
MAX_NAME_BYTES = 200  # a study name that names files: NAME.artifacts stays under the common 255-byte limit
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def default_path(study_name: str) -> Path:
    return STUDIES_DIR / f"{file_name(study_name)}.db"


def file_name(study_name: str, *, instead: str = "--storage FILE") -> str:
    """A study name that is about to name a file or folder (studies/NAME.db, exports/NAME/), checked first: no path
    separators, not `.` or `..`, no control characters, and short enough for NAME.artifacts to be a valid file
    name (255 bytes on common file systems). `instead` says how to choose the file without the name."""
    name = str(study_name)
    problem = None
    if not name.strip():
        problem = "is empty"
    elif "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        problem = "holds a path separator"
    elif name in (".", ".."):
        problem = "is a relative folder"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "holds a control character"
    elif len(name.encode()) > MAX_NAME_BYTES:
        problem = f"is {len(name.encode())} bytes long (at most {MAX_NAME_BYTES})"
    if problem:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise StorageError(f"study name {shown!r} {problem}, so it cannot name a file; choose another --study-name "
                           f"or give {instead}")
    return name


def resolve(target: str | os.PathLike | None, study_name: str) -> str:
    """The SQLAlchemy URL of a --storage value (None: the default file).

    A path is escaped into the URL (`quote`), so the file made is the file named: `weird?name.db` would otherwise
    end the path at `?`, and `pct%41.db` would be made as `pctA.db`. A URL is the user's, passed on as given.
    """
    if target is None:
        target = default_path(study_name)
    text = os.fspath(target)
    if "://" in text:
        if text.startswith("sqlite:") and sqlite_path(text) is None:
            raise StorageError(f"--storage {text} names no file (an in-memory database would lose the study); give "
                               "one, e.g. sqlite:///studies/sr.db")
        return normalize_url(text)
    return f"sqlite:///{quote(text)}"


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
    """The file of an SQLite URL (`sqlite:///x.db`, or the URI form `sqlite:///file:x.db?mode=ro&uri=true` that
    read-only opens use); None for other databases (and in-memory SQLite). The one place a URL becomes a file."""
    if not url.startswith("sqlite:"):
        return None
    parsed = make_url(url)
    database = parsed.database
    if database and database.startswith("file:") and parsed.query.get("uri") == "true":
        database = unquote(database[len("file:"):])  # the URI's own escaping, under SQLAlchemy's
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
    """Table names, read through a read-only connection (nothing is written, not even a journal), after a hot
    journal left by a killed writer is rolled back (`recover_hot_journal`)."""
    try:
        rows = _read_only_tables(path)
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"storage {path} is not a readable SQLite database: {exc}") from None
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def _read_only_tables(path: Path, uri: str | None = None, recover: bool = True) -> list[tuple[str]]:
    """sqlite_master's tables through a read-only connection; a hot journal is rolled back first, and once
    (`recover=False`: SQLite's error is raised instead, and nothing is written).

    A file with damaged pages is refused here, whole (`PRAGMA quick_check`: milliseconds for a study of a few
    MB), rather than failing later inside Optuna as "an exception is raised during the commit".
    """
    uri = uri or f"{path.resolve().as_uri()}?mode=ro"
    for attempt in (0, 1):
        try:
            con = sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT_S)
            try:
                tables = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
                damage = _damage(con.execute("PRAGMA quick_check(1)").fetchall())
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            if (getattr(exc, "sqlite_errorname", "") or "").startswith("SQLITE_CORRUPT") or "malformed" in str(exc):
                damage = str(exc)
            elif attempt or not recover or not _is_hot_journal(exc):
                raise
            else:
                recover_hot_journal(path)
                continue
        if damage:
            raise StorageError(f"storage {path} is a damaged SQLite database ({damage}); restore it from a copy "
                               "(sqlite3's .recover command can save what is left)")
        return tables
    raise AssertionError("unreachable")


def _damage(rows: list[tuple[str]]) -> str | None:
    """The first problem `PRAGMA quick_check` names, or None when it says ok."""
    lines = [line for (text,) in rows for line in str(text).splitlines() if line and not line.startswith("***")]
    return None if lines == ["ok"] else (lines[0] if lines else "quick_check found a problem")


def _is_hot_journal(exc: sqlite3.DatabaseError) -> bool:
    """SQLite's own verdict, given to a read-only connection: the file has a hot journal (a rollback journal whose
    writer is gone: no process holds the write lock) that only a read-write connection may roll back.

    SQLITE_READONLY_ROLLBACK is the extended code; Python 3.10 has no `sqlite_errorname`, so the message."""
    name = getattr(exc, "sqlite_errorname", None)
    if name is not None:
        return name == "SQLITE_READONLY_ROLLBACK"
    return "attempt to write a readonly database" in str(exc)


def recover_hot_journal(path: Path) -> None:
    """Roll back the unfinished write a killed process left in `path`'s rollback journal, and say so in one line.

    SQLite calls a journal hot only when no live process holds the file's write lock, and any read-write
    connection that reads the file plays it back (the last commit is restored whole; nothing committed is lost).
    A read-only open cannot, which is why every read-only check calls this first. `BEGIN IMMEDIATE` waits for a
    writer that started meanwhile instead of failing.
    """
    journal = Path(f"{path}-journal")
    if not _can(path, os.W_OK) or not _can(path.parent, os.W_OK | os.X_OK):
        raise StorageError(f"storage {path} holds an unfinished write of a process that was killed ({journal}); "
                           "only a command allowed to write the file and its folder can roll it back")
    con = sqlite3.connect(str(path), timeout=SQLITE_TIMEOUT_S, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")  # takes the write lock: SQLite plays the hot journal back first
        con.execute("ROLLBACK")
    finally:
        con.close()
    print(f"dse: {path}: rolled back the unfinished write of a process that was killed (its journal {journal.name});"
          " the study is as of its last commit", file=sys.stderr)


def open_storage(
    target: str | os.PathLike | None,
    study_name: str,
    *,
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
    grace_period: int = GRACE_PERIOD_S,
    check: bool = True,
    on_stale: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.storages.RDBStorage:
    """Open (creating the file and its folder if needed) the storage of a study.

    The heartbeat lets any worker, on any machine, find trials whose worker died; `on_stale` is called by
    `optuna.storages.fail_stale_trials` for each trial it fails (`dse.study.handle.open_study` passes
    `dse.study.queue.requeue`, which queues the work again if it may be retried).
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
    storage = _rdb_storage(url, kwargs, heartbeat_interval, grace_period, on_stale)
    if path is not None:
        _serialize_sqlite_transactions(storage.engine)
    return storage


def _stale_callback_argument() -> str:
    """RDBStorage's name for the callback of heartbeat-stale trials: `heartbeat_stale_trial_callback` from Optuna
    4.9 (checked on 5.0), `failed_trial_callback` before (checked on 3.6 to 4.8, deprecated since 4.9)."""
    names = inspect.signature(RDBStorage.__init__).parameters
    return "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in names else "failed_trial_callback"


def _rdb_storage(url: str, engine_kwargs: dict, heartbeat_interval: int, grace_period: int, on_stale=None):
    """RDBStorage, retried briefly: two machines creating the schema of a new database at once may collide."""
    callback = {_stale_callback_argument(): on_stale} if on_stale is not None else {}
    for attempt in range(4):
        try:
            with warnings.catch_warnings():  # Optuna marks the heartbeat experimental: noise to dse users
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=dict(engine_kwargs), heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period, **callback,
                )
        except sqlalchemy.exc.OperationalError as exc:
            if attempt == 3 or not schema_collision(exc):
                raise StorageError(f"cannot open storage {describe(url)}: {first_line(exc.orig or exc)}") from None
            time.sleep(0.2 + random.random())
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            if attempt == 3:
                raise StorageError(f"cannot open storage {describe(url)}: {first_line(exc.orig or exc)}") from None
            time.sleep(0.2 + random.random())
        except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ImportError, ValueError) as exc:
            raise StorageError(f"invalid storage URL {describe(url)}: {first_line(exc)}") from None
        except RuntimeError as exc:  # Optuna: schema of another version
            raise StorageError(f"cannot use storage {describe(url)}: {first_line(exc)}") from None
    raise AssertionError("unreachable")


def schema_collision(exc: sqlalchemy.exc.OperationalError) -> bool:
    """SQLite's error when another process created a table between Optuna's check for it and its CREATE TABLE
    (several sweeps started at once on a new file): the schema is there, so opening again succeeds."""
    return "already exists" in str(exc.orig or exc)


def _serialize_sqlite_transactions(engine: sqlalchemy.engine.Engine) -> None:
    """Every transaction takes SQLite's write lock when it begins (see the module docstring)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made while Optuna set up its tables predate the listeners


# ------------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class _Source:
    display: str
    kind: str  # "sqlite" | "journal" | "rdb"
    path: Path | None = None
    url: str | None = None


def _resolve(source: str) -> _Source:
    """A path (`x.db` means sqlite:///x.db) or a storage URL, checked without writing anything."""
    text = str(source).strip()
    if not text:
        raise StorageError("no study given: pass a study file (studies/sr.db) or a storage URL")
    if _URL.match(text):
        try:
            url = sqlalchemy.engine.make_url(text)
        except Exception:
            raise StorageError(f"{text!r} is not a valid storage URL") from None
        display = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite":
            path = sqlite_path(text)
            if path is None:
                raise StorageError(f"{display}: give the SQLite file of a study, e.g. sqlite:///studies/sr.db")
            return _Source(display, _file_kind(path), path=path)
        return _Source(display, "rdb", url=normalize_url(text))
    path = Path(text).expanduser()
    return _Source(str(path), _file_kind(path), path=path)


def _file_kind(path: Path) -> str:
    if not path.exists():
        raise StorageError(f"{path}: no such file (give a study file such as studies/sr.db, or a storage URL)")
    if path.is_dir():
        raise StorageError(f"{path} is a directory, not a study file")
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise StorageError(f"{path}: cannot read it ({exc.strerror})") from None
    if not head:
        raise StorageError(f"{path} is empty, not an Optuna study")
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    first = head.split(b"\n", 1)[0]
    try:
        if isinstance(json.loads(first), dict) and b'"op_code"' in first:
            return "journal"
    except ValueError:
        pass
    raise StorageError(f"{path} is not an Optuna study (neither an SQLite database nor an Optuna journal file)")


def _sqlite_ro_uri(path: Path) -> str:
    """An SQLite URI that opens the file read-only and creates no file beside it.

    A WAL-mode database opened with mode=ro still creates (and leaves) its -wal and -shm files; when they do
    not exist no writer is active, so the file is opened as immutable instead.
    """
    resolved = path.resolve()
    with resolved.open("rb") as f:
        wal_mode = f.read(20)[18:19] == b"\x02"  # header byte 18: file format write version, 2 = WAL
    wal_absent = not Path(f"{resolved}-wal").exists() or not Path(f"{resolved}-shm").exists()
    mode = "immutable=1" if wal_mode and wal_absent else "mode=ro"
    return f"file:{quote(str(resolved))}?{mode}"


def _sqlite_ro_url(path: Path) -> str:
    """The same, as an SQLAlchemy URL: the file URI's path escaped once more, as SQLAlchemy unescapes the URL's
    database before SQLite unescapes the URI (`pct%41.db` is the file of that name, not `pctA.db`)."""
    uri = _sqlite_ro_uri(path)
    head, _, query = uri.partition("?")
    return f"sqlite:///file:{quote(head[len('file:'):])}?{query}&uri=true"


def _check_sqlite(path: Path, recover: bool = True) -> None:
    try:
        tables = {r[0] for r in _read_only_tables(path, _sqlite_ro_uri(path), recover)}
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot read it as SQLite ({exc})") from None
    if not OPTUNA_TABLES <= tables:
        raise StorageError(f"{path} is an SQLite database but not an Optuna study (it has no Optuna tables)")


def _rdb_engine_kwargs(url: str) -> dict[str, Any]:
    if sqlalchemy.engine.make_url(url).get_backend_name() == "postgresql":
        # Belt and braces: a report never writes, and the server enforces it.
        return {"connect_args": {"options": "-c default_transaction_read_only=on"}}
    return {}


def _check_rdb(source: _Source, engine_kwargs: dict[str, Any]) -> None:
    try:
        engine = sqlalchemy.create_engine(source.url, **engine_kwargs)
    except (ImportError, ModuleNotFoundError) as exc:
        raise StorageError(f"{source.display}: no database driver for it ({exc})") from None
    except Exception as exc:
        raise StorageError(f"{source.display}: {first_line(exc)}") from None
    try:
        with engine.connect() as connection:
            tables = set(sqlalchemy.inspect(connection).get_table_names())
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot open {source.display}: {first_line(getattr(exc, 'orig', None) or exc)}") from None
    finally:
        engine.dispose()
    if not OPTUNA_TABLES <= tables:
        raise StorageError(f"{source.display} is a database but not an Optuna storage (it has no Optuna tables)")


def open_existing(source: str, *, read_only: bool = True, recover: bool = True) -> tuple[BaseStorage, str]:
    """The Optuna storage behind a path or URL, and how to name it in messages.

    `read_only=False` is for the dashboard, which writes notes; the checks still refuse anything that is not
    already an Optuna storage, so nothing is created. `recover=False` leaves a killed writer's hot journal to the
    commands that use the study (a glance at other studies must not write to them): such a file is refused.
    """
    src = _resolve(source)
    try:
        if src.kind == "journal":
            return JournalStorage(JournalFileBackend(str(src.path))), src.display
        if src.kind == "sqlite":
            _check_sqlite(src.path, recover)
            url = _sqlite_ro_url(src.path) if read_only else f"sqlite:///{quote(str(src.path.resolve()))}"
            # A sweep may be committing: wait for its lock (milliseconds) rather than fail at once.
            return RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}},
                              skip_table_creation=True), src.display
        kwargs = _rdb_engine_kwargs(src.url) if read_only else {}
        _check_rdb(src, kwargs)
        return RDBStorage(src.url, engine_kwargs=kwargs, skip_table_creation=True), src.display
    except DseError:
        raise
    except Exception as exc:  # schema too old or new, damaged journal, lost connection
        # Optuna's StorageInternalError says only "an exception is raised during the commit": name its cause.
        cause = exc.__cause__ if isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ else exc
        cause = getattr(cause, "orig", None) or cause
        raise StorageError(f"cannot read {src.display} as an Optuna storage: {first_line(cause)}") from None


