"""Open items by light as of now, counted as index ranges instead of item by item.

No deadline, past it and not yet past it are three disjoint ranges of ix_items_open (unit_path,
due_at) per unit path, which together hold each open item once; yellow is the window from now
up to a boundary. The unit board (store/worklist.py) and the weekly report as of now count
their lights this way (`light_ranges`); a county of a million items comes back as a few rows per
unit, and no item is evaluated.

The report judges an item against the deadline of its state entry (store/judging.py), which is
`due_at` for all but a few open items: those whose deadline was moved without a granted 延期,
those in a state an escalation moves items into (追责问责), those whose entry began after the
report's instant. Those are found in one pass over ix_items_open that reads no table row and
judged one by one (`apart`), and their band by `due_at` is swapped for their judged one; the red
list walks the deadline order of ix_items_open_state, reading at most its `limit` (plus the
items apart) entries per state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property, partial
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)

from .judging import GREEN, NO_LIGHT, RED, YELLOW, RedRule, Scope, as_utc, band, due_as_of
from .models import ITEMS, UTCDateTime

_at = partial(bindparam, None, type_=UTCDateTime)


def light_ranges(under: Sequence[Any], now: datetime, yellow: Any,
                 yellow_max: datetime | None) -> list[Any]:
    """(kind, unit_path, count) selects for the open items `under` (conditions that keep
    ix_items_open's order: `final = false`, the unit path IN a list): kind "none" (no
    deadline), "red" (before `now`), "ahead" (at or after it) and, when `yellow_max` is
    given, "yellow" (from `now` up to `yellow`, a time or an expression per item that is
    never after `yellow_max`: only that window of the index is read)."""
    items = ITEMS.c

    def counted(kind: str, *conds: Any) -> Any:
        return select(literal(kind), items.unit_path, func.count()).where(*under, *conds) \
            .group_by(items.unit_path)

    parts = [counted("none", items.due_at.is_(None)), counted("red", items.due_at < _at(now)),
             counted("ahead", items.due_at >= _at(now))]
    if yellow_max is not None:
        parts.append(counted("yellow", items.due_at >= _at(now),
                             items.due_at <= _at(yellow_max), items.due_at <= yellow))
    return parts


def as_of_now(as_of: datetime, now: datetime, rule: RedRule) -> bool:
    """Whether the lights as of `as_of` can be counted this way: as of now (or later), and
    unless a 追责问责 step may have moved items anywhere (a rule that names no state)."""
    return as_of >= now and not (rule.moved_by and not rule.moved_into)


class Apart(NamedTuple):
    """An open item whose light `due_at` alone does not tell."""

    id: int
    unit_path: str
    counted: int  # its band by due_at, as light_ranges counted it
    band: int  # its band as the report judges it
    due_then: Any  # the deadline it is judged against (untyped on SQLite: judging.as_utc)


def open_paths(conn: Connection, scope: Scope) -> list[str]:
    """The unit paths of the open items in `scope`'s subtree (SQLite skips along ix_items_open:
    a few steps per path). Counting by these, not by the units' paths, counts an item filed
    under a unit that has moved since, as the subtree's LIKE does."""
    return list(conn.scalars(select(ITEMS.c.unit_path).distinct().where(
        ITEMS.c.final == false(), *Scope(scope.path).conditions())))


def _under(paths: Sequence[str], scope: Scope) -> list[Any]:
    """Open items at `paths` (seeks into ix_items_open) of the scope's workflow. The paths are
    written into the statement: a province's units as bound parameters, once in each of the
    range counts, would pass the databases' limits (32,766 on SQLite, 65,535 on PostgreSQL)."""
    listed: Any = bindparam("paths", list(paths), expanding=True, literal_execute=True)
    return [ITEMS.c.final == false(), ITEMS.c.unit_path.in_(listed),
            *Scope(workflow=scope.workflow).conditions()]


def apart(conn: Connection, scope: Scope, paths: Sequence[str], as_of: datetime,
          yellow_until: datetime, rule: RedRule) -> list[Apart]:
    """The open items at `paths` (the scope's) judged apart from `due_at`, each with the band
    the ranges counted it in and its judged band. Found in one pass over ix_items_open (the
    conditions read only its columns), then judged by id: in one statement PostgreSQL guessed
    a tenth of the items to need judging and spent longer compiling it (JIT) than running it."""
    items = ITEMS.c
    moved = and_(items.original_due_at.is_not(None),
                 or_(items.due_at.is_(None), items.original_due_at != items.due_at))
    kinds = [items.entered_at > _at(as_of), moved]
    if rule.moved_by:
        kinds += [and_(items.workflow_version_id == v, items.state == s)
                  for v, s in rule.moved_into]
    by_due = case((items.due_at.is_(None), NO_LIGHT), (items.due_at < _at(as_of), RED),
                  (items.due_at <= _at(yellow_until), YELLOW), else_=GREEN)
    found = {i: (path, counted) for i, path, counted in conn.execute(
        select(items.id, items.unit_path, by_due).where(*_under(paths, scope), or_(*kinds)))}
    if not found:
        return []
    ids: Any = bindparam("ids", sorted(found), expanding=True, literal_execute=True)
    judged = select(items.id, band(as_of, yellow_until, rule), due_as_of(as_of)) \
        .where(items.id.in_(ids))
    return [Apart(i, *found[i], which, due) for i, which, due in conn.execute(judged)]


class Now:
    """The open items of a scope as of `as_of` (at or after now, `as_of_now`): per unit path by
    light, and the first red ones. The items apart are read once for both."""

    def __init__(self, conn: Connection, scope: Scope, as_of: datetime,
                 yellow_until: datetime, rule: RedRule) -> None:
        self.conn, self.scope, self.as_of = conn, scope, as_of
        self.yellow_until, self.rule = yellow_until, rule
        self.paths = open_paths(conn, scope)

    @cached_property
    def apart(self) -> dict[int, Apart]:
        return {a.id: a for a in apart(self.conn, self.scope, self.paths, self.as_of,
                                       self.yellow_until, self.rule)}

    def bands(self) -> dict[str, list[int]]:
        """Per unit path, [green, yellow, red]: the ranges of ix_items_open, with the items
        apart moved from their band by due_at to their judged one."""
        found: dict[str, dict[str, int]] = {}
        for kind, unit_path, n in self.conn.execute(union_all(*light_ranges(
                _under(self.paths, self.scope), self.as_of, _at(self.yellow_until),
                self.yellow_until))):
            found.setdefault(unit_path, {})[kind] = n
        counts = {p: [f.get("ahead", 0) - f.get("yellow", 0), f.get("yellow", 0),
                      f.get("red", 0)] for p, f in found.items()}
        for item in self.apart.values():
            if item.counted != NO_LIGHT:
                counts[item.unit_path][item.counted] -= 1
            if item.band != NO_LIGHT:
                counts[item.unit_path][item.band] += 1
        return counts

    def red(self, limit: int) -> list[tuple[int, Any]]:
        """(id, the deadline it is judged against) of the first `limit` red items, the longest
        overdue first: each state's red items in deadline order from ix_items_open_state, less
        the items apart, merged with the items apart that are red."""
        items, odd = ITEMS.c, self.apart
        states = self.conn.execute(select(items.workflow, items.state).distinct()
                                   .where(items.final == false()))
        walks = [select(items.id, items.due_at).where(
            items.final == false(), items.workflow == workflow, items.state == state,
            items.due_at < _at(self.as_of), *self.scope.conditions())
            .order_by(items.due_at, items.id).limit(limit + len(odd)).subquery()
            for workflow, state in list(states)]
        found = [(due, i) for walk in walks
                 for i, due in self.conn.execute(select(walk.c.id, walk.c.due_at))
                 if i not in odd]
        found += [(a.due_then, a.id) for a in odd.values() if a.band == RED]
        found.sort(key=lambda pair: (pair[0] is None, _sortable(pair[0]), pair[1]))
        return [(i, due) for due, i in found[:limit]]


def _sortable(due: Any) -> Any:
    """Deadlines of both kinds (typed from an index walk, untyped from a computed column on
    SQLite) in one order."""
    return as_utc(due) if due is not None else 0


def yellow_case(bounds: Mapping[tuple[int, str], datetime]) -> Any:
    """The yellow boundary of each open item's (workflow version, state), for the board."""
    if not bounds:
        return None
    return case(*[(and_(ITEMS.c.workflow_version_id == version, ITEMS.c.state == state),
                   _at(bound)) for (version, state), bound in bounds.items()], else_=None)
