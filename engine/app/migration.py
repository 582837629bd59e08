"""Moving running items to another version of their workflow, and counting what a change touches.

`prepare` reads the versions and counts in-flight items by version and state, checks the
admin's `--map`, and plans each group (`migrate.plan_states`); nothing is written if any group
cannot move. `migrate` then streams the items in id order, one batch at a time: a read
transaction takes the batch and what each item's current stay has already applied, the pure
`migrate.move_item` decides, and one write transaction per batch applies each item through
`items.apply_write` — an optimistic UPDATE on the item's version, so an item changed by someone
else since the read is reported as a conflict and left alone, never overwritten. Memory holds
one batch. `diff` compares two versions and counts the in-flight items each change touches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ...engine.core.i18n import Text, _, later
from ..core.calendar import WorkCalendar
from ..core.errors import Conflict, NotFound, Refusal, Refused
from ..core.state_map import check_mapping, mapping_by_id
from ..core.versions import (
    Change,
    Group,
    ItemFacts,
    ItemMove,
    StateMove,
    diff_specs,
    move_item,
    plan_states,
    refusal,
    touched,
)
from ..store import inflight, repo
from ..store import items as store
from ..store.db import read, write
from .service import Compiled, Service

BATCH = 500
SYSTEM = "system"


@dataclass(frozen=True)
class Plan:
    workflow: str
    target: Compiled
    mapping: Mapping[str, str]
    moves: tuple[StateMove, ...]

    @property
    def to_version(self) -> int:
        return self.target.version.version

    @property
    def items(self) -> int:
        return sum(m.items for m in self.moves)

    def refusal(self) -> Refused | None:
        return refusal(self.moves, self.target.spec, self.to_version)

    def as_json(self) -> list[dict[str, Any]]:
        return [{"from_version": m.version, "source": m.source, "source_label": m.source_label,
                 "dest": m.dest, "dest_label": m.dest_label, "items": m.items,
                 "mapped": m.mapped, "problem": m.problem} for m in self.moves]


@dataclass
class MigrationReport:
    dry_run: bool
    migrated: int = 0
    conflicts: int = 0
    refused: int = 0
    fields_dropped: Counter[str] = field(default_factory=Counter)
    steps_done: int = 0  # steps of the new ladders already applied in the stay: not planned
    steps_due_now: int = 0  # planned steps whose time has come: the next sweep applies them

    def as_json(self) -> dict[str, Any]:
        return {("would_migrate" if self.dry_run else "migrated"): self.migrated,
                "conflicts": self.conflicts, "refused": self.refused,
                "fields_dropped": dict(sorted(self.fields_dropped.items())),
                "steps_already_applied": self.steps_done, "steps_due_now": self.steps_due_now}


def _version(conn: Any, service: Service, name: str, number: int) -> Compiled:
    rows = inflight.versions(conn, name)
    if not rows:
        raise NotFound("workflow", name)
    found = next((r for r in rows if r.version == number), None)
    if found is None:
        raise NotFound("workflow version", f"{name} v{number}")
    return service.compiled(conn, found.id)


def prepare(service: Service, name: str, to_version: int,
            mapping: Mapping[str, str]) -> Plan:
    """Check the mapping and plan every group of in-flight items; writes nothing."""
    with read(service.engine) as conn:
        target = _version(conn, service, name, to_version)
        others = {r.version: service.compiled(conn, r.id).spec
                  for r in inflight.versions(conn, name) if r.id != target.version.id}
        mapping = mapping_by_id(mapping, others.values(), target.spec)
        check_mapping(mapping, others.values(), target.spec, to_version)
        groups = [Group(service.compiled(conn, vid).version.version, state, n)
                  for vid, state, n in inflight.census(conn, name, not_on=target.version.id)]
    return Plan(name, target, dict(mapping), plan_states(groups, others, target.spec, mapping))


def actor_id(service: Service, person: str | None) -> str:
    """Who the history rows name: the --as person (who must be in the org file), else system."""
    if not person:
        return SYSTEM
    with read(service.engine) as conn:
        found = repo.person(conn, person)
    if found is None or not found.active or person == SYSTEM:
        raise Refused(_("'{person}' is not a person in the org file; load it with "
                        "`rectify org load`, or leave out --as to record the "
                        "migration as the system's").format(person=person), reason=Refusal.ROLE)
    return person


def migrate(service: Service, plan: Plan, *, actor: str, comment: str | None = None,
            dry_run: bool = False, batch: int = BATCH,
            progress: Callable[[int], None] | None = None,
            on_item: Callable[[dict[str, Any]], None] | None = None) -> MigrationReport:
    """Move every in-flight item not on the target version; the plan must have no refusal."""
    stuck = plan.refusal()
    if stuck is not None:
        raise stuck
    now = service.clock.now()
    report = MigrationReport(dry_run)
    last = 0
    calendar = service.calendar()
    while True:
        items, applied, versions = _read_batch(service, plan, last, batch)
        if not items:
            return report
        decided = [_decide(plan, versions[item.workflow_version_id], item,
                           applied.get(item.id, []), calendar, now) for item in items]
        if dry_run:
            results = [_result(d, "would migrate" if d.move else "refused") for d in decided]
        else:
            with write(service.engine) as conn:
                results = [_write(conn, plan, d, actor, comment, now) for d in decided]
        for result, d in zip(results, decided, strict=True):
            _count(report, result, d.move)
            if on_item:
                on_item(result)
        if progress:
            progress(len(items))
        last = items[-1].id
        if len(items) < batch:
            return report


def _read_batch(service: Service, plan: Plan, after: int, limit: int
                ) -> tuple[list[store.ItemRecord], dict[int, list[str]], dict[int, Compiled]]:
    """One batch of items still to move, the steps applied in each one's current stay, and
    the versions they are on."""
    with read(service.engine) as conn:
        items = inflight.batch(conn, plan.workflow, after=after, limit=limit,
                               not_on=plan.target.version.id)
        versions = {vid: service.compiled(conn, vid)
                    for vid in {i.workflow_version_id for i in items}}
        return items, inflight.stay_actions(conn, (i.id for i in items)), versions


@dataclass(frozen=True)
class _Decision:
    item: store.ItemRecord
    from_version: int
    to_version: int
    move: ItemMove | None
    tz: str  # the target's timezone, for the times in results
    error: Text | None = None  # why it cannot move


def _decide(plan: Plan, on: Compiled, item: store.ItemRecord, applied: list[str],
            calendar: WorkCalendar, now: datetime) -> _Decision:
    """The item's move, or why it cannot move (it entered an unmapped state since the plan)."""
    target = plan.target.spec
    dest = plan.mapping.get(item.state, item.state)
    if dest not in target.states or target.states[dest].final:
        return _Decision(item, on.version.version, plan.to_version, None, target.timezone,
                         later("its state {state} has no working state in v{version} (it moved "
                               "there after the plan was made); add a --map for it",
                               state=item.state, version=plan.to_version))
    facts = ItemFacts(item.state, item.fields, item.entered_at, item.due_at, item.due_override)
    move = move_item(facts, on.spec, target, dest, applied, calendar, now)
    return _Decision(item, on.version.version, plan.to_version, move, target.timezone)


def _write(conn: Any, plan: Plan, d: _Decision, actor: str, comment: str | None,
           now: datetime) -> dict[str, Any]:
    if d.move is None:
        return _result(d, "refused")
    try:
        store.apply_write(conn, _item_write(plan, d, d.move, actor, comment, now))
    except Conflict:
        return _result(d, "conflict", later("changed by someone else while migrating; not "
                                            "moved — run the same command again to move it"))
    return _result(d, "migrated")


def _item_write(plan: Plan, d: _Decision, move: ItemMove, actor: str, comment: str | None,
                now: datetime) -> store.ItemWrite:
    item, due = d.item, move.schedule
    values = {"workflow_version_id": plan.target.version.id, "state": move.dest,
              "fields": move.fields, "entry_no": item.entry_no + 1, "due_at": due.due_at,
              "due_provisional": due.provisional,
              "due_override": item.due_override and due.due_at is not None}
    data: dict[str, Any] = {
        "from_version": d.from_version, "to_version": d.to_version,
        "state": [move.source, move.dest], "mapping": dict(plan.mapping),
        "due_at": [_iso(item.due_at), _iso(due.due_at)],
        "entry_no": [item.entry_no, item.entry_no + 1], "steps_already_applied": list(move.done),
    }
    if move.dropped:
        data["dropped_fields"] = move.dropped
    if move.converted:
        data["converted_fields"] = move.converted
    entry = store.HistoryEntry(kind="migrate", actor=actor, at=now, source=move.source,
                               dest=move.dest, comment=comment, data=data)
    # A new ladder number for the same stay: the new ladder's rows never collide with the old
    # one's, whose applied steps stay as they are (and are matched by action, not by index).
    return store.ItemWrite(item=item, values=values, history=entry, steps=due.steps)


def _result(d: _Decision, status: str, error: Text | None = None) -> dict[str, Any]:
    """One item's outcome, as `--json` prints it; an `error` is a Text (English in JSON, the
    session's language on the terminal)."""
    move, item = d.move, d.item
    out: dict[str, Any] = {"id": item.id, "from_version": d.from_version,
                           "to_version": d.to_version, "source": item.state,
                           "dest": move.dest if move else None, "status": status}
    if move is not None:
        due = move.schedule.due_at
        out.update(due_at=due.astimezone(ZoneInfo(d.tz)).isoformat() if due else None,
                   dropped_fields=sorted(move.dropped),
                   steps_planned=len(move.schedule.steps), steps_due_now=move.due_now,
                   steps_already_applied=list(move.done))
    if error or d.error:
        out["error"] = error or d.error
    return out


def _count(report: MigrationReport, result: dict[str, Any], move: ItemMove | None) -> None:
    status = result["status"]
    if status == "conflict":
        report.conflicts += 1
    elif status == "refused":
        report.refused += 1
    elif move is not None:
        report.migrated += 1
        report.fields_dropped.update(move.dropped.keys())
        report.steps_done += len(move.done)
        report.steps_due_now += move.due_now


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


# --- diff ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffReport:
    workflow: str
    old: int
    new: int
    in_flight: int  # items on the old version not in a final state
    changes: tuple[tuple[Change, int], ...]  # each change with the in-flight items it touches

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"workflow": self.workflow, "from_version": self.old,
                               "to_version": self.new, "in_flight": self.in_flight}
        for kind in ("workflow", "role", "field", "state", "transition"):
            out[kind + "s" if kind != "workflow" else "settings"] = [
                {"name": c.name, "label": c.label, "change": c.change,
                 "details": [{"what": w, "old": a, "new": b} for w, a, b in c.details],
                 "items": n} for c, n in self.changes if c.kind == kind]
        return out


def diff(service: Service, name: str, v1: int, v2: int, *, batch: int = 2000) -> DiffReport:
    with read(service.engine) as conn:
        old, new = _version(conn, service, name, v1), _version(conn, service, name, v2)
        changes = diff_specs(old.spec, new.spec)
        states = {s: n for _, s, n in inflight.census(conn, name, on=old.version.id)}
        wanted = {c.touches[1] for c in changes if c.touches and c.touches[0] == "field"}
        fields = _fields_with_values(conn, name, old.version.id, wanted, batch)
    total = sum(states.values())
    return DiffReport(name, v1, v2, total,
                      tuple((c, touched(c, states, fields, total)) for c in changes))


def _fields_with_values(conn: Any, name: str, version_id: int, wanted: set[str],
                        batch: int) -> Counter[str]:
    """How many in-flight items on the version hold a value in each wanted field (streamed)."""
    from ..core.fields import is_empty

    counts: Counter[str] = Counter()
    last = 0
    while wanted:
        items = inflight.batch(conn, name, after=last, limit=batch, on=version_id)
        counts.update(f for i in items for f in wanted if not is_empty(i.fields.get(f)))
        if len(items) < batch:
            break
        last = items[-1].id
    return counts
