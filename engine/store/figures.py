"""The weekly report's figures as the database counts them: GROUP BY unit path, never item by item.

Each function counts one thing for the items in a `Scope` (a unit's subtree, one workflow) over
a week [start, end) or as of one instant; engine/reports/figures.py turns the counts into the
metrics and the score, and says what each one means. Nothing here loads the items themselves
except `Lights.red`, which reads at most `limit` of them: a report costs what its answer costs.

What depends on a workflow's YAML (which escalation steps are a public notice's timer, which
move an item into 追责问责) is passed in as `StepKeys`: (workflow_version_id, state, step_index).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, select, text

from .bands import Now, as_of_now
from .items import HISTORY, ITEMS, STEPS, ItemRecord, select_items
from .judging import (
    GREEN,
    NO_LIGHT,
    RED,
    YELLOW,
    RedRule,
    Scope,
    StepKeys,
    as_utc,
    band,
    due_as_of,
    open_at,
    red_at,
    step_is,
)
from .models import HISTORY_AUTHORITY, HISTORY_REJECTIONS, WORKFLOW_VERSIONS

__all__ = [
    "Bands",
    "Lights",
    "RedRule",
    "Scope",
    "StepKeys",
    "applied_steps",
    "authority_events",
    "closed_by_path",
    "found_by_path",
    "open_and_closed",
    "rejections",
    "version_ids",
]


@dataclass(frozen=True)
class Bands:
    """Open items of one unit path as of an instant, by light."""

    red: int
    yellow: int
    green: int


def version_ids(conn: Connection) -> list[int]:
    return list(conn.scalars(select(WORKFLOW_VERSIONS.c.id)))


def _between(column: Any, start: datetime, end: datetime) -> Any:
    return and_(column >= start, column < end)


def _path_to_group(as_of: datetime, now: datetime) -> Any:
    """unit_path for a GROUP BY over open items: as of now, the column itself (ix_items_open
    covers the query); for an earlier instant an expression, or SQLite walks the unit_path
    index and fetches every row from it (4x slower than one scan of the table)."""
    return ITEMS.c.unit_path if as_of >= now else ITEMS.c.unit_path.concat("")


def found_by_path(conn: Connection, scope: Scope, start: datetime,
                  end: datetime) -> dict[str, int]:
    """Items created in the week, per unit path."""
    return {path: n for path, n in conn.execute(
        select(ITEMS.c.unit_path, func.count())
        .where(and_(_between(ITEMS.c.created_at, start, end), *scope.conditions()))
        .group_by(ITEMS.c.unit_path))}


class Lights:
    """The open items of a scope as of `as_of`, by light: per unit path, and the first red ones.
    As of now (the week under way) these are index ranges and an index walk (store/bands.py);
    for a past week each item open then is judged as it was."""

    def __init__(self, conn: Connection, scope: Scope, as_of: datetime, now: datetime,
                 yellow_until: datetime, rule: RedRule) -> None:
        self.conn, self.scope, self.as_of, self.now = conn, scope, as_of, now
        self.yellow_until, self.rule = yellow_until, rule
        self.counted = (Now(conn, scope, as_of, yellow_until, rule)
                        if as_of_now(as_of, now, rule) else None)

    def by_path(self) -> dict[str, Bands]:
        """Per unit path: red (overdue), yellow (due by `yellow_until`), green (a later
        deadline). Items without a deadline have no light."""
        if self.counted is not None:
            return {path: Bands(red=c[RED], yellow=c[YELLOW], green=c[GREEN])
                    for path, c in self.counted.bands().items() if any(c)}
        as_of, now = self.as_of, self.now
        # Each open item's band once, in a subquery; the outer query only groups.
        banded = (select(_path_to_group(as_of, now).label("unit_path"),
                         band(as_of, self.yellow_until, self.rule).label("band"))
                  .where(and_(open_at(as_of, now), *self.scope.conditions())).subquery())
        query = (select(banded.c.unit_path, banded.c.band, func.count())
                 .group_by(banded.c.unit_path, banded.c.band))
        counts: dict[str, list[int]] = {}
        for path, which, n in self.conn.execute(query):
            if which != NO_LIGHT:
                counts.setdefault(path, [0, 0, 0])[which] += n
        return {path: Bands(red=c[RED], yellow=c[YELLOW], green=c[GREEN])
                for path, c in counts.items()}

    def red(self, limit: int) -> list[tuple[ItemRecord, datetime | None]]:
        """The first `limit` red items, each with the deadline it was judged against then,
        the longest overdue first."""
        if self.counted is not None:
            first = self.counted.red(limit)
            rows = {r.id: r for r in self.conn.execute(select_items().where(
                ITEMS.c.id.in_([i for i, _ in first])))}
            return [(ItemRecord(**rows[i]._mapping), as_utc(due)) for i, due in first]
        due = due_as_of(self.as_of)
        query = (select_items().add_columns(due.label("due_then"))
                 .where(and_(open_at(self.as_of, self.now), red_at(self.as_of, self.rule),
                             *self.scope.conditions()))
                 .order_by(due.is_(None), due, ITEMS.c.id).limit(limit))
        out = []
        for row in self.conn.execute(query):
            values = dict(row._mapping)
            due_then = values.pop("due_then")
            out.append((ItemRecord(**values), as_utc(due_then)))
        return out


def closed_by_path(conn: Connection, scope: Scope, start: datetime, end: datetime,
                   timers: StepKeys) -> dict[str, tuple[int, int]]:
    """Items closed in the week per unit path: (closed, closed on time). On time: no step at or
    after a deadline was ever applied to it, a public notice's timer (`timers`) aside."""
    missed = exists().where(and_(
        STEPS.c.item_id == ITEMS.c.id, STEPS.c.status == "applied",
        STEPS.c.past_deadline.is_(True), ~step_is(STEPS, timers)))
    query = (select(ITEMS.c.unit_path, func.count(),
                    func.sum(case((missed, 0), else_=1)))
             .where(and_(_between(ITEMS.c.closed_at, start, end), *scope.conditions()))
             .group_by(ITEMS.c.unit_path))
    return {path: (int(n), int(on_time or 0)) for path, n, on_time in conn.execute(query)}


def rejections(conn: Connection, scope: Scope, start: datetime, end: datetime) -> Iterator[Any]:
    """`reject` transitions in the week: (dest, unit_path, workflow_version_id, count)."""
    yield from conn.execute(
        select(HISTORY.c.dest, ITEMS.c.unit_path, ITEMS.c.workflow_version_id, func.count())
        .join(ITEMS, ITEMS.c.id == HISTORY.c.item_id)
        .where(and_(HISTORY.c.kind == "transition", text(HISTORY_REJECTIONS),
                    _between(HISTORY.c.at, start, end), *scope.conditions()))
        .group_by(HISTORY.c.dest, ITEMS.c.unit_path, ITEMS.c.workflow_version_id))


def authority_events(conn: Connection, scope: Scope, start: datetime,
                     end: datetime) -> Iterator[Any]:
    """延期 granted and 催办 in the week: (unit_path, kind, count)."""
    yield from conn.execute(
        select(ITEMS.c.unit_path, HISTORY.c.kind, func.count())
        .join(ITEMS, ITEMS.c.id == HISTORY.c.item_id)
        .where(and_(text(f"({HISTORY_AUTHORITY})"),
                    _between(HISTORY.c.at, start, end), *scope.conditions()))
        .group_by(ITEMS.c.unit_path, HISTORY.c.kind))


def applied_steps(conn: Connection, scope: Scope, start: datetime,
                  end: datetime) -> Iterator[Any]:
    """Escalation steps applied in the week: (state, step_index, unit_path,
    workflow_version_id, count)."""
    yield from conn.execute(
        select(STEPS.c.state, STEPS.c.step_index, ITEMS.c.unit_path,
               ITEMS.c.workflow_version_id, func.count())
        .join(ITEMS, ITEMS.c.id == STEPS.c.item_id)
        .where(and_(STEPS.c.status == "applied", _between(STEPS.c.applied_at, start, end),
                    *scope.conditions()))
        .group_by(STEPS.c.state, STEPS.c.step_index, ITEMS.c.unit_path,
                  ITEMS.c.workflow_version_id))


def open_and_closed(conn: Connection, scope: Scope,
                    weeks: Iterable[tuple[datetime, datetime]]) -> list[tuple[int, int]]:
    """Per week [start, end): (items open at its end, items closed in it), for the chart.
    Open at an instant = created before it - closed before it: two counts on the time indexes
    up to the first week, then only the weeks' own rows."""
    spans = list(weeks)
    if not spans:
        return []
    first = spans[0][0]
    base = scope.conditions()
    created = conn.execute(select(func.count()).where(
        and_(ITEMS.c.created_at < first, *base))).scalar_one()
    closed = conn.execute(select(func.count()).where(
        and_(ITEMS.c.closed_at < first, *base))).scalar_one()
    points = []
    for start, end in spans:
        created += _count_between(conn, ITEMS.c.created_at, start, end, base)
        in_week = _count_between(conn, ITEMS.c.closed_at, start, end, base)
        closed += in_week
        points.append((int(created - closed), int(in_week)))
    return points


def _count_between(conn: Connection, column: Any, start: datetime, end: datetime,
                   base: list[Any]) -> int:
    return int(conn.execute(select(func.count()).where(
        and_(_between(column, start, end), *base))).scalar_one())
