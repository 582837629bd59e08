"""One sweep at `now`: apply every escalation step that has come due, exactly once.

Steps are rows (`escalation_steps`), found through the index on `due_at` in batches; each batch
is one transaction. A step is claimed by flipping its status from pending to applied — a
conditional UPDATE that only one sweeper can win (store.steps) — in the same transaction as its
history row, its outbox rows and any transition it fires. A crash loses at most the open batch,
which the next sweep redoes; PostgreSQL sweepers skip rows another holds (SKIP LOCKED); SQLite
has one writer at a time (BEGIN IMMEDIATE).

What a claimed step is and what it writes is decided in one place (`_rung`, `_step_events`,
`_Firing` for a step that fires a transition), whichever path takes it: the batch (set-wise:
most steps, and a fire that is its item's only claimed step), the careful path (one step at a
time in a savepoint: an item with a fire among several claimed steps, and a batch that met a
concurrent change), and the dry run, which reads what is due without claiming it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from ..core.audit import isoformat
from ..core.errors import Conflict, Refused
from ..core.i18n import _, in_language
from ..core.machine import Outcome
from ..core.spec import EscalationStep, WorkflowSpec
from ..store import items as store
from ..store import steps
from ..store.db import Connection, read, write
from ..store.db import batch as transaction
from . import lookups
from .service import Compiled, Service

if TYPE_CHECKING:
    from ...notifications.notices import Wanted

BATCH = 500
LATE_AFTER = timedelta(hours=1)


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
    now = service.clock.now()  # the one time of the whole sweep: its events and transitions
    report = SweepReport()
    if dry_run:
        return _preview(service, now, report, batch)
    while True:
        try:
            with transaction(service.engine) as conn:
                claimed = steps.claim_due(conn, now, now - late_after, batch)
                _apply_batch(service, conn, claimed, now, report)
        except _ItemMoved:
            # An item changed between our read and our write (PostgreSQL, a person advancing
            # it): the batch rolled back whole; redo it one step at a time, each in a savepoint.
            with write(service.engine) as conn:
                claimed = steps.claim_due(conn, now, now - late_after, batch)
                for row in _in_order(claimed):
                    _apply_one(service, conn, row, now, report)
        if progress:
            progress(len(claimed))
        if len(claimed) < batch or should_stop():
            return report


_ORDER = attrgetter("item_id", "entry_no", "step_index")


def _in_order(claimed: Sequence[Any]) -> list[Any]:
    return sorted(claimed, key=_ORDER)


class _ItemMoved(Exception):
    """The batch's optimistic write missed an item: roll back and take the careful path."""


class _Rung(NamedTuple):
    """One ladder step applied at `now`, whichever item it is on: a batch's steps are mostly
    the same few (one deadline, one rung), so each is looked up and described once."""

    spec: WorkflowSpec
    step: EscalationStep
    entry: store.HistoryEntry
    reported: dict[str, Any]  # its line in the report, but for the item


def _rung(service: Service, conn: Connection, item: Any, row: Any, now: datetime,
          rungs: dict[tuple[Any, ...], _Rung]) -> _Rung | None:
    """What the step `row` is on `item`, applied at `now`; None if it no longer applies (the
    item has left the state entry it was planned for). Every path decides a step here."""
    if item.entry_no != row.entry_no or item.state != row.state:
        return None
    key = (item.workflow_version_id, row.state, row.step_index, row.planned_at, row.late)
    found = rungs.get(key)
    if found is None:
        spec = service.compiled(conn, item.workflow_version_id).spec
        step = spec.states[row.state].escalate[row.step_index]
        found = rungs[key] = _Rung(spec, step, _escalation(spec, item, step, row, now),
                                   _report_line(row, step))
    return found


def _apply_batch(service: Service, conn: Connection, claimed: Sequence[Any], now: datetime,
                 report: SweepReport) -> None:
    """Apply claimed steps set-wise: one read of their items, one read of what their notices
    need, then one executemany each for history, items, ladders, stale steps and outbox. A
    step that fires a transition goes in the batch too when it is its item's only claimed
    step (its item read whole, once for all of them); an item with more than one takes the
    one-at-a-time path (its later steps follow it)."""
    if not claimed:
        return
    items = steps.get_heads(conn, {r.item_id for r in claimed})
    claims = Counter(r.item_id for r in claimed)
    rungs: dict[tuple[Any, ...], _Rung] = {}
    taken: list[tuple[steps.Head, Any, _Rung]] = []
    firing: list[tuple[Any, _Rung]] = []
    careful: list[Any] = []
    stale: list[int] = []
    for row in _in_order(claimed):
        rung = _rung(service, conn, items[row.item_id], row, now, rungs)
        if rung is None:
            stale.append(row.id)
        elif careful and careful[-1].item_id == row.item_id:
            careful.append(row)  # rows are in item order: the item's later steps follow it
        elif rung.step.fire:
            (firing.append((row, rung)) if claims[row.item_id] == 1 else careful.append(row))
        else:
            taken.append((items[row.item_id], row, rung))
    fired = _Firing(service, conn, firing, now)
    directory = _step_lookups(conn, ((item, rung.step) for item, _, rung in taken),
                              fired.wanted)
    events = store.EventBatch()
    for item, row, rung in taken:
        _step_events(service, events, directory, item, row, rung, now)
    lines = fired.events(events, directory)
    if not events.apply(conn):
        raise _ItemMoved
    # Reported only once written: a rolled-back batch is redone.
    report.escalations.extend({"item": item.id, **rung.reported} for item, _, rung in taken)
    for (row, rung), line in zip(firing, lines, strict=True):
        report.escalations.append({"item": row.item_id, **rung.reported})
        (report.fired if "dest" in line else report.errors).append(line)
    steps.cancel(conn, stale)
    for row in careful:
        _apply_one(service, conn, row, now, report)


def _apply_one(service: Service, conn: Connection, row: Any, now: datetime,
               report: SweepReport) -> None:
    """Apply one claimed step inside a savepoint; a failure leaves it for the next sweep."""
    try:
        with conn.begin_nested():
            _apply(service, conn, row, now, report)
    except Conflict as exc:
        report.errors.append({"item": row.item_id, "step": row.step_index + 1,
                              "error": str(exc)})
        steps.unclaim(conn, row)


def _apply(service: Service, conn: Connection, row: Any, now: datetime,
           report: SweepReport) -> None:
    item = store.get_item(conn, row.item_id)
    rung = _rung(service, conn, item, row, now, {})
    if rung is None:
        steps.cancel(conn, [row.id])
        return
    events = store.EventBatch()
    fired = None
    if rung.step.fire:
        firing = _Firing(service, conn, [(row, rung)], now, {item.id: item})
        fired = firing.events(events, _step_lookups(conn, (), firing.wanted))[0]
    else:
        _step_events(service, events, _step_lookups(conn, [(item, rung.step)]), item, row,
                     rung, now)
    store.apply_events(conn, events)
    if fired is not None:
        (report.fired if "dest" in fired else report.errors).append(fired)
    report.escalations.append({"item": item.id, **rung.reported})


class _Firing:
    """Steps that fire a transition, decided together: the transition as the system at the
    sweep's `now` for each (or why not), and what their notices read, to be read at once
    with the batch's other steps'. The step's notice tells where the item went (公示期满 →
    乡镇审核), so it is made from the item as the transition leaves it."""

    def __init__(self, service: Service, conn: Connection, firing: Sequence[tuple[Any, _Rung]],
                 now: datetime, records: dict[int, store.ItemRecord] | None = None) -> None:
        self.service, self.now = service, now
        if records is None:
            records = steps.get_records(conn, {row.item_id for row, _ in firing}) if firing else {}
        self.decided: list[tuple[store.ItemRecord, Any, _Rung, Compiled, Outcome | Refused]] = []
        self.wanted = None if not firing else lookups.wanted()
        for row, rung in firing:
            item = records[row.item_id]
            compiled = service.compiled(conn, item.workflow_version_id)
            outcome: Outcome | Refused
            try:
                outcome = service.decide_as_system(compiled, item, rung.step.fire or "",
                                                   _fire_comment(rung.step, row), now)
            except Refused as refused:
                outcome = refused
            self.decided.append((item, row, rung, compiled, outcome))
            assert self.wanted is not None
            self.wanted.step(item, rung.step)  # a transition moves neither unit nor people
            if not isinstance(outcome, Refused):
                self.wanted.transition(compiled.spec, item, outcome)

    def events(self, events: store.EventBatch, directory: lookups.Lookups | None
               ) -> list[dict[str, Any]]:
        """Queue each step's events; the report line of each: fired, or why not (the
        escalation is applied either way)."""
        lines = []
        for item, row, rung, compiled, outcome in self.decided:
            if isinstance(outcome, Refused):
                _step_events(self.service, events, directory, item, row, rung, self.now,
                             refused=self._for_the_record(compiled, item, row, rung, outcome))
                lines.append({"item": item.id, "trigger": rung.step.fire, "error": str(outcome)})
                continue
            events.add(item, rung.entry)
            # The transition is the item's next event: its notices are keyed by the seq after.
            escalated = item._replace(last_seq=item.last_seq + 1)
            transition = self.service.transition_write(directory, compiled, escalated, outcome)
            moved = item._replace(**transition.values)
            notices = _notices(self.service, directory, rung, moved, row, self.now)
            events.add_write(transition._replace(outbox=[*transition.outbox, *notices]))
            lines.append({"item": item.id, "trigger": rung.step.fire, "dest": outcome.dest})
        return lines


    def _for_the_record(self, compiled: Compiled, item: store.ItemRecord, row: Any,
                        rung: _Rung, refused: Refused) -> str:
        """Why the step's `fire` was refused, in Chinese as the office's notices and history
        are (decided again: refusals are rare, and their words are fixed when made)."""
        with in_language("zh"):
            try:
                self.service.decide_as_system(compiled, item, rung.step.fire or "",
                                              _fire_comment(rung.step, row), self.now)
            except Refused as again:
                return str(again)
        return str(refused)  # the same decision on the same item: not reached


def _fire_comment(step: EscalationStep, row: Any) -> str:
    return f"系统自动：{step.level or 'escalation'}" + ("（补办）" if row.late else "")


def _step_events(service: Service, events: store.EventBatch,
                 directory: lookups.Lookups | None, item: Any, row: Any, rung: _Rung,
                 now: datetime, refused: str | None = None) -> None:
    """A step that fires nothing (or whose `fire` was refused: `refused` says why, in its
    history row and its notice): its escalation event, with its notices."""
    entry = rung.entry
    if refused is not None:  # the rung's entry is shared by the batch: this item's own copy
        entry = entry._replace(data={**entry.data, "refused": refused},
                               comment="；".join(filter(None, (entry.comment, refused))))
    events.add(item, entry, _notices(service, directory, rung, item, row, now, refused))


def _step_lookups(conn: Connection, stepped: Iterable[tuple[Any, EscalationStep]],
                  wanted: Wanted | None = None) -> lookups.Lookups | None:
    """What the notices of these steps on these items read (and what `wanted` already
    names), read in one go (None: nobody is told anything)."""
    for item, step in stepped:
        if step.notify:
            wanted = (wanted or lookups.wanted()).step(item, step)
    return None if wanted is None else lookups.read(conn, wanted)


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


def _notices(service: Service, directory: lookups.Lookups | None, rung: _Rung, item: Any,
             row: Any, now: datetime, refused: str | None = None) -> list[dict[str, Any]]:
    """The outbox rows of one applied step (made from what `_step_lookups` read)."""
    if not rung.step.notify:
        return []
    assert directory is not None
    return service.notices.for_step(directory, rung.spec, item, rung.step, row.entry_no,
                                    bool(row.late), now, row.planned_at, refused)


def _report_line(row: Any, step: EscalationStep) -> dict[str, Any]:
    return {"state": row.state, "step": row.step_index + 1, "action": step.action,
            "level": step.level, "late": bool(row.late)}


def _late_note(planned: datetime, now: datetime, spec: WorkflowSpec) -> str:
    from zoneinfo import ZoneInfo

    local = planned.astimezone(ZoneInfo(spec.timezone)).strftime("%Y-%m-%d %H:%M")
    with in_language("zh"):  # the history is the office's record, in Chinese as its notices
        return _("applied late: was due {when}").format(when=local)


def _preview(service: Service, now: datetime, report: SweepReport, batch: int) -> SweepReport:
    """What a sweep would do, reading only: the due steps, decided as a sweep decides them."""
    rungs: dict[tuple[Any, ...], _Rung] = {}
    with read(service.engine) as conn:
        for rows in steps.pending_due(conn, now, batch):
            for row in rows:
                item = store.get_item(conn, row.item_id)
                rung = _rung(service, conn, item, row, now, rungs)
                if rung is None:
                    continue
                line = {"item": item.id, **rung.reported}
                del line["late"]  # decided when claimed
                report.escalations.append(line)
                if rung.step.fire:
                    report.fired.append({"item": item.id, "trigger": rung.step.fire})
    return report
