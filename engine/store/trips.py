"""Round trips on PostgreSQL: statements sent together in psycopg's pipeline mode
(`pipelined`, `item show`'s reads in one trip: `read_in_one_trip`), and the connection of an
advance (`read_then_write`), whose read and whose one write statement (store/one_write.py) are a
round trip each, without BEGIN or COMMIT. Elsewhere (SQLite) each is the plain transaction of
db.py, or a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from .db import fault, read, write


@contextmanager
def read_then_write(engine: Engine) -> Iterator[Connection]:
    """A connection for one read, a decision and one write (an advance). On PostgreSQL in
    autocommit mode: each statement is its own transaction, the write is one statement that
    writes nothing unless the item is as it was read (one_write.write_checked), so nothing is
    locked and no BEGIN or COMMIT travels. On SQLite a write transaction: BEGIN IMMEDIATE
    holds the database from the read to the write."""
    if engine.dialect.name != "postgresql":
        with write(engine) as conn:
            yield conn
        return
    with _autocommitted(engine) as conn:
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
    with _autocommitted(engine) as conn:
        yield conn


@contextmanager
def _autocommitted(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as conn:
            # Set on the DBAPI connection itself: SQLAlchemy's isolation_level="AUTOCOMMIT"
            # option does the same at the cost of a fifth of the advance's own work.
            dbapi: Any = conn.connection.dbapi_connection
            dbapi.autocommit = True
            try:
                with conn.begin():  # SQLAlchemy's, which sends nothing: psycopg is in autocommit
                    yield conn
            finally:
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
    inside it costs a round trip of its own). Only prepared statements (store/prepared.py) may
    run inside: SQLAlchemy's own execution reads results at once. Elsewhere a no-op."""
    if conn.dialect.name != "postgresql":
        yield
        return
    dbapi: Any = conn.connection.dbapi_connection
    try:
        with dbapi.pipeline():
            yield
    except conn.dialect.loaded_dbapi.Error as exc:  # raised by the sync that ends the block
        raise _translated(conn, exc) from exc


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
