"""What `audit verify` and `audit anchor` read: items with their chain heads and sealed columns,
history, steps and attachments, streamed by item id; the admin log. Reads only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, and_, select

from ..core.audit import SEALED
from .models import ADMIN_LOG, ATTACHMENTS, ESCALATION_STEPS, HISTORY, ITEMS

_ITEM = ("id", "last_seq", "last_hash", "final", "entered_at", *SEALED)


def item_batches(conn: Connection, batch: int = 2000) -> Iterator[list[dict[str, Any]]]:
    """Every item's head and sealed columns, in id order, a batch at a time."""
    last = 0
    while True:
        rows = conn.execute(select(*[ITEMS.c[c] for c in _ITEM]).where(ITEMS.c.id > last)
                            .order_by(ITEMS.c.id).limit(batch)).all()
        if not rows:
            return
        yield [dict(r._mapping) for r in rows]
        last = rows[-1].id


def _by_item(conn: Connection, table: Any, first: int, last: int,
             order: Any) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    rows = conn.execute(select(table).where(and_(table.c.item_id >= first,
                                                 table.c.item_id <= last)).order_by(*order))
    for row in rows:
        out.setdefault(row.item_id, []).append(dict(row._mapping))
    return out


def history_of(conn: Connection, first: int, last: int) -> dict[int, list[dict[str, Any]]]:
    """History rows of the items with ids in [first, last], in seq order."""
    return _by_item(conn, HISTORY, first, last, (HISTORY.c.item_id, HISTORY.c.seq))


def steps_of(conn: Connection, first: int, last: int) -> dict[int, list[dict[str, Any]]]:
    steps = ESCALATION_STEPS
    return _by_item(conn, steps, first, last, (steps.c.item_id, steps.c.entry_no,
                                               steps.c.step_index))


def attachments_of(conn: Connection, first: int, last: int) -> dict[int, list[dict[str, Any]]]:
    return _by_item(conn, ATTACHMENTS, first, last, (ATTACHMENTS.c.item_id, ATTACHMENTS.c.id))


def orphan_history(conn: Connection) -> list[int]:
    """Items that have history rows but no item row (the row was deleted)."""
    rows = conn.execute(select(HISTORY.c.item_id).distinct()
                        .where(HISTORY.c.item_id.not_in(select(ITEMS.c.id)))
                        .order_by(HISTORY.c.item_id))
    return [r[0] for r in rows]


def admin_log(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(ADMIN_LOG).order_by(ADMIN_LOG.c.seq))]


def history_row(conn: Connection, item_id: int, seq: int) -> str | None:
    """The hash of one history row, or None when it is not there."""
    return conn.execute(select(HISTORY.c.hash).where(and_(HISTORY.c.item_id == item_id,
                                                          HISTORY.c.seq == seq))).scalar()


def chain_heads(conn: Connection, batch: int = 10_000) -> Iterator[tuple[int, int, str]]:
    """Every item's chain head (id, last seq, last hash) in id order, streamed: what an anchor's
    digest covers, without the sealed columns `item_batches` reads for `audit verify`."""
    rows = conn.execution_options(yield_per=batch).execute(
        select(ITEMS.c.id, ITEMS.c.last_seq, ITEMS.c.last_hash).order_by(ITEMS.c.id))
    for row in rows:
        yield row[0], row[1], row[2]
