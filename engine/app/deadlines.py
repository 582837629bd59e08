"""Recomputing deadlines after the calendar changes: provisional ones become exact.

Each recompute is an event like any other (history kind `deadline`): the item's version moves,
its chain grows by a row saying which deadline it had and which it has now, and the pending
steps of its current stay are re-timed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..core.audit import isoformat
from ..core.dates import end_of_day
from ..core.errors import Conflict, UsageError
from ..core.i18n import _
from ..core.machine import SYSTEM_ACTOR
from ..core.spec import WorkflowSpec
from ..store import items as store
from ..store import reads
from ..store.db import write

if TYPE_CHECKING:
    from .service import Service


def given_due(due: str | None, spec: WorkflowSpec, now: datetime) -> datetime | None:
    """The deadline `--due` gives, in the workflow's timezone (a date: the end of that day).
    One already past is refused here, not only in the CLI, so the web and the API refuse it
    too: it is a typo in the year far more often than a wish (issue 18)."""
    if due is None:
        return None
    try:
        at = end_of_day(due, spec.timezone)
    except ValueError as exc:
        raise UsageError(_("--due {due!r}: expected a date like 2026-12-01 or an "
                           "ISO-8601 time").format(due=due)) from exc
    if at < now:
        raise UsageError(_("--due {due} is in the past").format(due=due.strip()))
    return at


def recompute_provisional(service: Service, batch: int = 1000, *,
                          now: datetime | None = None) -> int:
    """Re-plan every item whose deadline was computed without calendar data. Returns how many."""
    now = service.clock.now() if now is None else now
    done, last = 0, 0
    plans = service.plans()
    while True:
        with write(service.engine) as conn:
            items = reads.provisional_items(conn, after=last, limit=batch)
            events = store.EventBatch()
            for item in items:
                spec = service.compiled(conn, item.workflow_version_id).spec
                plan = plans.schedule(spec, item.state, item.entered_at)
                entry = store.HistoryEntry(
                    kind="deadline", actor=SYSTEM_ACTOR.id, at=now, comment="工作日历已更新",
                    data={
                        "due_at": [_iso(item.due_at), _iso(plan.due_at)],
                        "provisional": [item.due_provisional, plan.provisional]})
                events.add_write(store.ItemWrite(
                    # the deadline the entry began with moves too: it never had an exact one
                    item=item, values={"due_at": plan.due_at, "due_provisional": plan.provisional,
                                       "original_due_at": plan.due_at},
                    history=entry, replan=plan.steps))
            if not events.apply(conn):  # read locked: nobody can have changed them meanwhile
                raise Conflict(_("items changed while their deadlines were recomputed; nothing "
                               "of that batch was written — load the calendar again"))
            done += len(items)
            last = items[-1].id if items else last
        if len(items) < batch:
            return done


def _iso(at: datetime | None) -> str | None:
    return isoformat(at) if at else None
