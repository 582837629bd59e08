"""What staff and reports read of items: filtered lists in keyset pages, counts, who accepted
what, what a digest or a deadline recompute walks through. Every list is read in id order, a
page at a time (`after` the last id seen), so memory is bounded by the page, not the match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, case, false, func, null, or_, select

from . import repo
from .items import HISTORY, ITEMS, ItemRecord, select_items, to_record
from .models import ESCALATION_STEPS, UNITS
from .prepared import Prepared


@dataclass(frozen=True)
class ItemFilter:
    """Which items a list, an export or a bulk action takes (None/False: any)."""

    state: str | None = None
    unit: str | None = None
    assignee: str | None = None
    workflow: str | None = None
    overdue: bool = False
    # Only items under these unit paths (what a person may see, engine/app/access.py);
    # None: no such limit (the CLI).
    within: tuple[str, ...] | None = None


def _filtered(conn: Connection, f: ItemFilter, now: datetime, query: Any = None, *,
              prepared: bool = False) -> Any:
    """SELECT of the item columns (or `query`), narrowed by the filters (the caller orders and
    pages). Each filter is one an index answers: state, workflow (with state), assignee, the
    deadline, the unit."""
    conds = []
    if f.state:
        conds.append(ITEMS.c.state == f.state)
    if f.workflow and f.state:
        conds.append(ITEMS.c.workflow == f.workflow)  # with state: (workflow, state), id order
    elif f.workflow:
        # Alone, the index on (workflow, state) gives items out of id order, and a workflow is
        # most of the items: each page would gather and sort all the rest. Scan by id instead.
        conds.append(ITEMS.c.workflow.concat("") == f.workflow)
    if f.assignee:
        conds.append(ITEMS.c.assignee_id == f.assignee)
    if f.unit:
        conds += _in_subtrees(conn, (repo.unit(conn, f.unit).path,), prepared)
    if f.overdue:
        conds.append(and_(ITEMS.c.due_at < now, ITEMS.c.final.is_(False)))
    if f.within is not None:  # none at all (no grants): nothing matches
        conds += _in_subtrees(conn, f.within, prepared)
    query = select_items() if query is None else query
    return query.where(and_(*conds)) if conds else query


# A subtree with at least this share of all units is read by scanning in id order: through the
# unit index, each keyset page would gather and sort every remaining match of its many units.
WIDE_SUBTREE = 0.25


def _in_subtrees(conn: Connection, paths: tuple[str, ...], prepared: bool = False) -> list[Any]:
    """Items at the units with these paths or below, as a condition on `unit_id` (indexed: one
    range per unit, in id order within each), not a LIKE on `unit_path` (which SQLite's
    case-insensitive LIKE cannot take to an index, so it read the whole table). A statement
    compiled once for many runs (`prepared`: a bulk action's batches, which scan in id order
    anyway) takes the path prefix instead: an IN list would be an expanding bind."""
    if prepared:
        return [or_(false(), *(ITEMS.c.unit_path.startswith(p, autoescape=True) for p in paths))]
    units = conn.execute(select(UNITS.c.id, UNITS.c.path)).all()
    below = [u.id for u in units if u.path.startswith(paths)]
    if not below:
        return [false()]
    if len(below) == len(units):
        return []  # the whole tree
    if len(below) < WIDE_SUBTREE * len(units):
        return [ITEMS.c.unit_id.in_(below)]
    # `unit_id || ''` is the same test that no index answers: the planner scans by id.
    return [ITEMS.c.unit_id.concat("").in_(below)]


class ListRow(NamedTuple):
    """What a line of `item list` shows."""

    id: int
    workflow: str
    workflow_version_id: int
    state: str
    unit_id: str
    assignee_id: str | None
    due_at: datetime | None
    subject: str | None
    description: Any


_LIST_COLUMNS = (ITEMS.c.id, ITEMS.c.workflow, ITEMS.c.workflow_version_id, ITEMS.c.state,
                 ITEMS.c.unit_id, ITEMS.c.assignee_id, ITEMS.c.due_at, ITEMS.c.subject)


def list_page(conn: Connection, f: ItemFilter, now: datetime, *, after: int, limit: int,
              headlines: Mapping[int, str] | None = None) -> list[ListRow]:
    """The next `limit` matching items with id > `after`, in id order, as list lines.
    `headlines`: the field each workflow version shows on a line (by version id), taken out
    by the database: the rest of the fields is never parsed."""
    by_version = {v: ITEMS.c.fields[name] for v, name in (headlines or {}).items()}
    shown = (case(by_version, value=ITEMS.c.workflow_version_id) if by_version
             else null())
    query = _filtered(conn, f, now, select(*_LIST_COLUMNS, shown)).where(ITEMS.c.id > after)
    return [ListRow(*r) for r in conn.execute(query.order_by(ITEMS.c.id).limit(limit)).all()]


def items_page(conn: Connection, f: ItemFilter, now: datetime, *, after: int,
               limit: int) -> list[ItemRecord]:
    """The next `limit` matching items with id > `after`, in id order."""
    query = _filtered(conn, f, now).where(ITEMS.c.id > after)
    return [to_record(r) for r in conn.execute(query.order_by(ITEMS.c.id).limit(limit))]


def matching_ids(conn: Connection, f: ItemFilter, now: datetime) -> list[int]:
    """The ids of every matching item, ascending (a sample's candidates)."""
    query = _filtered(conn, f, now).with_only_columns(ITEMS.c.id).order_by(ITEMS.c.id)
    return list(conn.execute(query).scalars())


def count_items(conn: Connection, f: ItemFilter, now: datetime, *, after: int = 0) -> int:
    """How many items match, of those with id > `after`."""
    query = _filtered(conn, f, now).where(ITEMS.c.id > after).subquery()
    return int(conn.execute(select(func.count()).select_from(query)).scalar_one())


class Matching:
    """A bulk action's items, batch by batch: the next `batch` matching items after an id, in
    id order, locked as they are read on PostgreSQL (SQLite's BEGIN IMMEDIATE already holds
    the database). Built once per action: one statement prepared for every batch."""

    def __init__(self, conn: Connection, f: ItemFilter, now: datetime, batch: int,
                 lock: bool) -> None:
        query = (_filtered(conn, f, now, prepared=True).where(ITEMS.c.id > bindparam("after"))
                 .order_by(ITEMS.c.id).limit(batch))
        self._next = Prepared(query.with_for_update(of=ITEMS) if lock else query)

    def after(self, conn: Connection, after: int) -> list[ItemRecord]:
        return self._next.rows(conn, {"after": after}, ItemRecord._make)


def accepted_by(conn: Connection, ids: list[int], trigger: str) -> dict[int, str]:
    """Who last fired `trigger` on each of the items (the 验收人, for `accept`)."""
    if not ids:
        return {}
    rows = conn.execute(select(HISTORY.c.item_id, HISTORY.c.actor).where(and_(
        HISTORY.c.item_id.in_(ids), HISTORY.c.kind == "transition",
        HISTORY.c.trigger == trigger)).order_by(HISTORY.c.item_id, HISTORY.c.seq))
    return {r.item_id: r.actor for r in rows}


def versions_of(conn: Connection, ids: Iterable[int]) -> dict[int, int]:
    """Each item's workflow version, by item id (ids without an item are left out)."""
    wanted = sorted(set(ids))
    return {i: v for i, v in conn.execute(select(ITEMS.c.id, ITEMS.c.workflow_version_id)
                                          .where(ITEMS.c.id.in_(wanted)))} if wanted else {}


def versions_with_items(conn: Connection) -> list[int]:
    """The workflow versions some item is on, ascending."""
    return sorted(conn.execute(select(ITEMS.c.workflow_version_id).distinct()).scalars())


def open_assigned(conn: Connection, *, after: int, limit: int) -> list[ItemRecord]:
    """Open items with an assignee, in id order after `after` (a digest's walk)."""
    return [to_record(r) for r in conn.execute(select_items().where(and_(
        ITEMS.c.final.is_(False), ITEMS.c.assignee_id.is_not(None), ITEMS.c.id > after))
        .order_by(ITEMS.c.id).limit(limit))]


def assigned_since(conn: Connection, ids: Iterable[int], since: datetime) -> set[int]:
    """Which of the items were assigned (an `assign` event or transition) at `since` or later."""
    ids = list(ids)
    if not ids:
        return set()
    query = select(HISTORY.c.item_id).where(and_(
        HISTORY.c.item_id.in_(ids), HISTORY.c.at >= since,
        (HISTORY.c.kind == "assign") | (HISTORY.c.trigger == "assign")))
    return {r.item_id for r in conn.execute(query)}


def provisional_items(conn: Connection, *, after: int, limit: int) -> list[ItemRecord]:
    """Items whose deadline was computed without calendar data (and is not their own), in id
    order after `after`; locked on PostgreSQL, as their recompute writes them."""
    return [to_record(r) for r in conn.execute(select_items().where(and_(
        ITEMS.c.due_provisional.is_(True), ITEMS.c.due_override.is_(False), ITEMS.c.id > after))
        .order_by(ITEMS.c.id).limit(limit).with_for_update(of=ITEMS))]


def steps_due(conn: Connection, now: datetime) -> int:
    """Pending escalation steps due at `now` (a step leaves the pending index, due_at NULL,
    once applied or cancelled)."""
    steps = ESCALATION_STEPS
    return int(conn.execute(select(func.count()).select_from(steps)
                            .where(steps.c.due_at <= now)).scalar_one())
