"""An advance's writes as one statement on PostgreSQL: `write_checked`.

The item's UPDATE ... WHERE id = :_id AND version = :_version RETURNING id comes first, as a
data-modifying CTE; every other write of the event (the history row, the old ladder cancelled
and the new one inserted, attachments, outbox rows) selects FROM it, so if the
item is no longer the version that was read, the UPDATE matches no row and nothing at all is
written. Sent in autocommit (trips.read_then_write), the one statement is its own transaction:
no BEGIN, no COMMIT, one round trip, and a prepared statement once psycopg has run it five times
on the connection. Its text depends on the event's shape (the columns it sets, how many steps,
attachments and notices), so each shape is built and compiled once.

On SQLite the same event goes through `EventBatch.apply` in the caller's write transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Connection, Table, and_, bindparam, insert, select, update
from sqlalchemy.sql.expression import literal_column, null

from .items import ATTACHMENTS, HISTORY, ITEMS, STEPS, EventBatch, ItemWrite, OneEvent
from .models import OUTBOX
from .outbox import COLUMNS as OUTBOX_COLUMNS
from .prepared import Prepared

_HISTORY = ("item_id", "seq", "kind", "trigger", "source", "dest", "actor", "at", "comment",
            "data", "prev_hash", "hash", "via", "os_user", "seal")
_STEP = ("item_id", "entry_no", "step_index", "state", "due_at", "planned_at", "status",
         "past_deadline", "late")
_ATTACHMENT = ("item_id", "sha256", "name", "size", "field", "added_at")

# Constants written into the text: as binds, every row would have to carry them.
_PENDING: Any = literal_column("'pending'")

# (columns set, steps or -1 when the ladder stays, attachments, outbox rows)
Shape = tuple[tuple[str, ...], int, int, int]


def write_checked(conn: Connection, write: ItemWrite) -> bool:
    """Write one event on an item read without a lock; False, having written nothing, if the
    item changed after it was read (the caller reads it again and decides again). On SQLite
    the caller's write transaction has held the database since the read: it always lands."""
    events = EventBatch()
    events.add_write(write)
    if conn.dialect.name != "postgresql":
        return events.apply(conn)
    one = events.one()
    return bool(_statement(_shape(one)).rows(conn, _params(one)))


def _shape(one: OneEvent) -> Shape:
    # Re-timing a ladder (a new deadline) is `item assign`'s, in a transaction of its own.
    assert not one.replans, "an advance never re-times its ladder"
    return (one.columns, -1 if one.steps is None else len(one.steps), len(one.attachments),
            len(one.outbox))


def _params(one: OneEvent) -> dict[str, Any]:
    """The statement's binds: the item's UPDATE row as it is, the others' under a prefix."""
    params = {**one.item, **_prefixed("h_", one.history)}
    for prefix, rows in (("s", one.steps or ()), ("a", one.attachments), ("o", one.outbox)):
        for i, row in enumerate(rows):
            params.update(_prefixed(f"{prefix}{i}_", row))
    return params


def _prefixed(prefix: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + key: value for key, value in row.items()}


@lru_cache(maxsize=128)
def _statement(shape: Shape) -> Prepared:
    columns, steps, attachments, outbox = shape
    item = (update(ITEMS)
            .where(and_(ITEMS.c.id == bindparam("_id"), ITEMS.c.version == bindparam("_version")))
            .values({c: bindparam(c) for c in columns})
            .returning(ITEMS.c.id)
            .cte("item"))
    ctes: list[Any] = [_insert(HISTORY, _HISTORY, "h_", item).cte("history")]
    if steps >= 0:
        # The old ladder's pending steps: the new ones inserted below are not among them (every
        # part of one statement sees the tables as they were before it).
        ctes.append(update(STEPS).where(and_(STEPS.c.item_id.in_(select(item.c.id)),
                                             STEPS.c.status == _PENDING))
                    .values(status=literal_column("'cancelled'"), due_at=null())
                    .cte("cancelled"))
    ctes += [_insert(STEPS, _STEP, f"s{i}_", item).cte(f"step{i}") for i in range(steps)]
    ctes += [_insert(ATTACHMENTS, _ATTACHMENT, f"a{i}_", item).cte(f"attachment{i}")
             for i in range(attachments)]
    ctes += [_queued(f"o{i}_", item).cte(f"notice{i}") for i in range(outbox)]
    return Prepared(select(item.c.id).add_cte(*ctes))


def _insert(table: Table, columns: Sequence[str], prefix: str, item: Any) -> Any:
    """INSERT INTO table (columns) SELECT item.id, :<prefix><column> ... FROM item. The
    columns are all those a row sets, with or without a default (`_bind`): SQLAlchemy's own
    defaults would be binds of one name in every INSERT into the table."""
    return insert(table).from_select(columns, _row(table, columns, prefix, item),
                                     include_defaults=False)


def _queued(prefix: str, item: Any) -> Any:
    """An outbox row, skipped if its dedupe key is already there (as store.outbox.enqueue)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return (pg_insert(OUTBOX).from_select(OUTBOX_COLUMNS,
                                          _row(OUTBOX, OUTBOX_COLUMNS, prefix, item),
                                          include_defaults=False)
            .on_conflict_do_nothing(index_elements=["dedupe_key"]))


def _row(table: Table, columns: Sequence[str], prefix: str, item: Any) -> Any:
    return select(*(item.c.id if name == "item_id" else _bind(table.c[name], prefix + name)
                     for name in columns)).select_from(item)


def _bind(column: Column[Any], name: str) -> Any:
    """A bind typed as its column, whose value, when a row leaves it out, is the column's
    scalar default (or NULL)."""
    default: Any = column.default
    value = default.arg if default is not None and default.is_scalar else None
    return bindparam(name, value=value, type_=column.type, required=False)
