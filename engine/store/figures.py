"""The weekly report's figures as the database counts them: GROUP BY unit path, never item by item.

Each function counts one thing for the items in a `Scope` (a unit's subtree, one workflow) over
a week [start, end) or as of one instant; engine/reports/figures.py turns the counts into the
metrics and the score, and says what each one means. Nothing here loads the items themselves
except `red_items`, which reads at most `limit` of them: a report costs what its answer costs.

What depends on a workflow's YAML (which escalation steps are a public notice's timer, which
move an item into 追责问责) is passed in as `StepKeys`: (workflow_version_id, state, step_index).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    text,
)

from .items import HISTORY, ITEMS, STEPS, ItemRecord, select_items
from .models import EXTENSIONS, HISTORY_AUTHORITY, HISTORY_REJECTIONS, WORKFLOW_VERSIONS

StepKeys = Sequence[tuple[int, str, int]]  # (workflow_version_id, state, step_index)
_EARLIER = STEPS.alias("earlier_step")


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


@dataclass(frozen=True)
class RedRule:
    """When an open item counts as overdue (red) as of an instant: past the deadline it is judged
    against, or moved by an escalation step past a deadline (追责问责: `moved_by`), which no new
    deadline turns green. `moved_into` (version, state) narrows where such items can be."""

    moved_by: StepKeys = ()
    moved_into: Sequence[tuple[int, str]] = ()


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


def _step_is(steps: Any, keys: StepKeys) -> Any:
    """The step row is one of `keys` (the item's version, the step's state and index)."""
    if not keys:
        return false()
    return or_(*(and_(ITEMS.c.workflow_version_id == v, steps.c.state == s,
                      steps.c.step_index == i) for v, s, i in keys))


def judged_due() -> Any:
    """The deadline an open item is judged against: its state entry's own, unless an extension
    was granted in that entry (then the extended one); a deadline moved by `item assign --due`
    alone does not excuse lateness (延期 is the only way)."""
    extended = exists().where(and_(EXTENSIONS.c.item_id == ITEMS.c.id,
                                   EXTENSIONS.c.entry_no == ITEMS.c.entry_no,
                                   EXTENSIONS.c.status == "granted"))
    # Where the deadline was never moved both answers are due_at: the extensions are looked
    # up only for the few items whose deadline was (a lookup per open item cost most of the
    # report at a million items).
    unmoved = or_(ITEMS.c.original_due_at.is_(None), ITEMS.c.original_due_at == ITEMS.c.due_at)
    return case((unmoved, ITEMS.c.due_at), (extended, ITEMS.c.due_at),
                else_=ITEMS.c.original_due_at)


def open_at(as_of: datetime, now: datetime) -> Any:
    """Created before `as_of` and not closed by then. As of now that is simply not final. For
    an earlier instant the times are compared through coalesce(x, x), which SQLite cannot
    answer from the time indexes: fetching most of the table row by row through an index is
    4x slower than one scan of it."""
    if as_of >= now:  # `= false`, as ix_items_open's own condition reads, so it is used
        return ITEMS.c.final == false()
    created, closed = (func.coalesce(c, c) for c in (ITEMS.c.created_at, ITEMS.c.closed_at))
    return and_(created < as_of, or_(ITEMS.c.closed_at.is_(None), closed >= as_of))


def _moves_since(as_of: datetime) -> Any:
    """How many times the item has changed state since `as_of`."""
    return (select(func.count()).where(and_(
        HISTORY.c.item_id == ITEMS.c.id, HISTORY.c.kind.in_(("transition", "migrate")),
        HISTORY.c.at > as_of)).correlate(ITEMS).scalar_subquery())


def _due_then(as_of: datetime) -> Any:
    """The deadline of the state entry an item that has moved on since `as_of` was in then:
    the first step at or after that entry's deadline."""
    return (select(func.min(_EARLIER.c.planned_at)).where(and_(
        _EARLIER.c.item_id == ITEMS.c.id,
        _EARLIER.c.entry_no == ITEMS.c.entry_no - _moves_since(as_of),
        _EARLIER.c.past_deadline.is_(True))).correlate(ITEMS).scalar_subquery())


def due_as_of(as_of: datetime) -> Any:
    """The deadline an item was judged against at `as_of`: its current entry's, if it began
    before; else the one of the entry it was in then (None if that had no deadline step)."""
    # An item that moved at the very instant is in its new state then (a sweep at --now).
    return case((ITEMS.c.entered_at <= as_of, judged_due()), else_=_due_then(as_of))


def red_at(as_of: datetime, rule: RedRule) -> Any:
    """Overdue as of `as_of` (for an item open then): past the deadline of the state entry it
    was in then (`due_as_of`; a state whose deadline has no escalation step at or after it is
    judged so only while it is the current entry), or moved by a `rule.moved_by` step before."""
    conds = [due_as_of(as_of) < as_of]
    if rule.moved_by:
        # Only items where such a move can leave them (or that moved since) need the lookup.
        where = or_(ITEMS.c.entered_at > as_of, *(
            and_(ITEMS.c.workflow_version_id == v, ITEMS.c.state == s)
            for v, s in rule.moved_into)) if rule.moved_into else literal(True)
        conds.append(and_(where, exists().where(and_(
            _EARLIER.c.item_id == ITEMS.c.id, _EARLIER.c.status == "applied",
            _EARLIER.c.applied_at <= as_of, _step_is(_EARLIER, rule.moved_by)))))
    return or_(*conds)


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


def bands_by_path(conn: Connection, scope: Scope, as_of: datetime, now: datetime,
                  yellow_until: datetime, rule: RedRule) -> dict[str, Bands]:
    """Open items as of `as_of` per unit path: red (overdue), yellow (due before
    `yellow_until`), green (a later deadline). Items without a deadline have no light."""
    # Not red: yellow (1) when due by `yellow_until`, green (0) when later, none (-1) without a
    # deadline (the comparison is NULL) or not yet in this entry: the deadline is worked out
    # once per item, not once per band (SQLite evaluates each occurrence).
    not_red = func.coalesce(cast(judged_due() <= yellow_until, Integer), -1)
    band = case((red_at(as_of, rule), 2), (ITEMS.c.entered_at > as_of, -1), else_=not_red)
    # Each open item's band once, in a subquery; the outer query only groups.
    banded = (select(_path_to_group(as_of, now).label("unit_path"), band.label("band"))
              .where(and_(open_at(as_of, now), *scope.conditions())).subquery())
    query = (select(banded.c.unit_path, banded.c.band, func.count())
             .group_by(banded.c.unit_path, banded.c.band))
    counts: dict[str, list[int]] = {}
    for path, which, n in conn.execute(query):
        if which >= 0:
            counts.setdefault(path, [0, 0, 0])[which] += n
    return {path: Bands(red=c[2], yellow=c[1], green=c[0]) for path, c in counts.items()}


def closed_by_path(conn: Connection, scope: Scope, start: datetime, end: datetime,
                   timers: StepKeys) -> dict[str, tuple[int, int]]:
    """Items closed in the week per unit path: (closed, closed on time). On time: no step at or
    after a deadline was ever applied to it, a public notice's timer (`timers`) aside."""
    missed = exists().where(and_(
        STEPS.c.item_id == ITEMS.c.id, STEPS.c.status == "applied",
        STEPS.c.past_deadline.is_(True), ~_step_is(STEPS, timers)))
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


def red_items(conn: Connection, scope: Scope, as_of: datetime, now: datetime, rule: RedRule,
              limit: int) -> list[tuple[ItemRecord, datetime | None]]:
    """The first `limit` items red as of `as_of`, each with the deadline it was judged against
    then, the longest overdue first."""
    due = due_as_of(as_of)
    query = (select_items().add_columns(due.label("due_then"))
             .where(and_(open_at(as_of, now), red_at(as_of, rule), *scope.conditions()))
             .order_by(due.is_(None), due, ITEMS.c.id).limit(limit))
    out = []
    for row in conn.execute(query):
        values = dict(row._mapping)
        due_then = values.pop("due_then")
        out.append((ItemRecord(**values), _as_utc(due_then)))
    return out


def _as_utc(value: Any) -> datetime | None:
    """A computed column comes back untyped from SQLite: a string in the stored UTC form."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


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
