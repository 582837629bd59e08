"""One sweep at `now`: apply every escalation step that has come due, exactly once.

Steps are rows (`escalation_steps`), found through the index on `due_at` in batches; each batch
is one transaction. A step is claimed by flipping its status from pending to applied — a
conditional UPDATE that only one sweeper can win — in the same transaction as its history row,
its outbox rows and any transition it fires. A crash loses at most the open batch, which the
next sweep redoes; PostgreSQL sweepers skip rows another holds (SKIP LOCKED); SQLite has one
writer at a time (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select, update

from .errors import Conflict, Refused
from .service import Service
from .spec import EscalationStep, WorkflowSpec
from .store import items as store
from .store.db import read, write

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
        with write(service.engine) as conn:
            rows = _claimable(conn, now, batch)
            for row in rows:
                _apply_one(service, conn, row, now, late_after, report)
        if progress:
            progress(len(rows))
        if len(rows) < batch or should_stop():
            return report


def _claimable(conn: Connection, now: datetime, batch: int) -> list[Any]:
    query = (select(STEPS).where(and_(STEPS.c.due_at <= now, STEPS.c.status == "pending"))
             .order_by(STEPS.c.due_at, STEPS.c.item_id, STEPS.c.step_index).limit(batch))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).all())


def _apply_one(service: Service, conn: Connection, row: Any, now: datetime,
               late_after: timedelta, report: SweepReport) -> None:
    """Claim and apply one step inside a savepoint; a failure leaves it for the next sweep."""
    try:
        with conn.begin_nested():
            _apply(service, conn, row, now, late_after, report)
    except Conflict as exc:
        report.errors.append({"item": row.item_id, "step": row.step_index, "error": str(exc)})


def _apply(service: Service, conn: Connection, row: Any, now: datetime,
           late_after: timedelta, report: SweepReport) -> None:
    late = now - row.planned_at > late_after
    claimed = conn.execute(update(STEPS).where(and_(STEPS.c.id == row.id,
                                                    STEPS.c.status == "pending"))
                           .values(status="applied", applied_at=now, due_at=None,
                                   late=late)).rowcount
    if not claimed:
        return  # another sweeper, or a transition that cancelled it, got there first
    item = store.get_item(conn, row.item_id)
    compiled = service.compiled(conn, item.workflow_version_id)
    spec = compiled.spec
    if item.entry_no != row.entry_no or item.state != row.state:
        conn.execute(update(STEPS).where(STEPS.c.id == row.id).values(status="cancelled"))
        return
    step = spec.states[row.state].escalate[row.step_index]
    _record(service, conn, spec, item, step, row, now, late)
    report.escalations.append({"item": item.id, "state": row.state, "step": row.step_index,
                               "action": step.action, "level": step.level, "late": late})
    if step.fire:
        _fire(service, conn, item.id, step, late, report)


def _record(service: Service, conn: Connection, spec: WorkflowSpec, item: store.ItemRecord,
            step: EscalationStep, row: Any, now: datetime, late: bool) -> None:
    data = {"step": step.index, "level": step.level, "action": step.action,
            "planned_at": row.planned_at.isoformat(), "late": late,
            "notify": list(step.notify)}
    entry = store.HistoryEntry(kind="escalation", actor="system", at=now,
                               trigger=f"escalate:{step.level or step.action}",
                               source=item.state, dest=item.state, data=data,
                               comment=_late_note(row.planned_at, now, spec) if late else None)
    outbox = service.notices.for_step(conn, spec, item, step, row.entry_no, late, now)
    store.apply_write(conn, store.ItemWrite(item=item, values={}, history=entry, outbox=outbox))


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
                                         f"自动{level}: 逾期未办" if not late else
                                         f"自动{level} (补办)")
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
