"""What the staff pages read: a person's grants, their candidate open items, a unit board's
figures, and evidence rows (an item's attachments, and the other items that hold the same file).

Reads only. The app layer (`engine/app/worklist.py`) decides what the rows mean (lights,
who may act); these functions only narrow the rows in SQL so a page never reads a whole county.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)

from . import items as store
from .bands import light_ranges, yellow_case
from .models import ATTACHMENTS, ITEMS, ROLE_GRANTS, UNITS, WORKFLOW_VERSIONS, UTCDateTime


class Grant(NamedTuple):
    role: str
    unit_id: str
    unit_path: str
    unit_name: str


class Attachment(NamedTuple):
    item_id: int
    sha256: str
    name: str
    size: int
    field: str
    added_at: datetime


def grants(conn: Connection, person_id: str) -> list[Grant]:
    """The person's roles and where they hold them, top units first."""
    rows = conn.execute(
        select(ROLE_GRANTS.c.role, UNITS.c.id, UNITS.c.path, UNITS.c.name)
        .join(UNITS, UNITS.c.id == ROLE_GRANTS.c.unit_id)
        .where(ROLE_GRANTS.c.person_id == person_id)
        .order_by(func.length(UNITS.c.path), UNITS.c.path, ROLE_GRANTS.c.role))
    return [Grant(*r) for r in rows]


def candidate_items(conn: Connection, person_id: str, paths: Iterable[str],
                    states: Mapping[str, Sequence[str]], limit: int) -> list[store.ItemRecord]:
    """The first `limit` open items assigned to the person, or under one of `paths` in a
    state (per workflow) from which one of their roles may fire something: the caller checks
    each exactly. Nearest deadline first (then id); items without one last.

    No statement sorts every candidate (at a county leader's 100,000 that was most of the
    page). Each source is read in that order and stops at `limit`: the person's own by
    ix_items_open_assignee; each (workflow, state) by ix_items_open_state, the unit path
    tested in the index, for at most WALK entries — enough when the person's units hold
    much of that state. A state where the walk found too few is read the other way, from
    the person's units (their items in it, sorted: as many as the units hold). Merging the
    short lists gives exactly the first `limit` of all candidates. Items without a deadline
    are read only when the dated ones fall short."""
    paths = sorted(set(paths))
    waits = [(w, s) for w, names in states.items() for s in names] if paths else []
    dated = _first(conn, person_id, waits, paths, True, limit)
    undated = _first(conn, person_id, waits, paths, False, limit - len(dated)) \
        if len(dated) < limit else []
    chosen = [item_id for _, item_id in dated + undated]
    if not chosen:
        return []
    rows = conn.execute(store.select_items().where(ITEMS.c.id.in_(chosen)))
    records = {r.id: r for r in map(store.to_record, rows)}
    return [records[i] for i in chosen]


WALK = 2000  # index entries of one state walked in deadline order before reading by unit


def _first(conn: Connection, person_id: str, waits: Sequence[tuple[str, str]],
           paths: Sequence[str], dated: bool, limit: int) -> list[tuple[Any, int]]:
    """(due_at, id) of the first `limit` distinct candidates with (or without) a deadline."""
    items = ITEMS.c
    has_due = items.due_at.is_not(None) if dated else items.due_at.is_(None)
    order = (items.due_at, items.id) if dated else (items.id,)

    def first(n: int, *conds: Any, path: bool = False) -> Any:
        # the unit path only where it is tested: the person's own index does not hold it
        columns = (items.due_at, items.id, items.unit_path) if path else (items.due_at, items.id)
        return select(*columns).where(items.final == false(), has_due, *conds) \
            .order_by(*order).limit(n).subquery()

    def under(column: Any) -> Any:
        return or_(*[column.startswith(path, autoescape=True) for path in paths])

    mine = first(limit, items.assignee_id == person_id)
    parts = [select(literal(-1), mine.c.due_at, mine.c.id)]
    for n, (workflow, state) in enumerate(waits):
        walked = first(WALK, items.workflow == workflow, items.state == state, path=True)
        kept = select(walked.c.due_at, walked.c.id).where(under(walked.c.unit_path)) \
            .limit(limit).subquery()
        parts.append(select(literal(n), kept.c.due_at, kept.c.id))
    found = list(conn.execute(union_all(*parts)))
    short = [n for n in range(len(waits)) if sum(r[0] == n for r in found) < limit]
    if short:  # from the units: `|| ''` so that no index on workflow and state is taken
        units = select(UNITS.c.path).where(under(UNITS.c.path)).scalar_subquery()
        found += conn.execute(union_all(*[
            select(literal(n), sub.c.due_at, sub.c.id) for sub in (
                first(limit, items.workflow.concat("") == waits[n][0],
                      items.state.concat("") == waits[n][1], items.unit_path.in_(units))
                for n in short)]))
    pairs = {item_id: due for _, due, item_id in found}  # an id in two lists: once
    return sorted(((due, item_id) for item_id, due in pairs.items()),
                  key=lambda pair: (pair[0] or _UNDATED, pair[1]))[:limit]


_UNDATED = datetime.max.replace(tzinfo=UTC)  # a sort key: `dated` holds all or none of them


class UnitFigures(NamedTuple):
    """A board's figures for the items at one unit path."""

    unit_path: str
    open: int
    no_deadline: int
    red: int
    yellow: int
    closed: int  # reached a final state at or after `since`

    @property
    def green(self) -> int:
        return self.open - self.no_deadline - self.red - self.yellow


def unit_figures(conn: Connection, unit_path: str, now: datetime, since: datetime,
                 yellow_until: Mapping[tuple[int, str], datetime]) -> list[UnitFigures]:
    """Per unit path under `unit_path`: open items, those without a deadline, red (past it),
    yellow (deadline between now and the boundary of their (workflow version, state) in
    `yellow_until`), and those closed since `since`. No item row travels to Python: a county
    of 100,000 items comes back as a few rows per unit.

    Each figure is a count over an index range, per unit path (`unit_path IN` the units
    under it, so both databases seek instead of testing a LIKE on every row). No deadline,
    past it and not yet past it are three ranges of ix_items_open (unit_path, due_at) that
    together hold each open item once, so their sum is the open count and no item is read
    twice; yellow reads only the window up to the latest boundary; closed this week reads
    ix_items_closed_path from `since`. One CASE per row over every item under the unit, as
    before, cost 3-4x at 100,000 items."""
    items = ITEMS.c
    paths = select(UNITS.c.path).where(UNITS.c.path.startswith(unit_path, autoescape=True))
    under = [items.final == false(), items.unit_path.in_(paths.scalar_subquery())]
    # By ix_items_closed_path from `since`: a LIKE, not `IN` the units, and grouped by an
    # expression, or SQLite walks every item under the unit in path order.
    closed = items.unit_path.concat("")
    parts = [*light_ranges(under, now, yellow_case(yellow_until),
                           max(yellow_until.values()) if yellow_until else None),
             select(literal("closed"), closed, func.count())
             .where(items.closed_at >= bindparam(None, since, type_=UTCDateTime),
                    items.final == true(), items.unit_path.startswith(unit_path, autoescape=True))
             .group_by(closed)]
    found: dict[str, dict[str, int]] = {}
    for kind, path, n in conn.execute(union_all(*parts)):
        found.setdefault(path, {})[kind] = n
    return [UnitFigures(path, f.get("none", 0) + f.get("red", 0) + f.get("ahead", 0),
                        f.get("none", 0), f.get("red", 0), f.get("yellow", 0),
                        f.get("closed", 0))
            for path, f in sorted(found.items())]


def child_units(conn: Connection, unit_id: str) -> list[tuple[str, str, str]]:
    """(id, name, path) of the unit's direct children, in path order."""
    rows = conn.execute(select(UNITS.c.id, UNITS.c.name, UNITS.c.path)
                        .where(UNITS.c.parent_id == unit_id).order_by(UNITS.c.path))
    return [(r.id, r.name, r.path) for r in rows]


def attachments_of(conn: Connection, item_id: int) -> list[Attachment]:
    rows = conn.execute(select(*_ATTACHMENT_COLUMNS).where(ATTACHMENTS.c.item_id == item_id)
                        .order_by(ATTACHMENTS.c.id))
    return [Attachment(*r) for r in rows]


def attachment(conn: Connection, item_id: int, sha256: str) -> Attachment | None:
    """The item's attachment with this digest: the only way a request reaches a stored file."""
    row = conn.execute(select(*_ATTACHMENT_COLUMNS)
                       .where(ATTACHMENTS.c.item_id == item_id, ATTACHMENTS.c.sha256 == sha256)
                       .order_by(ATTACHMENTS.c.id).limit(1)).first()
    return Attachment(*row) if row else None


def other_uses(conn: Connection, item_id: int,
               digests: Iterable[str]) -> dict[str, list[tuple[int, str]]]:
    """For each digest, the other items (id, unit path) holding the same file as evidence:
    the store is content-addressed, so a reused photo is one indexed lookup."""
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    rows = conn.execute(
        select(ATTACHMENTS.c.sha256, ITEMS.c.id, ITEMS.c.unit_path).distinct()
        .join(ITEMS, ITEMS.c.id == ATTACHMENTS.c.item_id)
        .where(ATTACHMENTS.c.sha256.in_(wanted), ATTACHMENTS.c.item_id != item_id)
        .order_by(ITEMS.c.id))
    found: dict[str, list[tuple[int, str]]] = {}
    for sha, other, path in rows:
        found.setdefault(sha, []).append((other, path))
    return found


_ATTACHMENT_COLUMNS = (ATTACHMENTS.c.item_id, ATTACHMENTS.c.sha256, ATTACHMENTS.c.name,
                       ATTACHMENTS.c.size, ATTACHMENTS.c.field, ATTACHMENTS.c.added_at)


def version_ids(conn: Connection) -> list[int]:
    return [r[0] for r in conn.execute(select(WORKFLOW_VERSIONS.c.id).order_by(
        WORKFLOW_VERSIONS.c.id))]


def units_with_children(conn: Connection, unit_ids: Sequence[str]) -> set[str]:
    if not unit_ids:
        return set()
    rows = conn.execute(select(UNITS.c.parent_id).distinct()
                        .where(UNITS.c.parent_id.in_(list(unit_ids))))
    return {r[0] for r in rows}


def open_items_at(conn: Connection, unit_id: str, limit: int) -> list[store.ItemRecord]:
    """Open items of exactly this unit, nearest deadline first."""
    query = (store.select_items().where(ITEMS.c.final.is_(False), ITEMS.c.unit_id == unit_id)
             .order_by(ITEMS.c.due_at.is_(None), ITEMS.c.due_at, ITEMS.c.id).limit(limit))
    return [store.to_record(r) for r in conn.execute(query)]
