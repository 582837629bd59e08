"""Opening the database: engine options per backend, short write transactions, migrations.

SQLite: WAL (readers never wait for the writer), foreign keys on, a busy timeout, and write
transactions that start with BEGIN IMMEDIATE, so two writers queue on the lock instead of one
failing with "database is locked" when it upgrades a read. PostgreSQL: READ COMMITTED and row
locks taken by the statements that need them.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ..core.errors import DatabaseError, NotInitialised, UsageError
from ..core.i18n import _
from . import collector

# `Connection` and `Engine` (imported above) are the two names of SQLAlchemy's that use cases
# see, imported from here to type what the store hands them: an open database and a transaction
# on it. Use cases pass them back to the store and never build SQL on them; only engine/store/
# imports SQLAlchemy.

BUSY_TIMEOUT_MS = 30_000


def busy_timeout_ms() -> int:
    """How long a SQLite write waits for another's lock: RECTIFY_SQLITE_BUSY_MS, else 30 s."""
    try:
        return int(os.environ.get("RECTIFY_SQLITE_BUSY_MS", BUSY_TIMEOUT_MS))
    except ValueError:
        return BUSY_TIMEOUT_MS


def dumps(value: Any) -> str:
    """JSON columns are written with orjson: 4-5x the standard library's speed, and a sweep or
    a bulk action writes three JSON columns a row. What orjson refuses (an integer beyond 64
    bits) falls back to the standard library."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN or Infinity, which the standard library wrote
        return json.loads(text)


# URL schemes people write for PostgreSQL (Heroku and libpq say postgres://): all mean the psycopg
# 3 driver rectify ships with, not psycopg2, which it does not.
_PG_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgres+psycopg", "pg"}


def database_url(url: str) -> URL:
    """The URL as SQLAlchemy takes it: PostgreSQL spellings on psycopg 3; UsageError for a URL
    that is neither SQLite nor PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UsageError(_("--db {url!r} is not a database URL; write sqlite:///FILE or "
                           "postgresql://USER@HOST/DATABASE").format(url=url)) from exc
    if parsed.drivername in _PG_SCHEMES:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
        raise UsageError(_("--db {url}: rectify works with SQLite (sqlite:///FILE) or "
                           "PostgreSQL (postgresql://USER@HOST/DB), not '{scheme}'").format(
                               url=parsed.render_as_string(hide_password=True),
                               scheme=parsed.drivername))
    return parsed


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for PostgreSQL, memory and `file:` URIs."""
    parsed = database_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:" \
            or path.startswith("file:"):
        return None
    return Path(path)


def open_engine(url: str, *, pool_size: int | None = None) -> Engine:
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    url = parsed.render_as_string(hide_password=False)
    from .models import postgresql_options

    postgresql_options()
    # No pre-ping: it costs a round trip per checkout on the hot path; stale connections are
    # recycled by age instead, and a dropped one fails one command, which the user reruns.
    size = pool_size or int(os.environ.get("RECTIFY_POOL_SIZE", "5"))
    # LIFO: a process keeps reusing its busiest connection, on which psycopg has prepared the
    # hot statements (after five runs on a connection), and the others idle until recycled.
    return create_engine(url, pool_size=size, max_overflow=size, pool_recycle=1800,
                         pool_use_lifo=True, json_serializer=dumps, json_deserializer=loads)


# Every SQLite connection: WAL, so readers never wait for the writer; NORMAL sync, which in WAL
# mode loses no committed data on a crash of the process (only, at worst, the last commits on a
# power cut); a checkpoint every 10,000 WAL pages (~40 MB) instead of 1,000, a tenth of the
# checkpoints' fsyncs (+10% single advances, bench/RESULTS.md). The benchmarks' raw sqlite3
# baselines use the same list.
SQLITE_PRAGMAS = (f"busy_timeout = {BUSY_TIMEOUT_MS}", "journal_mode = WAL",
                  "synchronous = NORMAL", "foreign_keys = ON", "wal_autocheckpoint = 10000")


def _create_private(url: str) -> None:
    """Create a new SQLite file readable by its owner only (SQLite gives its -wal and -shm files
    the same mode): the ledger holds private fields, and a umask of 022 would share them."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # a missing folder and the like: SQLite's own error says it better


def _sqlite_engine(url: str) -> Engine:
    _create_private(url)
    # No rollback when the pool takes a connection back: every transaction here ends in an
    # explicit COMMIT or ROLLBACK (write()/read()), and with pysqlite's own transaction handling
    # off nothing else opens one; the pool's extra rollback was a tenth of each advance.
    engine = create_engine(url, pool_reset_on_return=None, json_serializer=dumps,
                           json_deserializer=loads)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _begin_sqlite)
        cursor = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        if busy_timeout_ms() != BUSY_TIMEOUT_MS:  # RECTIFY_SQLITE_BUSY_MS (tests, slow disks)
            cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms()}")
        cursor.close()

    return engine


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One short write transaction (BEGIN IMMEDIATE on SQLite).

    A fault of the database itself (a lock held past the busy timeout, a read-only file, a
    connection lost mid-command) becomes one DatabaseError line saying that nothing was
    written and what to do; never a traceback, never the SQL and its parameters."""
    try:
        with engine.connect() as conn, conn.begin():
            _begin_sqlite(conn, "IMMEDIATE")
            yield conn
    except (OperationalError, sqlite3.OperationalError) as exc:
        raise fault(engine, exc) from exc


def fault(engine: Engine, exc: BaseException) -> DatabaseError:
    """The one line a user reads for a database fault (see `write`)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    where = engine.url.render_as_string(hide_password=True)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return DatabaseError(
            _("database {where} is busy: another program has held its write lock "
              "for more than {value:g} s (a long import or sweep, an open sqlite3 "
              "shell?); nothing was written; run the command again when it is done").format(
                where=where, value=busy_timeout_ms() / 1000))
    if "readonly" in low or "read-only" in low:
        return DatabaseError(_("database {where} is read-only: nothing was written "
                               "(reading commands such as `item show` and `audit "
                               "verify` still work)").format(where=where))
    if getattr(exc, "connection_invalidated", False) or "connection" in low or "terminat" in low:
        return DatabaseError(_("lost the connection to database {where} ({text}); "
                               "nothing was written by the unfinished command; run "
                               "it again").format(where=where, text=text))
    return DatabaseError(_("database {where}: {text}; nothing was written").format(
                             where=where, text=text))


@contextmanager
def batch(engine: Engine, *, writing: bool = True) -> Iterator[Connection]:
    """A transaction for work on many rows at once (a sweep batch, a bulk batch, an import):
    a write transaction (a read one for a dry run) with Python's cyclic garbage collector
    paused while it runs (collector.py says why)."""
    with (write(engine) if writing else read(engine)) as conn, collector.paused():
        yield conn


def statement_cursor(conn: Connection) -> Any:
    """The DBAPI cursor that prepared statements (store/prepared.py) run on: one per database
    connection, kept with it by the pool (a psycopg cursor costs as much to make as a third of
    what running a statement in a pipeline costs, and an advance runs six). It holds the
    results of the last statement run on it: read them before running the next."""
    info = conn.connection.info  # the pool empties it when it opens a new DBAPI connection
    found = info.get(_CURSOR)
    if found is None:
        found = info[_CURSOR] = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    return found


_CURSOR = "rectify.cursor"
@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """One read transaction; its faults read as `write`'s do."""
    try:
        with engine.connect() as conn, conn.begin():
            _begin_sqlite(conn, "DEFERRED")
            yield conn
    except (OperationalError, sqlite3.OperationalError) as exc:
        raise fault(engine, exc) from exc


def _begin_sqlite(conn: Connection, mode: str) -> None:
    """pysqlite runs with its own transaction handling off (isolation_level None), so we say
    BEGIN ourselves. This is done here, not in a "begin" event listener as SQLAlchemy's recipe
    does, because any connection-event listener makes every statement dispatch its execute
    events — a measurable cost on the hot path (see bench/RESULTS.md)."""
    if conn.dialect.name == "sqlite":
        statement_cursor(conn).execute(f"BEGIN {mode}")


def database_dir(engine: Engine) -> Path:
    """Where files beside the database live (attachments); the working dir for servers."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent
    return Path.cwd()


def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations"


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration; never drops data."""
    from alembic import command

    with write(engine) as conn:
        command.upgrade(_alembic_config(conn), "head")


# The newest migration's revision. Every command checks the database against it with one plain
# query; Alembic itself (a fifth of a second to import) is loaded only by `rectify init`.
# tests/test_engine.py keeps this equal to Alembic's own head.
SCHEMA_HEAD = "0009_pages"


def check_current(engine: Engine) -> None:
    """NotInitialised unless the schema is at the newest migration."""
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError) as exc:
        name = engine.url.database
        if f'database "{name}" does not exist' in str(exc):
            raise DatabaseError(_("database '{name}' does not exist on {host}; create it "
                                  "(createdb {name}), then run `rectify init`").format(
                                      name=name, host=engine.url.host or "localhost")) from exc
        if "no such table" in str(exc) or "does not exist" in str(exc):
            raise NotInitialised(engine.url.render_as_string(hide_password=True)) from exc
        raise DatabaseError(_("cannot open database {url!r}: {orig}").format(
                                url=engine.url, orig=exc.orig)) from exc
    if current != SCHEMA_HEAD:
        raise NotInitialised(engine.url.render_as_string(hide_password=True))


def alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(migrations_dir())).get_current_head()


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = conn
    return config


def has_tables(engine: Engine) -> bool:
    return inspect(engine).has_table("items")
