"""The daily digest (日清日结): per person, their open items due soon, overdue and newly assigned.

Queued into the outbox with a dedupe key per (date, person, channel): a digest job that runs twice
— a second scheduler, a rerun after a crash — queues nothing new. Nothing is queued on a day
that is not a working day in the calendar (weekends, statutory holidays; make-up workdays are
working days). "Due soon" is the yellow light: `[lights] yellow_workdays` before the deadline,
or the state's first step before it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ...notifications.context import digest_context
from ...notifications.message import Recipient
from ...notifications.notices import Wanted, item_for_templates
from ...notifications.render import compose
from ..core.escalation import RED, YELLOW, LightRule, light
from ..store import outbox, reads, repo
from ..store.db import read, write
from . import lookups
from .service import Service

DEFAULT_TZ = "Asia/Shanghai"


def queue_daily_digest(service: Service, tz: str = DEFAULT_TZ, *,
                       yellow_workdays: int = LightRule.yellow_workdays) -> int:
    """Queue today's digest for every person with open items; returns how many people (0 on
    a day that is not a working day: nothing is queued)."""
    now = service.clock.now()
    day = now.astimezone(ZoneInfo(tz)).date()
    if not service.calendar().is_workday(day):
        return 0
    buckets = _buckets(service, now, LightRule(yellow_workdays))
    rows = []
    with read(service.engine) as conn:
        people = repo.people_by(conn, set(buckets))
    for person_id, lists in sorted(buckets.items()):
        person = people.get(person_id)
        if person is None or not person.active:
            continue
        context = digest_context(person.name, date=day.isoformat(), **lists)
        note = compose(f"digest:{day}:{person_id}", "daily_digest", context,
                       [Recipient(person.id, person.name, person.email, person.mobile)])
        rows += service.notices.rows(note, None, now)
    with write(service.engine) as conn:
        outbox.enqueue(conn, rows)
    return len(buckets)


def _buckets(service: Service, now: datetime, rule: LightRule
             ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """assignee -> {due_soon, overdue, new}: open items, streamed in id order."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: {"due_soon": [], "overdue": [], "new": []})
    since = now - timedelta(days=1)
    last = 0
    while True:
        with read(service.engine) as conn:
            rows = reads.open_assigned(conn, after=last, limit=2000)
            fresh = reads.assigned_since(conn, (r.id for r in rows), since)
            wanted = Wanted()
            for item in rows:
                wanted.item(item)
            directory = lookups.read(conn, wanted)
            for item in rows:
                spec = service.compiled(conn, item.workflow_version_id).spec
                view = item_for_templates(directory, spec, item)
                colour = light(spec, item.state, item.due_at, now, service.calendar(), rule)
                if colour == RED:
                    out[item.assignee_id]["overdue"].append(view)  # type: ignore[index]
                elif colour == YELLOW:
                    out[item.assignee_id]["due_soon"].append(view)  # type: ignore[index]
                if item.id in fresh:
                    out[item.assignee_id]["new"].append(view)  # type: ignore[index]
        if len(rows) < 2000:
            return {k: v for k, v in out.items() if any(v.values())}
        last = rows[-1].id
