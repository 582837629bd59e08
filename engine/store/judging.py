"""When an open item counts as red, yellow or green in the weekly report, as SQL expressions.

An item is judged against the deadline of its state entry (`judged_due`: a granted 延期 moves
it, `item assign --due` alone does not), or as of an earlier instant against the entry it was in
then (`due_as_of`); an escalation past a deadline (追责问责) keeps it red (`RedRule`). These are
evaluated per item: store/figures.py uses them for a past week, store/bands.py only for the few
open items whose light the index alone cannot tell (the rest it counts as index ranges).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, exists, false, func, literal, or_, select

from .items import HISTORY, ITEMS, STEPS
from .models import EXTENSIONS

StepKeys = Sequence[tuple[int, str, int]]  # (workflow_version_id, state, step_index)
EARLIER = STEPS.alias("earlier_step")
RED, YELLOW, GREEN, NO_LIGHT = 2, 1, 0, -1  # an open item's band (bands_by_path's order)


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


def step_is(steps: Any, keys: StepKeys) -> Any:
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
    return case((unmoved(), ITEMS.c.due_at), (extended, ITEMS.c.due_at),
                else_=ITEMS.c.original_due_at)


def unmoved() -> Any:
    """The item's deadline is the one its state entry began with (or it never had one): then
    `due_at` is the deadline it is judged against, whatever extensions say."""
    return or_(ITEMS.c.original_due_at.is_(None), ITEMS.c.original_due_at == ITEMS.c.due_at)


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
    return (select(func.min(EARLIER.c.planned_at)).where(and_(
        EARLIER.c.item_id == ITEMS.c.id,
        EARLIER.c.entry_no == ITEMS.c.entry_no - _moves_since(as_of),
        EARLIER.c.past_deadline.is_(True))).correlate(ITEMS).scalar_subquery())


def due_as_of(as_of: datetime) -> Any:
    """The deadline an item was judged against at `as_of`: its current entry's, if it began
    before; else the one of the entry it was in then (None if that had no deadline step)."""
    # An item that moved at the very instant is in its new state then (a sweep at --now).
    return case((ITEMS.c.entered_at <= as_of, judged_due()), else_=_due_then(as_of))


def moved_where(as_of: datetime, rule: RedRule) -> Any:
    """Where an item can be red by `rule.moved_by` as of `as_of`: in a state such a step moves
    items into, or in an entry begun after `as_of` (it may have been moved before)."""
    return or_(ITEMS.c.entered_at > as_of, *(
        and_(ITEMS.c.workflow_version_id == v, ITEMS.c.state == s)
        for v, s in rule.moved_into)) if rule.moved_into else literal(True)


def red_at(as_of: datetime, rule: RedRule) -> Any:
    """Overdue as of `as_of` (for an item open then): past the deadline of the state entry it
    was in then (`due_as_of`; a state whose deadline has no escalation step at or after it is
    judged so only while it is the current entry), or moved by a `rule.moved_by` step before."""
    conds = [due_as_of(as_of) < as_of]
    if rule.moved_by:
        # Only items where such a move can leave them (or that moved since) need the lookup.
        conds.append(and_(moved_where(as_of, rule), exists().where(and_(
            EARLIER.c.item_id == ITEMS.c.id, EARLIER.c.status == "applied",
            EARLIER.c.applied_at <= as_of, step_is(EARLIER, rule.moved_by)))))
    return or_(*conds)


def band(as_of: datetime, yellow_until: datetime, rule: RedRule) -> Any:
    """An open item's band as of `as_of`: RED, YELLOW (judged due by `yellow_until`), GREEN (a
    later deadline) or NO_LIGHT (no deadline, or not yet in this entry)."""
    # The deadline is worked out once per item, not once per band (SQLite evaluates each
    # occurrence): NULL (no deadline) compares to NULL.
    not_red = func.coalesce(cast(judged_due() <= yellow_until, Integer), NO_LIGHT)
    return case((red_at(as_of, rule), RED), (ITEMS.c.entered_at > as_of, NO_LIGHT),
                else_=not_red)


def as_utc(value: Any) -> datetime | None:
    """A computed column comes back untyped from SQLite: a string in the stored UTC form."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
