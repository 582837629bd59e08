"""Recomputing deadlines after the calendar changes: provisional ones become exact."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_

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
                # Through the writer, with a history row: the deadline is sealed in the chain
                # (audit verify), so it never moves silently, not even for the calendar.
                store.apply_write(conn, store.ItemWrite(
                    item=item, values={"due_at": plan.due_at, "due_provisional": plan.provisional,
                                       "original_due_at": plan.due_at},
                    history=store.HistoryEntry(
                        "deadline", "system", service.clock.now(), comment="工作日历已更新",
                        data={"due_at": [_iso(item.due_at), _iso(plan.due_at)]})))
                store.replan_steps(conn, item.id, item.entry_no, plan.steps)
                done += 1
                last = item.id
        if len(rows) < batch:
            return done


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
