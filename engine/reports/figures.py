"""The weekly ranking (每周通报): per unit, what was found, closed and left overdue in an ISO week.

Definitions (docs/ledgers.md, for offices). A week runs Monday 00:00 to Monday 00:00 in the
workflow's timezone; a unit's figures cover items at that unit and every unit below it.
- found: items created in the week;
- closed: items that reached a final state in the week;
- closed on time: closed in the week and never missed a deadline — no escalation step at or
  after a deadline was ever applied to it (a public notice's timer running out is no miss);
- overdue: open items past their deadline now (when the report is made);
- rejected: `reject` transitions in the week that sent the item back for more work (验收不通过;
  a `reject` that ends the item, such as 不予纳入, is a decision, not a failed acceptance);
- escalations: escalation steps applied in the week, by level (提醒, 督办, 约谈, 问责 …).

score = 100 * (closed_on_time * on_time + (closed - closed_on_time) * late) / max(found, 1)
        - overdue * overdue_weight - rejected * rejected_weight - sum(escalations[L] * weight[L])
with weights from `[report] weights` in rectify.toml: `on_time` (default 1.0), `late` (0.5),
`overdue` (2.0), `rejected` (1.0); any other key names an escalation level (督办 = 1.0) whose
escalations each cost that much (none by default). Ties share a rank (1, 1, 3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from ..app.service import Service
from ..core.errors import UsageError
from ..core.org import ancestors
from ..core.spec import WorkflowSpec
from ..store import figures as counted
from ..store import repo
from ..store.db import Connection, read
from ..store.figures import Scope

DEFAULT_WEIGHTS = {"on_time": 1.0, "late": 0.5, "overdue": 2.0, "rejected": 1.0}
METRICS = ("found", "closed", "on_time", "overdue", "rejected", "extended", "urged")


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

    @classmethod
    def parse(cls, label: str, tz: str) -> Week:
        """`2025-W40` (ISO week); UsageError for anything else."""
        try:
            year, _, number = label.strip().upper().partition("-W")
            return cls.of(date.fromisocalendar(int(year), int(number), 1), tz)
        except ValueError:
            raise UsageError(f"--week {label!r}: expected an ISO week such as 2025-W40") from None

    def shift(self, weeks: int, tz: str) -> Week:
        """The week `weeks` later (negative: earlier)."""
        monday = self.start.astimezone(ZoneInfo(tz)).date()
        return Week.of(monday + timedelta(weeks=weeks), tz)


@dataclass
class Counts:
    """Per item unit path: the metrics, and escalations by (path, level)."""

    metrics: dict[str, Counter[str]]
    escalations: Counter[tuple[str, str]]
    levels: list[str]  # escalation levels in ladder order

    def rollup(self, unit_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """A unit's figures: everything at it or below it."""
        def under(path: str) -> bool:
            return unit_id in _chain(path)

        metrics = {m: sum(n for p, n in c.items() if under(p)) for m, c in self.metrics.items()}
        levels: Counter[str] = Counter()
        for (path, level), n in self.escalations.items():
            if under(path):
                levels[level] += n
        return metrics, {lv: levels[lv] for lv in self.levels if levels[lv]}


@lru_cache(maxsize=4096)
def _chain(path: str) -> frozenset[str]:
    return frozenset(ancestors(path))


def count_units(service: Service, conn: Connection, week: Week, now: datetime,
                scope: Scope) -> Counts:
    """Every metric of the week, per item unit path (rolled up to units by `Counts.rollup`)."""
    spec = _spec_lookup(service, conn)
    start, end = week.start, week.end
    metrics: dict[str, Counter[str]] = {m: Counter() for m in METRICS}
    metrics["found"].update(counted.found_by_path(conn, scope, start, end))
    metrics["overdue"].update(counted.overdue_by_path(conn, scope, now))
    closed = counted.closed(conn, scope, start, end)
    missed = {r.item_id for r in counted.late_steps_of_closed(conn, scope, start, end)
              if not _is_timer(spec(r.workflow_version_id), r.state, r.step_index)}
    metrics["closed"].update(closed.values())
    metrics["on_time"].update(p for i, p in closed.items() if i not in missed)
    for path, kind, n in counted.authority_events(conn, scope, start, end):
        metrics["extended" if kind == "extension" else "urged"][path] += n
    for r in counted.rejections(conn, scope, start, end):
        dest = spec(r.workflow_version_id).states.get(r.dest)
        if dest is not None and not dest.final:
            metrics["rejected"][r.unit_path] += 1
    escalations: Counter[tuple[str, str]] = Counter()
    for r in counted.applied_steps(conn, scope, start, end):
        s = spec(r.workflow_version_id)
        if not _is_timer(s, r.state, r.step_index):
            step = s.states[r.state].escalate[r.step_index]
            escalations[(r.unit_path, step.level or step.action)] += 1
    levels = list(dict.fromkeys(level for _, level in escalations))
    return Counts(metrics, escalations, _ladder_order(service, conn, levels))


def _spec_lookup(service: Service, conn: Connection) -> Any:
    return lambda version_id: service.compiled(conn, version_id).spec


def _is_timer(spec: WorkflowSpec, state: str, index: int) -> bool:
    """A public notice's `at: 0` fire step: the period ending, not a missed deadline."""
    st = spec.states.get(state)
    if st is None or index >= len(st.escalate):
        return False
    step = st.escalate[index]
    return bool(step.fire) and step.at.amount == 0


def _ladder_order(service: Service, conn: Connection, levels: list[str]) -> list[str]:
    order: dict[str, int] = {}
    for version in repo.workflow_names(conn):
        spec = service.compiled(conn, version.id).spec
        for st in spec.states.values():
            for step in st.escalate:
                order.setdefault(step.level or step.action, len(order))
    return sorted(levels, key=lambda lv: (order.get(lv, len(order)), lv))


def weights_with_defaults(weights: Mapping[str, float] | None) -> dict[str, float]:
    return {**DEFAULT_WEIGHTS, **(weights or {})}


def score(metrics: Mapping[str, int], escalations: Mapping[str, int],
          weights: Mapping[str, float]) -> float:
    w = weights_with_defaults(weights)
    closed, on_time = metrics["closed"], metrics["on_time"]
    value = 100 * (on_time * w["on_time"] + (closed - on_time) * w["late"]) \
        / max(metrics["found"], 1) - metrics["overdue"] * w["overdue"] \
        - metrics["rejected"] * w["rejected"]
    value -= sum(n * w.get(level, 0.0) for level, n in escalations.items())
    return round(value, 2)


def ranks(scores: Sequence[float]) -> list[int]:
    """Competition ranking: equal scores share a rank, the next rank skips (1, 1, 3)."""
    return [1 + sum(1 for other in scores if other > s) for s in scores]


def townships(units: Sequence[repo.UnitRow]) -> list[repo.UnitRow]:
    """The units ranked by default: the root's children (or the roots, if there are several)."""
    roots = [u for u in units if u.parent_id is None]
    if len(roots) != 1:
        return roots
    return [u for u in units if u.parent_id == roots[0].id]


def township_rows(service: Service, week: Week, weights: dict[str, float] | None = None, *,
                  now: datetime | None = None) -> list[dict[str, Any]]:
    """Ranked rows, one per township, as the scheduler's 每周通报 notification shows them."""
    now = service.clock.now() if now is None else now
    with read(service.engine) as conn:
        towns = townships(repo.units(conn))
        counts = count_units(service, conn, week, now, Scope())
    rows: list[dict[str, Any]] = []
    for unit in towns:
        metrics, levels = counts.rollup(unit.id)
        rows.append({"unit": unit.id, "unit_name": unit.name, "found": metrics["found"],
                     "closed": metrics["closed"], "closed_on_time": metrics["on_time"],
                     "overdue": metrics["overdue"], "rejected": metrics["rejected"],
                     "extended": metrics["extended"], "urged": metrics["urged"],
                     "escalations": levels, "score": score(metrics, levels, weights or {})})
    rows.sort(key=lambda r: (-r["score"], r["unit"]))
    return [{**r, "rank": n} for r, n in zip(rows, ranks([r["score"] for r in rows]),
                                            strict=True)]


def queue_weekly_report(service: Service, tz: str = "Asia/Shanghai",
                        weights: dict[str, float] | None = None) -> int:
    """Queue this week's ranking to every personal channel's county leaders; returns row count."""
    from ...notifications.context import weekly_context
    from ...notifications.message import Recipient
    from ...notifications.render import compose
    from ..store import outbox
    from ..store.db import write

    now = service.clock.now()
    week = Week.containing(now, tz)
    rows = township_rows(service, week, weights, now=now)
    with read(service.engine) as conn:
        root = next((u for u in repo.units(conn) if u.parent_id is None), None)
        leaders = repo.holders(conn, "leader", root.path) if root else []
    people = [Recipient(p.id, p.name, p.email, p.mobile) for p in leaders]
    # Rendered when made (a report is not an item notice), before the write transaction.
    note = compose(f"weekly:{week.label}", "weekly_report", weekly_context(week.label, rows),
                   people)
    with write(service.engine) as conn:
        outbox.enqueue(conn, service.notices.rows(note, None, now))
    return len(rows)
