"""Escalation steps as a sweep sees them: claiming the due ones, putting one back, cancelling
the stale ones, and listing what is due without claiming it (a dry run).

A step is claimed by flipping its status from pending to applied — a conditional UPDATE that
only one sweeper can win — in the same transaction as the events it causes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, select, update

from .items import ItemRecord, select_items
from .models import ESCALATION_STEPS as STEPS
from .models import ITEMS
from .prepared import Prepared, PreparedIn


class Head(NamedTuple):
    """What a batch of events needs of an item: its chain head, and what notices are made of.
    A plain tuple: a sweep reads each of these a dozen times, and a Row's attribute access
    costs ~0.5 µs, a NamedTuple's a tenth of that."""

    id: int
    workflow_version_id: int
    state: str
    entry_no: int
    version: int
    last_seq: int
    last_hash: str
    unit_id: str
    unit_path: str
    subject: str | None
    assignee_id: str | None
    creator_id: str
    fields: dict[str, Any]
    due_at: datetime | None


_GET_HEADS = PreparedIn(lambda ids: select(*[ITEMS.c[c] for c in Head._fields])
                       .where(ITEMS.c.id.in_(ids)))


def get_heads(conn: Connection, ids: set[int]) -> dict[int, Head]:
    """The rows a sweep's events work from (its claimed steps' items), by item id."""
    return {head.id: head for head in _GET_HEADS.rows(conn, sorted(ids), Head._make)}


_GET_RECORDS = PreparedIn(lambda ids: select_items().where(ITEMS.c.id.in_(ids)))


def get_records(conn: Connection, ids: set[int]) -> dict[int, ItemRecord]:
    """Whole items, by id: those whose step fires a transition (one read for a batch)."""
    return {item.id: item for item in _GET_RECORDS.rows(conn, sorted(ids), ItemRecord._make)}


class Claimed(NamedTuple):
    """A step this sweep has claimed (a plain tuple: each is read many times)."""

    id: int
    item_id: int
    entry_no: int
    step_index: int
    state: str
    planned_at: datetime
    late: bool


def _claim_statement(postgresql: bool) -> Prepared:
    """Flip up to :batch due steps from pending to applied in one statement: the claim.

    Only one sweeper can flip a row; on PostgreSQL the others skip rows already locked, on
    SQLite they wait for the single writer. `late` is decided here, once.
    """
    due = (select(STEPS.c.id).where(and_(STEPS.c.due_at <= bindparam("now"),
                                         STEPS.c.status == "pending"))
           .order_by(STEPS.c.due_at).limit(bindparam("batch")))
    if postgresql:
        # Lock the steps and their items without waiting: a person advancing an item holds its
        # row, so its step waits for the next sweep, and neither side can deadlock the other.
        due = (due.join(ITEMS, ITEMS.c.id == STEPS.c.item_id)
               .with_for_update(skip_locked=True, of=[STEPS, ITEMS]))
    return Prepared(
        update(STEPS).where(STEPS.c.id.in_(due.scalar_subquery()))
        .values(status="applied", applied_at=bindparam("now"), due_at=None,
                late=STEPS.c.planned_at < bindparam("late_before"))
        .returning(*[STEPS.c[name] for name in Claimed._fields]))


_CLAIM = {"sqlite": _claim_statement(False), "postgresql": _claim_statement(True)}


def claim_due(conn: Connection, now: datetime, late_before: datetime,
              batch: int) -> list[Claimed]:
    """Up to `batch` steps due at `now`, claimed; those planned before `late_before` are late."""
    return _CLAIM[conn.dialect.name].rows(conn, {"now": now, "late_before": late_before,
                                                 "batch": batch}, Claimed._make)


_UNCLAIM = Prepared(update(STEPS).where(STEPS.c.id == bindparam("_step"))
                    .values(status="pending", applied_at=None, due_at=bindparam("due_at")))


def unclaim(conn: Connection, step: Claimed) -> None:
    """Put a claimed step back, due as planned: its item could not take it (the next sweep
    tries again)."""
    _UNCLAIM.run(conn, {"_step": step.id, "due_at": step.planned_at})


_CANCEL = Prepared(update(STEPS).where(STEPS.c.id == bindparam("_step"))
                   .values(status="cancelled", due_at=None))


def cancel(conn: Connection, step_ids: Sequence[int]) -> None:
    """Cancel claimed steps that no longer apply (their item left the state entry)."""
    if step_ids:
        _CANCEL.run_many(conn, [{"_step": i} for i in step_ids])


def pending_due(conn: Connection, now: datetime, batch: int) -> Iterator[Sequence[Any]]:
    """The steps due at `now` and not applied, unclaimed, in (due, id) order: keyset pages of
    `batch` rows (a dry run reads what a sweep would claim)."""
    last: tuple[datetime, int] | None = None
    while True:
        query = (select(STEPS).where(and_(STEPS.c.due_at <= now, STEPS.c.status == "pending"))
                 .order_by(STEPS.c.due_at, STEPS.c.id).limit(batch))
        if last:
            query = query.where((STEPS.c.due_at > last[0])
                                | and_(STEPS.c.due_at == last[0], STEPS.c.id > last[1]))
        rows = conn.execute(query).all()
        yield rows
        if len(rows) < batch:
            return
        last = (rows[-1].due_at, rows[-1].id)
