"""The weekly report's figures as the database counts them, per item unit path.

Each function counts or lists one thing for the items in a `Scope` (a unit's subtree, one
workflow) over a week [start, end); engine/reports/figures.py turns them into the metrics and
the score, and says what each one means.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, or_, select

from .items import HISTORY, ITEMS, STEPS, ItemRecord, select_items, to_record
from .models import EXTENSIONS


@dataclass(frozen=True)
class Scope:
    """Which items a count looks at: under a unit path, of one workflow (None: all)."""

    path: str | None = None
    workflow: str | None = None

    def conditions(self) -> list[Any]:
        conds = []
        if self.path:
            conds.append(ITEMS.c.unit_path.startswith(self.path, autoescape=True))
        if self.workflow:
            conds.append(ITEMS.c.workflow == self.workflow)
        return conds


def _between(column: Any, start: datetime, end: datetime) -> Any:
    return and_(column >= start, column < end)


def found_by_path(conn: Connection, scope: Scope, start: datetime,
                  end: datetime) -> dict[str, int]:
    """Items created in the week, per unit path."""
    return _per_path(conn, and_(_between(ITEMS.c.created_at, start, end), *scope.conditions()))


def overdue_by_path(conn: Connection, scope: Scope, now: datetime) -> dict[str, int]:
    """Open items past the deadline they are judged against (`judged_due`) at `now`, per unit
    path."""
    return _per_path(conn, and_(ITEMS.c.final.is_(False), judged_due() < now,
                                *scope.conditions()))


def judged_due() -> Any:
    """The deadline an open item is judged against: its state entry's own, unless an extension
    was granted in that entry (then the extended one); a deadline moved by `item assign --due`
    alone does not excuse lateness (延期 is the only way)."""
    extended = exists().where(and_(EXTENSIONS.c.item_id == ITEMS.c.id,
                                   EXTENSIONS.c.entry_no == ITEMS.c.entry_no,
                                   EXTENSIONS.c.status == "granted"))
    return case((extended, ITEMS.c.due_at),
                else_=func.coalesce(ITEMS.c.original_due_at, ITEMS.c.due_at))


def _per_path(conn: Connection, where: Any) -> dict[str, int]:
    return {path: n for path, n in conn.execute(
        select(ITEMS.c.unit_path, func.count()).where(where).group_by(ITEMS.c.unit_path))}


def closed(conn: Connection, scope: Scope, start: datetime, end: datetime) -> dict[int, str]:
    """Items closed in the week: id -> unit path."""
    return {r.id: r.unit_path for r in conn.execute(
        select(ITEMS.c.id, ITEMS.c.unit_path).where(and_(
            _between(ITEMS.c.closed_at, start, end), *scope.conditions())))}


def late_steps_of_closed(conn: Connection, scope: Scope, start: datetime,
                         end: datetime) -> Iterator[Any]:
    """Steps at or after a deadline applied to the items closed in the week:
    (item_id, state, step_index, workflow_version_id)."""
    yield from conn.execute(
        select(STEPS.c.item_id, STEPS.c.state, STEPS.c.step_index, ITEMS.c.workflow_version_id)
        .join(ITEMS, ITEMS.c.id == STEPS.c.item_id)
        .where(and_(_between(ITEMS.c.closed_at, start, end), *scope.conditions(),
                    STEPS.c.status == "applied", STEPS.c.past_deadline.is_(True))))


def rejections(conn: Connection, scope: Scope, start: datetime, end: datetime) -> Iterator[Any]:
    """`reject` transitions in the week: (dest, unit_path, workflow_version_id)."""
    yield from conn.execute(
        select(HISTORY.c.dest, ITEMS.c.unit_path, ITEMS.c.workflow_version_id)
        .join(ITEMS, ITEMS.c.id == HISTORY.c.item_id)
        .where(and_(HISTORY.c.kind == "transition", HISTORY.c.trigger == "reject",
                    _between(HISTORY.c.at, start, end), *scope.conditions())))


def authority_events(conn: Connection, scope: Scope, start: datetime,
                     end: datetime) -> Iterator[Any]:
    """延期 granted and 催办 in the week: (unit_path, kind, count)."""
    yield from conn.execute(
        select(ITEMS.c.unit_path, HISTORY.c.kind, func.count())
        .join(ITEMS, ITEMS.c.id == HISTORY.c.item_id)
        .where(and_(or_(HISTORY.c.trigger == "extension:granted", HISTORY.c.kind == "urge"),
                    _between(HISTORY.c.at, start, end), *scope.conditions()))
        .group_by(ITEMS.c.unit_path, HISTORY.c.kind))


def applied_steps(conn: Connection, scope: Scope, start: datetime,
                  end: datetime) -> Iterator[Any]:
    """Escalation steps applied in the week: (state, step_index, unit_path,
    workflow_version_id)."""
    yield from conn.execute(
        select(STEPS.c.state, STEPS.c.step_index, ITEMS.c.unit_path, ITEMS.c.workflow_version_id)
        .join(ITEMS, ITEMS.c.id == STEPS.c.item_id)
        .where(and_(STEPS.c.status == "applied", _between(STEPS.c.applied_at, start, end),
                    *scope.conditions())))


def overdue_items(conn: Connection, scope: Scope, now: datetime) -> list[ItemRecord]:
    """Open items past their deadline at `now`, the longest overdue first."""
    query = select_items().where(and_(ITEMS.c.final.is_(False), ITEMS.c.due_at < now,
                                      *scope.conditions()))
    return [to_record(r) for r in conn.execute(query.order_by(ITEMS.c.due_at, ITEMS.c.id))]


def open_and_closed(conn: Connection, scope: Scope, start: datetime,
                    end: datetime) -> tuple[int, int]:
    """(items open at the week's end, items closed in the week): a point of the chart."""
    base = scope.conditions()
    open_ = conn.execute(select(func.count()).where(and_(
        ITEMS.c.created_at < end,
        or_(ITEMS.c.closed_at.is_(None), ITEMS.c.closed_at >= end), *base))).scalar_one()
    closed = conn.execute(select(func.count()).where(and_(
        _between(ITEMS.c.closed_at, start, end), *base))).scalar_one()
    return int(open_), int(closed)
