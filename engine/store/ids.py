"""Fresh item ids, reserved before anything is written, and SQLite's page cache for big writes.

Ids are reserved first (PostgreSQL: from the items sequence; SQLite: above the current maximum,
safe under the BEGIN IMMEDIATE write lock), so each new item's 'create' history row and its hash
can be computed before the item row goes in, complete, with `last_seq` 1 and `last_hash` set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, func, select, text

from .models import ITEMS
from .prepared import Prepared

CHUNK = 5000  # rows per executemany: bounded parameter lists, and a progress tick each
BIG_CACHE_KIB = 256 * 1024  # SQLite page cache during a large import (a ceiling, not a grab)

_TOP_ID = Prepared(select(func.coalesce(func.max(ITEMS.c.id), 0)))
_NEXT_IDS = text("select nextval(pg_get_serial_sequence('items', 'id')) "
                 "from generate_series(1, :n)")


def reserve_ids(conn: Connection, count: int) -> list[int]:
    """`count` fresh item ids, ascending, that no other writer will use."""
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        return sorted(r[0] for r in conn.execute(_NEXT_IDS, {"n": count}))
    # SQLite: the caller holds the write lock (BEGIN IMMEDIATE), so nobody inserts meanwhile.
    top = _TOP_ID.rows(conn, {})[0][0]
    return list(range(top + 1, top + 1 + count))


@contextmanager
def large_cache(conn: Connection, rows: int) -> Iterator[None]:
    """SQLite: a large page cache while a big import runs. With SQLite's default 2 MB the
    indexes of tens of thousands of new items spill out of the cache and inserting takes
    about twice as long. Set back afterwards: the connection returns to the pool."""
    if conn.dialect.name != "sqlite" or rows <= CHUNK:
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BIG_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")
