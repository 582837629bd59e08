"""The weekly ranking (每周通报): per unit, what was found, closed and left overdue in an ISO week.

Definitions (docs/reports.md, for offices). A week runs Monday 00:00 to Monday 00:00 in the
workflow's timezone; a unit's figures cover items at that unit and every unit below it. Open
and overdue items are judged as of the week's end for a past week, as of now for this week.
- found: items created in the week;
- closed: items that reached a final state in the week;
- closed on time: closed in the week and never missed a deadline — no escalation step at or
  after a deadline was ever applied to it (a public notice's timer running out is no miss);
- overdue (red): open items past their deadline, or moved by an escalation past a deadline
  (追责问责) and not yet closed: a new deadline in 追责问责 does not turn them green;
- rejected: `reject` transitions in the week that sent the item back for more work (验收不通过;
  a `reject` that ends the item, such as 不予纳入, is a decision, not a failed acceptance);
- escalations: escalation steps applied in the week, by level (提醒, 督办, 约谈, 问责 …).

score = 100 * completion - overdue * w.overdue - rejected * w.rejected - Σ escalations[L] * w[L]
completion = (closed_on_time * w.on_time + closed_late * w.late) / (closed + overdue),
             or w.on_time when nothing was closed or overdue (nothing was left undone).
The weights (`[report] weights` in rectify.toml) default to DEFAULT_WEIGHTS; ties share a rank.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from ..app.service import Service
from ..core.calendar import shift
from ..core.escalation import DEFAULT_LIGHTS, LightRule
from ..core.org import ancestors
from ..core.spec import Duration
from ..store import figures as counted
from ..store import repo
from ..store.db import Connection
from ..store.figures import Bands, RedRule, Scope
from .week import Week

__all__ = ["DEFAULT_WEIGHTS", "Counts", "Ladders", "Week", "count_units", "ladders",
           "queue_weekly_report", "ranks", "score", "township_rows", "townships", "unit_light",
           "weights_with_defaults"]

# Escalations past the deadline cost by how far they went: 约谈 (a talk with the leader) and
# 问责 (accountability) are failures in their own right; 督办 comes with every overdue item,
# which `overdue` already costs; 提醒 comes before the deadline and is no failure.
DEFAULT_WEIGHTS = {"on_time": 1.0, "late": 0.5, "overdue": 2.0, "rejected": 1.0,
                   "约谈": 3.0, "问责": 5.0}
METRICS = ("found", "closed", "on_time", "overdue", "rejected", "extended", "urged", "yellow",
           "green")


@dataclass
class Counts:
    """Per item unit path: the metrics, and escalations by (path, level)."""

    metrics: dict[str, Counter[str]]
    escalations: Counter[tuple[str, str]]
    levels: list[str]  # escalation levels in ladder order
    lights: counted.Lights  # the open items by light, for the red list

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

    def total(self, metric: str) -> int:
        return sum(self.metrics[metric].values())


@lru_cache(maxsize=4096)
def _chain(path: str) -> frozenset[str]:
    return frozenset(ancestors(path))


@dataclass(frozen=True)
class Ladders:
    """What the workflows' YAML says about their escalation steps, as the store counts them."""

    timers: tuple[tuple[int, str, int], ...]  # a public notice's period running out
    red: RedRule  # steps that move an item on past its deadline (追责问责), and where to
    levels: dict[tuple[int, str, int], str]  # each step's level (or action)
    order: list[str]  # levels in ladder order


def ladders(service: Service, conn: Connection) -> Ladders:
    timers, moved_by, moved_into = [], [], []
    levels: dict[tuple[int, str, int], str] = {}
    for version in counted.version_ids(conn):
        spec = service.compiled(conn, version).spec
        for name, state in spec.states.items():
            for i, step in enumerate(state.escalate):
                levels[(version, name, i)] = step.level or step.action
                if step.fire and step.at.amount == 0:
                    timers.append((version, name, i))
                elif step.fire and step.at.amount > 0:
                    moved_by.append((version, name, i))
                    moved_into += [(version, t.dest) for t in spec.transitions_from(name)
                                   if t.trigger == step.fire]
    order = list(dict.fromkeys(levels.values()))
    return Ladders(tuple(timers), RedRule(tuple(moved_by), tuple(dict.fromkeys(moved_into))),
                   levels, order)


def count_units(service: Service, conn: Connection, week: Week, now: datetime, scope: Scope,
                tz: str, rule: LightRule = DEFAULT_LIGHTS,
                known: Ladders | None = None) -> Counts:
    """Every metric of the week, per item unit path (rolled up to units by `Counts.rollup`)."""
    known = known or ladders(service, conn)
    start, end, as_of = week.start, week.end, week.as_of(now)
    metrics: dict[str, Counter[str]] = {m: Counter() for m in METRICS}
    metrics["found"].update(counted.found_by_path(conn, scope, start, end))
    yellow_until = shift(as_of, Duration(rule.yellow_workdays, "workdays"), tz,
                         service.calendar()).at
    lights = counted.Lights(conn, scope, as_of, now, yellow_until, known.red)
    for path, bands in lights.by_path().items():
        metrics["overdue"][path] = bands.red
        metrics["yellow"][path] = bands.yellow
        metrics["green"][path] = bands.green
    for path, (closed, on_time) in counted.closed_by_path(conn, scope, start, end,
                                                          known.timers).items():
        metrics["closed"][path], metrics["on_time"][path] = closed, on_time
    for path, kind, n in counted.authority_events(conn, scope, start, end):
        metrics["extended" if kind == "extension" else "urged"][path] += n
    for dest, path, version, n in counted.rejections(conn, scope, start, end):
        state = service.compiled(conn, version).spec.states.get(dest)
        if state is not None and not state.final:
            metrics["rejected"][path] += n
    escalations: Counter[tuple[str, str]] = Counter()
    timers = set(known.timers)
    for state, index, path, version, n in counted.applied_steps(conn, scope, start, end):
        key = (version, state, index)
        if key not in timers and key in known.levels:
            escalations[(path, known.levels[key])] += n
    seen = {level for _, level in escalations}
    return Counts(metrics, escalations, [lv for lv in known.order if lv in seen], lights)


def weights_with_defaults(weights: Mapping[str, float] | None) -> dict[str, float]:
    return {**DEFAULT_WEIGHTS, **(weights or {})}


def score(metrics: Mapping[str, int], escalations: Mapping[str, int],
          weights: Mapping[str, float]) -> float:
    w = weights_with_defaults(weights)
    closed, on_time, overdue = metrics["closed"], metrics["on_time"], metrics["overdue"]
    due = closed + overdue
    completion = ((on_time * w["on_time"] + (closed - on_time) * w["late"]) / due if due
                  else w["on_time"])
    value = 100 * completion - overdue * w["overdue"] - metrics["rejected"] * w["rejected"]
    value -= sum(n * w.get(level, 0.0) for level, n in escalations.items())
    return round(value, 2)


def unit_light(metrics: Mapping[str, int]) -> str:
    """A unit's light: red with any overdue item, yellow with any item near its deadline."""
    if metrics["overdue"]:
        return "red"
    return "yellow" if metrics["yellow"] else "green"


def ranks(scores: Sequence[float]) -> list[int]:
    """Competition ranking: equal scores share a rank, the next rank skips (1, 1, 3)."""
    return [1 + sum(1 for other in scores if other > s) for s in scores]


def townships(units: Sequence[repo.UnitRow]) -> list[repo.UnitRow]:
    """The units ranked by default: the root's children (or the roots, if there are several)."""
    roots = [u for u in units if u.parent_id is None]
    if len(roots) != 1:
        return roots
    return [u for u in units if u.parent_id == roots[0].id]


def bands_total(counts: Counts) -> Bands:
    return Bands(counts.total("overdue"), counts.total("yellow"), counts.total("green"))


def as_dict(unit: repo.UnitRow, metrics: Mapping[str, int], levels: Mapping[str, int],
            weights: Mapping[str, float]) -> dict[str, Any]:
    return {"unit": unit.id, "unit_name": unit.name, "found": metrics["found"],
            "closed": metrics["closed"], "closed_on_time": metrics["on_time"],
            "overdue": metrics["overdue"], "rejected": metrics["rejected"],
            "extended": metrics["extended"], "urged": metrics["urged"],
            "escalations": dict(levels), "score": score(metrics, levels, weights),
            "light": unit_light(metrics)}


def township_rows(service: Service, week: Week, weights: Mapping[str, float] | None = None, *,
                  now: datetime | None = None, tz: str = "Asia/Shanghai",
                  rule: LightRule = DEFAULT_LIGHTS) -> list[dict[str, Any]]:
    """Ranked rows, one per township, as the scheduler's 每周通报 notification shows them."""
    from ..store.db import read

    now = service.clock.now() if now is None else now
    with read(service.engine) as conn:
        towns = townships(repo.units(conn))
        counts = count_units(service, conn, week, now, Scope(), tz, rule)
    rows = [as_dict(unit, *counts.rollup(unit.id), weights or {}) for unit in towns]
    rows.sort(key=lambda r: (-r["score"], r["unit"]))
    return [{**r, "rank": n} for r, n in zip(rows, ranks([r["score"] for r in rows]),
                                            strict=True)]


def queue_weekly_report(service: Service, tz: str = "Asia/Shanghai",
                        weights: Mapping[str, float] | None = None) -> int:
    """Queue this week's ranking to every personal channel's county leaders; returns row count."""
    from ...notifications.context import weekly_context
    from ...notifications.message import Recipient
    from ...notifications.render import compose
    from ..store import outbox
    from ..store.db import read, write

    now = service.clock.now()
    week = Week.containing(now, tz)
    rows = township_rows(service, week, weights, now=now, tz=tz)
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
