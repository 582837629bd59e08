"""Round trips on PostgreSQL: statements sent together in psycopg's pipeline mode
(`pipelined`), an advance's write transaction in two trips (`write_in_two_trips`, `committing`)
and `item show`'s reads in one (`read_in_one_trip`). Elsewhere (SQLite) each is the plain
transaction of db.py, or a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from .db import fault, read, statement_cursor, write

# Set in the connection's info while a write_in_two_trips transaction has it.
_SAYS_BEGIN = "rectify.says_begin"


@contextmanager
def write_in_two_trips(engine: Engine) -> Iterator[Connection]:
    """A write transaction made of one read, a decision and the writes (an advance), which on
    PostgreSQL costs two round trips: BEGIN travels with the read (`pipelined`), the writes with
    COMMIT (`committing`). psycopg's own BEGIN waits for its answer before the first statement
    goes, and its commit() in a pipeline syncs once more, so the connection runs in autocommit
    mode while this lasts and says BEGIN and COMMIT itself, queued with the statements around
    them. psycopg's commit() and rollback() go by the server's transaction status, so
    SQLAlchemy's transaction ends it either way. Statements SQLAlchemy runs in between (not
    pipelined) join the transaction as usual. Elsewhere this is `write`."""
    if engine.dialect.name != "postgresql":
        with write(engine) as conn:
            yield conn
        return
    with _autocommitted(engine, says_begin=True) as conn:
        yield conn


@contextmanager
def read_in_one_trip(engine: Engine) -> Iterator[Connection]:
    """A read whose statements are sent together (`pipelined`): on PostgreSQL in autocommit
    mode, without the BEGIN and COMMIT round trips a transaction costs (its statements run in
    the one implicit transaction a pipeline makes of them; under READ COMMITTED each statement
    takes its own snapshot either way). Elsewhere `read`."""
    if engine.dialect.name != "postgresql":
        with read(engine) as conn:
            yield conn
        return
    with _autocommitted(engine, says_begin=False) as conn:
        yield conn


@contextmanager
def _autocommitted(engine: Engine, *, says_begin: bool) -> Iterator[Connection]:
    try:
        with engine.connect() as conn:
            # Set on the DBAPI connection itself: SQLAlchemy's isolation_level="AUTOCOMMIT"
            # option does the same at the cost of a fifth of the advance's own work.
            dbapi: Any = conn.connection.dbapi_connection
            dbapi.autocommit = True
            info = conn.connection.info
            info[_SAYS_BEGIN] = says_begin
            try:
                with conn.begin():
                    yield conn
            finally:
                info.pop(_SAYS_BEGIN, None)
                _out_of_autocommit(conn, dbapi)
    except OperationalError as exc:
        raise fault(engine, exc) from exc


def _out_of_autocommit(conn: Connection, dbapi: Any) -> None:
    """Give the pool its connection back as it lent it, or not at all."""
    if conn.invalidated:
        return
    if dbapi.pgconn.transaction_status == _PQ_IDLE:
        dbapi.autocommit = False
    else:  # a transaction that could not be ended: the connection goes, not back to the pool
        conn.invalidate()


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """PostgreSQL: the block's statements go out without waiting for each result, all of them in
    one round trip that ends when the block does (read a SELECT's rows after the block: a fetch
    inside it costs a round trip of its own). In a `write_in_two_trips` transaction the block
    starts with BEGIN if it has not been said. Only prepared statements (store/prepared.py) may
    run inside: SQLAlchemy's own execution reads results at once. Elsewhere a no-op."""
    if conn.dialect.name != "postgresql":
        yield
        return
    dbapi: Any = conn.connection.dbapi_connection
    try:
        with dbapi.pipeline():
            if _says_its_own_begin(conn, dbapi):
                statement_cursor(conn).execute(b"BEGIN")
            yield
    except conn.dialect.loaded_dbapi.Error as exc:  # raised by the sync that ends the block
        raise _translated(conn, exc) from exc


@contextmanager
def committing(conn: Connection) -> Iterator[None]:
    """The block's writes and the COMMIT after them, in one round trip on PostgreSQL."""
    dbapi = conn.connection.dbapi_connection
    with pipelined(conn):
        yield
        if conn.dialect.name == "postgresql" and dbapi.autocommit:  # type: ignore[union-attr]
            statement_cursor(conn).execute(b"COMMIT")
        else:
            conn.commit()
    if conn.in_transaction():  # psycopg sees the COMMIT done: SQLAlchemy's commit sends nothing
        conn.commit()


def _says_its_own_begin(conn: Connection, dbapi: Any) -> bool:
    """A `write_in_two_trips` connection (autocommit, in SQLAlchemy's transaction) whose BEGIN
    is still to be said."""
    return bool(conn.connection.info.get(_SAYS_BEGIN)) and conn.in_transaction() \
        and dbapi.pgconn.transaction_status == _PQ_IDLE


_PQ_IDLE = 0  # libpq's PQTRANS_IDLE (psycopg.pq.TransactionStatus.IDLE)


def _translated(conn: Connection, exc: Any) -> Exception:
    """A psycopg error raised outside SQLAlchemy's execution, as SQLAlchemy would have raised
    it (IntegrityError, OperationalError ...), the connection invalidated if it is gone."""
    from sqlalchemy.exc import DBAPIError

    dialect = conn.dialect
    lost = dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
    if lost:
        conn.invalidate(exc)
    return DBAPIError.instance(None, None, exc, dialect.loaded_dbapi.Error,
                               connection_invalidated=lost, dialect=dialect)
