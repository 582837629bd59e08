"""One sweep at `now`: apply every escalation step that has come due, exactly once.

Steps are rows (`escalation_steps`), found through the index on `due_at` in batches; each batch
is one transaction. A step is claimed by flipping its status from pending to applied — a
conditional UPDATE that only one sweeper can win — in the same transaction as its history row,
its outbox rows and any transition it fires. A crash loses at most the open batch, which the
next sweep redoes; PostgreSQL sweepers skip rows another holds (SKIP LOCKED); SQLite has one
writer at a time (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, select, update

from ..core.audit import isoformat
from ..core.errors import Conflict, Refused
from ..core.spec import EscalationStep, WorkflowSpec
from ..store import collector, repo
from ..store import items as store
from ..store.db import read, write
from ..store.outbox import enqueue
from ..store.prepared import Prepared
from .service import Service

BATCH = 500
LATE_AFTER = timedelta(hours=1)
STEPS = store.STEPS


@dataclass
class SweepReport:
    escalations: list[dict[str, Any]] = field(default_factory=list)
    fired: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"escalations": self.escalations, "fired": self.fired, "errors": self.errors}


def sweep(service: Service, *, dry_run: bool = False, batch: int = BATCH,
          late_after: timedelta = LATE_AFTER,
          progress: Callable[[int], None] | None = None,
          should_stop: Callable[[], bool] = lambda: False) -> SweepReport:
    now = service.clock.now()
    report = SweepReport()
    if dry_run:
        return _preview(service, now, report, batch)
    while True:
        try:
            with write(service.engine) as conn, collector.paused():
                claimed = _claim(conn, now, now - late_after, batch)
                _apply_batch(service, conn, claimed, now, report)
        except _ItemMoved:
            # An item changed between our read and our write (PostgreSQL, a person advancing
            # it): the batch rolled back whole; redo it one step at a time, each in a savepoint.
            with write(service.engine) as conn:
                claimed = _claim(conn, now, now - late_after, batch)
                for row in _in_order(claimed):
                    _apply_one(service, conn, row, now, report)
        if progress:
            progress(len(claimed))
        if len(claimed) < batch or should_stop():
            return report


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
        due = (due.join(store.ITEMS, store.ITEMS.c.id == STEPS.c.item_id)
               .with_for_update(skip_locked=True, of=[STEPS, store.ITEMS]))
    return Prepared(
        update(STEPS).where(STEPS.c.id.in_(due.scalar_subquery()))
        .values(status="applied", applied_at=bindparam("now"), due_at=None,
                late=STEPS.c.planned_at < bindparam("late_before"))
        .returning(*[STEPS.c[name] for name in Claimed._fields]))


_CLAIM = {"sqlite": _claim_statement(False), "postgresql": _claim_statement(True)}


def _claim(conn: Connection, now: datetime, late_before: datetime,
           batch: int) -> list[Claimed]:
    return _CLAIM[conn.dialect.name].rows(conn, {"now": now, "late_before": late_before,
                                                 "batch": batch}, Claimed._make)


_ORDER = attrgetter("item_id", "entry_no", "step_index")


def _in_order(claimed: Sequence[Any]) -> list[Any]:
    return sorted(claimed, key=_ORDER)


class _ItemMoved(Exception):
    """The batch's optimistic write missed an item: roll back and take the careful path."""


def _apply_batch(service: Service, conn: Connection, claimed: Sequence[Any], now: datetime,
                 report: SweepReport) -> None:
    """Apply claimed steps set-wise: one read of their items, then one executemany each for
    history, items, stale steps and outbox. Items whose step fires a transition take the
    one-at-a-time path, as a transition needs the full machinery."""
    if not claimed:
        return
    items = store.get_heads(conn, {r.item_id for r in claimed})
    directory = repo.Directory(conn)
    batch = store.EventBatch()
    careful: list[Any] = []
    stale: list[int] = []
    applied: list[dict[str, Any]] = []  # reported only once written: a rolled-back batch is redone
    rungs: dict[tuple[Any, ...], _Rung] = {}
    for row in _in_order(claimed):
        item = items[row.item_id]
        if item.entry_no != row.entry_no or item.state != row.state:
            stale.append(row.id)
            continue
        key = (item.workflow_version_id, row.state, row.step_index, row.planned_at, row.late)
        rung = rungs.get(key)
        if rung is None:
            rung = rungs[key] = _rung(service, conn, item, row, now)
        if rung.step.fire or (careful and careful[-1].item_id == row.item_id):
            careful.append(row)  # rows are in item order: the item's later steps follow it
            continue
        batch.add(item, rung.entry,
                  _notices(service, directory, rung.spec, item, rung.step, row, now))
        applied.append({"item": item.id, **rung.reported})
    if not batch.apply(conn):
        raise _ItemMoved
    report.escalations.extend(applied)
    store.cancel_steps(conn, stale)
    for row in careful:
        _apply_one(service, conn, row, now, report)


class _Rung(NamedTuple):
    """One ladder step applied at `now`, whichever item it is on: a batch's steps are mostly
    the same few (one deadline, one rung), so each is looked up and described once."""

    spec: WorkflowSpec
    step: EscalationStep
    entry: store.HistoryEntry
    reported: dict[str, Any]  # its line in the report, but for the item


def _rung(service: Service, conn: Connection, item: Any, row: Any, now: datetime) -> _Rung:
    spec = service.compiled(conn, item.workflow_version_id).spec
    step = spec.states[row.state].escalate[row.step_index]
    return _Rung(spec, step, _escalation(spec, item, step, row, now), _report_line(row, step))


def _apply_one(service: Service, conn: Connection, row: Any, now: datetime,
               report: SweepReport) -> None:
    """Apply one claimed step inside a savepoint; a failure leaves it for the next sweep."""
    try:
        with conn.begin_nested():
            _apply(service, conn, row, now, report)
    except Conflict as exc:
        report.errors.append({"item": row.item_id, "step": row.step_index, "error": str(exc)})
        conn.execute(update(STEPS).where(STEPS.c.id == row.id)
                     .values(status="pending", applied_at=None, due_at=row.planned_at))


def _apply(service: Service, conn: Connection, row: Any, now: datetime,
           report: SweepReport) -> None:
    item = store.get_item(conn, row.item_id)
    if item.entry_no != row.entry_no or item.state != row.state:
        store.cancel_steps(conn, [row.id])
        return
    spec = service.compiled(conn, item.workflow_version_id).spec
    step = spec.states[row.state].escalate[row.step_index]
    directory = repo.Directory(conn)
    entry = _escalation(spec, item, step, row, now)
    if step.fire:
        # The step's notice tells where the item went (公示期满 → 乡镇审核), so it is made
        # after the transition it fires.
        store.apply_write(conn, store.ItemWrite(item=item, values={}, history=entry))
        _fire(service, conn, item.id, step, bool(row.late), report)
        moved = store.get_item(conn, item.id)
        enqueue(conn, _notices(service, directory, spec, moved, step, row, now))
    else:
        store.apply_write(conn, store.ItemWrite(
            item=item, values={}, history=entry,
            outbox=_notices(service, directory, spec, item, step, row, now)))
    report.escalations.append(_reported(item.id, row, step))


def _escalation(spec: WorkflowSpec, item: Any, step: EscalationStep, row: Any,
                now: datetime) -> store.HistoryEntry:
    """The history entry of one applied step."""
    late = bool(row.late)
    data = {"step": step.index, "level": step.level, "action": step.action,
            "planned_at": isoformat(row.planned_at), "late": late,
            "notify": list(step.notify)}
    return store.HistoryEntry(kind="escalation", actor="system", at=now,
                              trigger=f"escalate:{step.level or step.action}",
                              source=item.state, dest=item.state, data=data,
                              comment=_late_note(row.planned_at, now, spec) if late else None,
                              via="system")


def _notices(service: Service, directory: repo.Directory, spec: WorkflowSpec, item: Any,
             step: EscalationStep, row: Any, now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of one applied step (the lookups cached in `directory`)."""
    return service.notices.for_step(directory, spec, item, step, row.entry_no, bool(row.late),
                                    now, row.planned_at)


def _reported(item_id: int, row: Any, step: EscalationStep) -> dict[str, Any]:
    return {"item": item_id, **_report_line(row, step)}


def _report_line(row: Any, step: EscalationStep) -> dict[str, Any]:
    return {"state": row.state, "step": row.step_index, "action": step.action,
            "level": step.level, "late": bool(row.late)}


def _late_note(planned: datetime, now: datetime, spec: WorkflowSpec) -> str:
    from zoneinfo import ZoneInfo

    local = planned.astimezone(ZoneInfo(spec.timezone)).strftime("%Y-%m-%d %H:%M")
    return f"applied late: was due {local}"


def _fire(service: Service, conn: Connection, item_id: int, step: EscalationStep, late: bool,
          report: SweepReport) -> None:
    item = store.get_item(conn, item_id)
    level = step.level or "escalation"
    try:
        outcome = service.fire_as_system(conn, item, step.fire or "",
                                         f"系统自动：{level}" + ("（补办）" if late else ""))
    except Refused as exc:
        report.errors.append({"item": item_id, "trigger": step.fire, "error": str(exc)})
        return
    report.fired.append({"item": item_id, "trigger": step.fire, "dest": outcome.dest})


def _preview(service: Service, now: datetime, report: SweepReport, batch: int) -> SweepReport:
    """What a sweep would do, reading only."""
    last: tuple[datetime, int] | None = None
    with read(service.engine) as conn:
        while True:
            query = (select(STEPS).where(and_(STEPS.c.due_at <= now,
                                              STEPS.c.status == "pending"))
                     .order_by(STEPS.c.due_at, STEPS.c.id).limit(batch))
            if last:
                query = query.where((STEPS.c.due_at > last[0])
                                    | and_(STEPS.c.due_at == last[0], STEPS.c.id > last[1]))
            rows = conn.execute(query).all()
            for row in rows:
                _preview_one(service, conn, row, report)
            if len(rows) < batch:
                return report
            last = (rows[-1].due_at, rows[-1].id)


def _preview_one(service: Service, conn: Connection, row: Any, report: SweepReport) -> None:
    item = store.get_item(conn, row.item_id)
    spec = service.compiled(conn, item.workflow_version_id).spec
    if item.entry_no != row.entry_no or item.state != row.state:
        return
    step = spec.states[row.state].escalate[row.step_index]
    report.escalations.append({"item": item.id, "state": row.state, "step": row.step_index,
                               "action": step.action, "level": step.level})
    if step.fire:
        report.fired.append({"item": item.id, "trigger": step.fire})
