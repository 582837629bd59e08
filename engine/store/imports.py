"""Many new items at once (`rectify item import`): ids, items, history and ladders, set-wise.

`Service.new_item` writes one item with four statements; an 80,000-row ledger needs the same rows
written with a handful of executemany INSERTs. Ids are reserved first (PostgreSQL: from the
items sequence; SQLite: above the current maximum, safe under the BEGIN IMMEDIATE write lock),
so each item's 'create' history row and its hash can be computed before anything is written and
the item row goes in complete, with `last_seq` 1 and `last_hash` set. The rows are exactly what
`items.insert_item` writes for one item; `rectify audit verify` checks the chains the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Table, and_, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from ..core.audit import GENESIS, item_seal, row_hash
from ..core.errors import Conflict
from ..core.escalation import PlannedStep
from .items import HISTORY, ITEMS, STEPS, HistoryEntry, _history_values
from .repo import GRANTS

IN_LIMIT = 900  # values per IN (...) list
CHUNK = 5000  # rows per executemany: bounded parameter lists, and a progress tick each
BIG_CACHE_KIB = 256 * 1024  # SQLite page cache during a large import (a ceiling, not a grab)


@dataclass(frozen=True)
class NewItem:
    """One item to create: its column values (without id, version, last_seq, last_hash), its
    'create' history entry and the ladder of its initial state."""

    values: Mapping[str, Any]
    history: HistoryEntry
    steps: Sequence[PlannedStep]


@dataclass(frozen=True)
class Existing:
    """An item a ledger row's key already names."""

    id: int
    unit_id: str
    fields: Mapping[str, Any]


def existing_items(conn: Connection, workflow: str, keys: Iterable[str]) -> dict[str, Existing]:
    """The items of `workflow` whose ext_key is one of `keys`, by key."""
    wanted = list(dict.fromkeys(keys))
    if len(wanted) > 20 * IN_LIMIT:  # a big file: one scan of the workflow's keys beats many INs
        have = set(conn.execute(select(ITEMS.c.ext_key).where(and_(
            ITEMS.c.workflow == workflow, ITEMS.c.ext_key.is_not(None)))).scalars())
        wanted = [k for k in wanted if k in have]
    return {r.ext_key: Existing(r.id, r.unit_id, r.fields) for r in _chunked(
        conn, wanted, lambda chunk: select(ITEMS.c.ext_key, ITEMS.c.id, ITEMS.c.unit_id,
                                           ITEMS.c.fields)
        .where(and_(ITEMS.c.workflow == workflow, ITEMS.c.ext_key.in_(chunk))))}


def native_items(conn: Connection, workflow: str, ids: Iterable[int]) -> dict[int, Existing]:
    """The items of `workflow` among `ids` that were created in rectify itself (no ext_key)."""
    return {r.id: Existing(r.id, r.unit_id, r.fields) for r in _chunked(
        conn, sorted(set(ids)), lambda chunk: select(ITEMS.c.id, ITEMS.c.unit_id,
                                                     ITEMS.c.fields)
        .where(and_(ITEMS.c.workflow == workflow, ITEMS.c.ext_key.is_(None),
                    ITEMS.c.id.in_(chunk))))}


def _chunked(conn: Connection, values: Sequence[Any],
             query: Callable[[Sequence[Any]], Any]) -> Iterator[Any]:
    for start in range(0, len(values), IN_LIMIT):  # under SQLite's bound-parameter limit
        yield from conn.execute(query(values[start:start + IN_LIMIT]))


def grants_of(conn: Connection, person_id: str) -> set[str]:
    """Units at which the person holds some role."""
    return {r[0] for r in conn.execute(select(GRANTS.c.unit_id)
                                       .where(GRANTS.c.person_id == person_id))}


def reserve_ids(conn: Connection, count: int) -> list[int]:
    """`count` fresh item ids, ascending, that no other writer will use."""
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text("select nextval(pg_get_serial_sequence('items', 'id')) "
                                 "from generate_series(1, :n)"), {"n": count})
        return sorted(r[0] for r in rows)
    # SQLite: the caller holds the write lock (BEGIN IMMEDIATE), so nobody inserts meanwhile.
    top = conn.execute(select(func.coalesce(func.max(ITEMS.c.id), 0))).scalar_one()
    return list(range(top + 1, top + 1 + count))


def insert_items(conn: Connection, new: Sequence[NewItem],
                 progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Write every item with its history row and ladder; returns their ids in input order.

    A concurrent import of the same keys (PostgreSQL) fails on the unique (workflow, ext_key)
    constraint: Conflict, and the caller's transaction rolls back whole.
    """
    ids = reserve_ids(conn, len(new))
    rows = iter(zip(ids, new, strict=True))
    try:
        with _page_cache(conn, len(new)):
            done = 0
            while chunk := list(islice(rows, CHUNK)):
                _write_chunk(conn, chunk)
                done += len(chunk)
                if progress:
                    progress(done, len(new))
    except IntegrityError as exc:
        raise Conflict("some rows were imported by someone else at the same time; nothing was "
                       "written — run the import again (rows already there are skipped)") from exc
    return ids


@contextmanager
def _page_cache(conn: Connection, rows: int) -> Iterator[None]:
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


def _write_chunk(conn: Connection, chunk: Sequence[tuple[int, NewItem]]) -> None:
    items, history, steps = [], [], []
    for item_id, item in chunk:
        values = _history_values(item_id, 1, GENESIS, item.history, item_seal(item.values))
        h = row_hash(GENESIS, values)
        history.append({**values, "hash": h})
        items.append({**item.values, "id": item_id, "version": 1, "last_seq": 1,
                      "last_hash": h})
        entry_no = item.values.get("entry_no", 1)
        steps += [{"item_id": item_id, "entry_no": entry_no, "step_index": s.index,
                   "state": item.values["state"], "due_at": s.at, "planned_at": s.at,
                   "status": "pending", "applied_at": None, "late": False,
                   "past_deadline": s.past_deadline} for s in item.steps]
    _bulk(conn, ITEMS, items)
    _bulk(conn, HISTORY, history)
    if steps:
        _bulk(conn, STEPS, steps)


def _bulk(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT rows (all with the same keys) through the driver's executemany.

    `conn.execute(insert(table), rows)` spends most of an import's time in SQLAlchemy's
    per-row parameter handling. Here the statement is compiled once by SQLAlchemy for this
    dialect and each value goes through the column type's own bind processor — the exact
    stored form `conn.execute` would produce — with results cached for the values that repeat
    on every row (the import's one timestamp, a few deadlines, flags, empty JSON objects).
    """
    if not rows:
        return
    keys = list(rows[0])
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    missing = set(names) - set(keys)
    assert not missing, f"bulk insert into {table.name} lacks {missing}"
    procs = [(i, p) for i, name in enumerate(names)
             if (p := _processor(table.c[name].type, dialect)) is not None]
    get = itemgetter(*names)
    params: list[Any] = []
    for row in rows:
        values = list(get(row))
        for i, process in procs:
            values[i] = process(values[i])
        params.append(tuple(values) if compiled.positional else dict(zip(names, values,
                                                                          strict=True)))
    conn.exec_driver_sql(str(compiled), params)


def _processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The column type's bind processor, remembering its results for values that repeat."""
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return None
    cache: dict[Any, Any] = {}
    if isinstance(type_, JSON):
        def json_value(value: Any) -> Any:  # only the empty objects repeat ({} counts)
            if value:
                return process(value)
            key = repr(value)
            if key not in cache:
                cache[key] = process(value)
            return cache[key]
        return json_value

    def cached(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            found = cache[value] = process(value)
            return found
    return cached
