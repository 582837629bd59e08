"""An item's past as stored: its history rows and its escalation steps, and every history row
in order (for `rectify audit verify`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, and_, select

from .models import ESCALATION_STEPS as STEPS
from .models import HISTORY


def history(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(HISTORY).where(HISTORY.c.item_id == item_id)
                        .order_by(HISTORY.c.seq))
    return [dict(r._mapping) for r in rows]


def steps_of(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(STEPS).where(STEPS.c.item_id == item_id)
                        .order_by(STEPS.c.entry_no, STEPS.c.step_index))
    return [dict(r._mapping) for r in rows]


def iter_history(conn: Connection, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every history row in (item, seq) order, streamed in keyset batches."""
    last = (0, 0)
    while True:
        rows = conn.execute(
            select(HISTORY)
            .where((HISTORY.c.item_id > last[0])
                   | and_(HISTORY.c.item_id == last[0], HISTORY.c.seq > last[1]))
            .order_by(HISTORY.c.item_id, HISTORY.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield dict(row._mapping)
        last = (rows[-1].item_id, rows[-1].seq)
