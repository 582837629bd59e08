"""The rows of a ledger export: which columns a sheet has (`Layout`) and each item as a row
(`ExportRows`), read in keyset batches.

A unit is written as 乡镇 and 村: an item at a unit without units below it (a village) has
its unit in 村 and the unit above in 乡镇; an item at any other unit (a township, the county)
has it in 乡镇 and 村 empty. The import reads a row's unit from 村, else 乡镇, and tells two
villages of one name apart by their 乡镇, so the file imports again. 交办日期 is when the item
was first handed over (an `assign`, or its first transition out of the initial state); 验收人
is who moved it into its final state (the 验收销号, 问责办结, 公告 … of its own workflow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..core.escalation import LightRule, light
from ..core.machine import SYSTEM_ACTOR
from ..core.masking import posted
from ..core.names import Ambiguous, Named, PersonIndex, UnitIndex
from ..core.spec import WorkflowSpec
from ..store import exports, reads
from ..store import items as store
from ..store.db import read
from ..store.reads import ItemFilter
from .service import Service

BATCH = 2000
FIXED_HEADERS = {
    "key": "编号", "workflow": "流程", "town": "乡镇", "village": "村", "subject": "对象",
    "assignee": "责任人", "handed": "交办日期", "due": "整改时限", "status": "状态",
    "light": "亮灯", "acceptor": "验收人", "closed": "销号日期",
}  # fmt: skip
HEAD = ("key", "workflow", "town", "village", "subject")  # before the fields; the rest after
PERSONAL = ("assignee", "acceptor")  # left out of a public export


class Layout:
    """Which columns, in which order: the workflows' fields by label (the union, for a csv of
    several workflows), files fields never, private ones only when asked for."""

    def __init__(self, specs: Sequence[WorkflowSpec], *, public: bool, private: bool) -> None:
        self.public = public
        self.fields: dict[str, str] = {}  # column key -> header (the field's label)
        self.states: list[str] = []
        for spec in specs:
            for f in spec.fields.values():
                if f.type != "files" and (private or not f.private):
                    self.fields.setdefault(f"f:{f.label}", f.label)
            self.states += [s.label for s in spec.states.values() if s.label not in self.states]
        fixed = [k for k in FIXED_HEADERS if not (public and k in PERSONAL)
                 and (k != "workflow" or len(specs) > 1)]
        head = [k for k in fixed if k in HEAD]
        tail = [k for k in fixed if k not in HEAD]
        self.columns = ([(k, FIXED_HEADERS[k]) for k in head] + list(self.fields.items())
                        + [(k, FIXED_HEADERS[k]) for k in tail])

    def field_values(self, spec: WorkflowSpec, values: Mapping[str, Any]) -> dict[str, Any]:
        if self.public:  # 公开版: names and numbers as a 公示 shows them (张*三)
            values = posted(spec, values)
        out: dict[str, Any] = {}
        for name, f in spec.fields.items():
            key = f"f:{f.label}"
            if key in self.fields and values.get(name) not in (None, "", []):
                value = values[name]
                out[key] = _as_date(value) if f.type == "date" else value
        return out


def _as_date(value: Any) -> Any:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return value


class ExportRows:
    """Items as export rows, batch by batch; caches what repeats (units, lights, specs)."""

    def __init__(self, service: Service, units: UnitIndex, people: PersonIndex, now: datetime,
                 rule: LightRule, tick: Callable[[int], None] | None) -> None:
        self.service, self.units, self.people, self.now, self.rule = (
            service, units, people, now, rule)
        self.tick = tick
        self.calendar = service.calendar()
        self.places: dict[str, tuple[str | None, str | None]] = {}
        self.parents: set[str] | None = None
        self.lights: dict[tuple[int, str, datetime | None], str | None] = {}

    def rows(self, filters: ItemFilter, layout: Layout) -> Iterator[dict[str, Any]]:
        last = 0
        while True:
            with read(self.service.engine) as conn:
                records = reads.items_page(conn, filters, self.now, after=last, limit=BATCH)
                specs = {r.workflow_version_id:
                         self.service.compiled(conn, r.workflow_version_id).spec
                         for r in records}
                closed = [r.id for r in records if r.closed_at is not None]
                finals = {n for s in specs.values() for n, st in s.states.items() if st.final}
                closers = exports.closers(conn, closed, finals)
                handed = exports.handovers(conn, [r.id for r in records],
                                           {s.initial for s in specs.values()})
            for r in records:
                yield self._row(r, specs[r.workflow_version_id], layout, closers.get(r.id),
                                handed.get(r.id, ()))
            if self.tick and records:
                self.tick(len(records))
            if len(records) < BATCH:
                return
            last = records[-1].id

    def _row(self, r: store.ItemRecord, spec: WorkflowSpec, layout: Layout,
             closer: tuple[str, str] | None,
             handed: Sequence[tuple[str | None, datetime]]) -> dict[str, Any]:
        tz = ZoneInfo(spec.timezone)
        town, village = self._place(r.unit_id)
        row = {
            "key": r.ext_key or f"#{r.id}", "workflow": spec.title, "town": town,
            "village": village, "subject": r.subject, **layout.field_values(spec, r.fields),
            "handed": _handed_on(spec, handed, tz),
            "due": r.due_at.astimezone(tz).date() if r.due_at else None,
            "status": spec.state_label(r.state),
            "light": self._light(r, spec),
            "closed": r.closed_at.astimezone(tz).date() if r.closed_at else None,
        }
        if not layout.public:
            row["assignee"] = self.people.label(r.assignee_id)
            row["acceptor"] = self._acceptor(spec, closer)
        return row

    def _acceptor(self, spec: WorkflowSpec, closer: tuple[str, str] | None) -> str | None:
        if closer is None or not spec.states.get(closer[0], None) or \
                not spec.states[closer[0]].final:
            return None
        actor = closer[1]
        return SYSTEM_ACTOR.name if actor == SYSTEM_ACTOR.id else self.people.label(actor)

    def _place(self, unit_id: str) -> tuple[str | None, str | None]:
        if unit_id not in self.places:
            if self.parents is None:
                self.parents = {p for u in self.units.by_id.values() if (p := parent_id(u))}
            self.places[unit_id] = town_and_village(self.units, unit_id, self.parents)
        return self.places[unit_id]

    def _light(self, r: store.ItemRecord, spec: WorkflowSpec) -> str | None:
        """The light depends only on version, state and deadline: working-day arithmetic once
        for every item that shares them (imported ledgers share a handful of 整改时限)."""
        key = (r.workflow_version_id, r.state, r.due_at)
        if key not in self.lights:
            self.lights[key] = light(spec, r.state, r.due_at, self.now, self.calendar,
                                     self.rule)
        return self.lights[key]


def _handed_on(spec: WorkflowSpec, handed: Sequence[tuple[str | None, datetime]],
               tz: ZoneInfo) -> date | None:
    times = [at for source, at in handed if source is None or source == spec.initial]
    return min(times).astimezone(tz).date() if times else None


def town_and_village(units: UnitIndex, unit_id: str,
                     parents: set[str]) -> tuple[str | None, str | None]:
    """(乡镇, 村) of a unit, written so that the import finds the unit again. `parents`: the
    ids of units that have units below them."""
    unit = units.by_id.get(unit_id)
    if unit is None:
        return unit_id, None
    above = parent_id(unit)
    parent = units.by_id.get(above) if above else None
    if parent is None or unit.id in parents:
        return units.label(unit), None
    try:
        found: Named | None = units.resolve(unit.name, (parent.name,))
    except (KeyError, Ambiguous):
        found = None
    return parent.name, unit.name if found is unit else units.label(unit)


def parent_id(unit: Named) -> str | None:
    parts = [p for p in unit.path.split("/") if p]
    return parts[-2] if len(parts) >= 2 else None
