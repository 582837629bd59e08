"""Recomputing deadlines after the calendar changes: provisional ones become exact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, update

from ..core.escalation import schedule
from ..store import items as store
from ..store.db import write

if TYPE_CHECKING:
    from .service import Service


def recompute_provisional(service: Service, batch: int = 1000) -> int:
    """Re-plan every item whose deadline was computed without calendar data. Returns how many."""
    items, done, last = store.ITEMS, 0, 0
    calendar = service.calendar()
    while True:
        with write(service.engine) as conn:
            rows = conn.execute(store.select_items().where(and_(
                items.c.due_provisional.is_(True), items.c.due_override.is_(False),
                items.c.id > last)).order_by(items.c.id).limit(batch)).all()
            for row in rows:
                item = store.to_record(row)
                spec = service.compiled(conn, item.workflow_version_id).spec
                plan = schedule(spec, item.state, item.entered_at, calendar)
                conn.execute(update(items).where(items.c.id == item.id).values(
                    due_at=plan.due_at, due_provisional=plan.provisional))
                store.replan_steps(conn, item.id, item.entry_no, plan.steps)
                done += 1
                last = item.id
        if len(rows) < batch:
            return done
