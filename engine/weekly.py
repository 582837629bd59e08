"""The weekly ranking (每周通报): per township, what was found, closed and left overdue this week.

Definitions (documented for offices; weights configurable in `[report] weights`):
- found: items created in the week; closed: items that reached a final state in the week;
- closed on time: closed in the week and never escalated at or past their deadline;
- overdue: open items past their deadline now; rejected: rejections recorded in the week;
- score = 100 * (closed_on_time * w_on_time + (closed - closed_on_time) * w_late) / max(found, 1)
          - overdue * w_overdue - rejected * w_rejected, with defaults 1.0, 0.5, 2.0, 1.0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select

from .org import ancestors
from .service import Service
from .store import items as store
from .store import repo
from .store.db import read

DEFAULT_WEIGHTS = {"on_time": 1.0, "late": 0.5, "overdue": 2.0, "rejected": 1.0}


@dataclass(frozen=True)
class Week:
    label: str  # 2025-W40
    start: datetime
    end: datetime

    @classmethod
    def containing(cls, now: datetime, tz: str) -> Week:
        local = now.astimezone(ZoneInfo(tz)).date()
        monday = local - timedelta(days=local.weekday())
        return cls.of(monday, tz)

    @classmethod
    def of(cls, monday: date, tz: str) -> Week:
        start = datetime.combine(monday, time(0), ZoneInfo(tz)).astimezone(UTC)
        year, week, _ = monday.isocalendar()
        return cls(f"{year}-W{week:02d}", start, start + timedelta(days=7))


def township_rows(service: Service, week: Week,
                  weights: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Ranked rows, one per township (a unit two levels below the root, or the root's children)."""
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    now = service.clock.now()
    with read(service.engine) as conn:
        towns = {u.id: u for u in repo.units(conn) if u.path.count("/") == 3}
        counts = _counts(conn, week, now)
    rows = []
    for town_id, unit in towns.items():
        c = {k: v.get(town_id, 0) for k, v in counts.items()}
        score = 100 * (c["on_time"] * w["on_time"] + (c["closed"] - c["on_time"]) * w["late"]) \
            / max(c["found"], 1) - c["overdue"] * w["overdue"] - c["rejected"] * w["rejected"]
        rows.append({"unit": town_id, "unit_name": unit.name, "found": c["found"],
                     "closed": c["closed"], "closed_on_time": c["on_time"],
                     "overdue": c["overdue"], "rejected": c["rejected"],
                     "score": round(score, 1)})
    rows.sort(key=lambda r: (-r["score"], r["unit"]))  # type: ignore[operator]
    return [{**r, "rank": i + 1} for i, r in enumerate(rows)]


def _town(path: str) -> str | None:
    chain = ancestors(path)
    return chain[-2] if len(chain) >= 2 else None


def _counts(conn: Any, week: Week, now: datetime) -> dict[str, Counter[str]]:
    items, history, steps = store.ITEMS, store.HISTORY, store.STEPS
    in_week = lambda col: and_(col >= week.start, col < week.end)  # noqa: E731
    queries = {
        "found": select(items.c.unit_path).where(in_week(items.c.created_at)),
        "closed": select(items.c.unit_path).where(in_week(items.c.closed_at)),
        "on_time": select(items.c.unit_path).where(and_(
            in_week(items.c.closed_at), ~select(steps.c.id).where(and_(
                steps.c.item_id == items.c.id, steps.c.status == "applied",
                steps.c.past_deadline.is_(True))).exists())),
        "overdue": select(items.c.unit_path).where(and_(items.c.final.is_(False),
                                                        items.c.due_at < now)),
        "rejected": select(items.c.unit_path).join(history, history.c.item_id == items.c.id)
        .where(and_(history.c.trigger == "reject", in_week(history.c.at))),
    }
    return {name: Counter(t for (path,) in conn.execute(q) if (t := _town(path)))
            for name, q in queries.items()}


def queue_weekly_report(service: Service, tz: str = "Asia/Shanghai") -> int:
    """Queue this week's ranking to every personal channel's county leaders; returns row count."""
    from ..notifications.context import weekly_context
    from ..notifications.message import Recipient
    from ..notifications.render import compose
    from .store import outbox
    from .store.db import write

    week = Week.containing(service.clock.now(), tz)
    rows = township_rows(service, week)
    with write(service.engine) as conn:
        root = next((u for u in repo.units(conn) if u.parent_id is None), None)
        leaders = repo.holders(conn, "leader", root.path) if root else []
        people = [Recipient(p.id, p.name, p.email, p.mobile) for p in leaders]
        note = compose(f"weekly:{week.label}", "weekly_report",
                       weekly_context(week.label, rows), people)
        outbox.enqueue(conn, service.notices.rows(note, None, service.clock.now()))
    return len(rows)
