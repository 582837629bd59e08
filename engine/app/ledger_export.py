"""`rectify ledger export`: the ledger as offices print it, streamed from the database.

One row per item: 编号, 责任单位, 对象, the workflow's fields by label, 责任人, 整改时限, 状态,
亮灯, 验收人, 销号日期. Items are read in keyset batches of 2,000 (with the acceptors of each
batch in one query) and handed to `ledger.write_ledger` as a generator, so memory stays flat
however large the ledger. Units and people are written by name (or the shortest unambiguous
`上级/名称`), so an exported file imports again into a database with the same org.

A public export (`public=True`, 公开版) leaves out fields marked `private: true` and the names
of the people responsible (责任人, 验收人).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ..core.errors import NotFound, UsageError
from ..core.escalation import DEFAULT_LIGHTS, LightRule, light
from ..core.names import Ambiguous, Named, PersonIndex, UnitIndex
from ..core.spec import WorkflowSpec
from ..ledgers import write_ledger
from ..store import items as store
from ..store import reads, repo
from ..store.db import Connection, read
from ..store.reads import ItemFilter
from .service import Service

BATCH = 2000
ACCEPT = "accept"  # the trigger whose actor is the 验收人
FIXED_HEADERS = {
    "key": "编号", "workflow": "流程", "unit": "责任单位", "subject": "对象",
    "assignee": "责任人", "due": "整改时限", "status": "状态", "light": "亮灯",
    "acceptor": "验收人", "closed": "销号日期",
}  # fmt: skip
PERSONAL = ("assignee", "acceptor")  # left out of a public export


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    columns: list[str]


def export_ledger(service: Service, path: Path, fmt: Literal["xlsx", "csv"], *,
                  filters: ItemFilter | None = None, public: bool = False, force: bool = False,
                  rule: LightRule = DEFAULT_LIGHTS) -> ExportResult:
    path = Path(path)
    filters = filters or ItemFilter()
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    now = service.clock.now()
    with read(service.engine) as conn:
        specs = _specs(service, conn, filters)
        units = UnitIndex(Named(u.id, u.name, u.path) for u in repo.units(conn))
        people = PersonIndex(Named(p.id, p.name, active=p.active) for p in repo.people(conn))
    filters = _by_unit_id(filters, units)
    layout = _Layout(specs, public)
    rows = _rows(service, filters, layout, units, people, now, rule)
    try:
        count = write_ledger(rows, layout.columns, path, fmt, light_column="light",
                             status_choices=layout.states, status_column="status", force=force)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return ExportResult(path, count, [h for _, h in layout.columns])


def _by_unit_id(filters: ItemFilter, units: UnitIndex) -> ItemFilter:
    """--unit may be a name, as in a ledger."""
    if not filters.unit or filters.unit in units.by_id:
        return filters
    try:
        return replace(filters, unit=units.resolve(filters.unit).id)
    except Ambiguous as exc:
        raise UsageError(f"--unit {exc}") from None
    except KeyError:
        raise NotFound("unit", filters.unit) from None


def _specs(service: Service, conn: Connection, filters: ItemFilter) -> list[WorkflowSpec]:
    """The workflows whose items are exported: the one asked for, else every one with items."""
    if filters.workflow:
        return [service.latest(conn, filters.workflow).spec]
    by_name: dict[str, WorkflowSpec] = {}
    for version_id in reads.versions_with_items(conn):
        spec = service.compiled(conn, version_id).spec
        by_name[spec.name] = spec  # the newest version's fields and labels win
    return [by_name[n] for n in sorted(by_name)]


class _Layout:
    """Which columns, in which order: the union of the workflows' fields, by label."""

    def __init__(self, specs: Sequence[WorkflowSpec], public: bool) -> None:
        self.public = public
        self.fields: dict[str, str] = {}  # column key -> header (the field's label)
        self.states: list[str] = []
        for spec in specs:
            for f in spec.fields.values():
                if f.type != "files" and not (public and f.private):
                    self.fields.setdefault(f"f:{f.label}", f.label)
            self.states += [s.label for s in spec.states.values() if s.label not in self.states]
        fixed = [k for k in FIXED_HEADERS if not (public and k in PERSONAL)
                 and (k != "workflow" or len(specs) > 1)]
        head = [k for k in fixed if k in ("key", "workflow", "unit", "subject")]
        tail = [k for k in fixed if k not in head]
        self.columns = ([(k, FIXED_HEADERS[k]) for k in head] + list(self.fields.items())
                        + [(k, FIXED_HEADERS[k]) for k in tail])

    def field_values(self, spec: WorkflowSpec, values: Mapping[str, Any]) -> dict[str, Any]:
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


def _rows(service: Service, filters: ItemFilter, layout: _Layout, units: UnitIndex,
          people: PersonIndex, now: datetime, rule: LightRule) -> Iterator[dict[str, Any]]:
    last = 0
    calendar = service.calendar()
    lights: dict[tuple[int, str, datetime | None], str | None] = {}  # deadlines repeat a lot
    while True:
        with read(service.engine) as conn:
            records = reads.items_page(conn, filters, now, after=last, limit=BATCH)
            specs = {r.workflow_version_id: service.compiled(conn, r.workflow_version_id).spec
                     for r in records}
            acceptors = reads.accepted_by(conn, [r.id for r in records], ACCEPT)
        for r in records:
            spec = specs[r.workflow_version_id]
            tz = ZoneInfo(spec.timezone)
            row = {
                "key": r.ext_key or f"#{r.id}", "workflow": spec.title,
                "unit": units.label(units.by_id[r.unit_id]) if r.unit_id in units.by_id
                else r.unit_id,
                "subject": r.subject, **layout.field_values(spec, r.fields),
                "due": r.due_at.astimezone(tz).date() if r.due_at else None,
                "status": spec.state_label(r.state),
                "light": _cached_light(lights, r, spec, now, calendar, rule),
                "closed": r.closed_at.astimezone(tz).date() if r.closed_at else None,
            }
            if not layout.public:
                row["assignee"] = people.label(r.assignee_id)
                row["acceptor"] = people.label(acceptors.get(r.id))
            yield row
        if len(records) < BATCH:
            return
        last = records[-1].id


def _cached_light(cache: dict[tuple[int, str, datetime | None], str | None],
                  r: store.ItemRecord, spec: WorkflowSpec, now: datetime, calendar: Any,
                  rule: LightRule) -> str | None:
    """The light depends only on version, state and deadline: working-day arithmetic once for
    every item that shares them (imported ledgers share a handful of 整改时限)."""
    key = (r.workflow_version_id, r.state, r.due_at)
    if key not in cache:
        cache[key] = light(spec, r.state, r.due_at, now, calendar, rule)
    return cache[key]
