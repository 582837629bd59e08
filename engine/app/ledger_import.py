"""`rectify item import`: an office's ledger (xlsx, xls, ods or csv) becomes items, all or
nothing.

In ONE write transaction the file is read a chunk of rows at a time (engine.ledgers): each
row's cells are checked, its unit and people resolved by id or name, the actor's right to create
items at its unit checked; rows whose key is already in the database are skipped (so importing
the same file twice creates nothing new), and the chunk's new items are written set-wise by the
one event writer (store.imports, store.items). Every bad row is collected, never just the first;
if there is any, the transaction is rolled back and writes nothing, and every bad row is
reported with its row number (InvalidInput, exit 6).

Each item is what `Service.new_item` would create: the workflow's initial state, the row's
整改时限 as the item's own deadline (the end of that day), its 'create' history row chained for
`rectify audit verify`, and the initial state's escalation ladder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ...engine.core.i18n import Text, _, in_language, later, ngettext
from ..core import authority
from ..core import fields as fieldvals
from ..core.errors import InvalidInput, NotFound, Refusal, Refused, UnknownActor, UsageError
from ..core.escalation import Schedule, schedule
from ..core.machine import Actor
from ..core.names import Ambiguous, Named, PersonIndex, UnitIndex
from ..core.org import ancestors
from ..core.spec import WorkflowSpec
from ..ledgers import LedgerRow, RowError, open_ledger
from ..ledgers.cells import RelativeDue
from ..ledgers.headers import NOT_RECOGNISED
from ..store import authority as grants
from ..store import imports as store
from ..store import repo
from ..store.db import Connection
from ..store.db import batch as transaction
from ..store.items import HistoryEntry
from .service import Compiled, Service

Progress = Callable[[str, int, int], None]  # (stage, done, total); stage: importing
NATIVE_KEY = re.compile(r"#(\d+)")  # how an export numbers items created in rectify itself
# Columns `rectify ledger export` adds that an import has no use for: ignored without a warning.
EXPORT_ONLY = frozenset({"状态", "亮灯", "验收人", "销号日期", "流程", "交办日期"})
MAX_KEY, MAX_SUBJECT = 100, 200  # column sizes of items.ext_key and items.subject
_AS_WRITTEN = "@due_as_written"  # beside a row's fields: its 整改时限 when words, not a date
CHUNK = 2000  # rows resolved and written together: few statements, little memory


@dataclass
class ImportResult:
    file: str
    workflow: str
    rows: int  # data rows in the file (blank rows not counted)
    created: int = 0
    skipped: int = 0  # already in the database (same key)
    ids: list[int] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "workflow": self.workflow, "rows": self.rows,
                "created": self.created, "skipped": self.skipped,
                "first_id": min(self.ids, default=None), "last_id": max(self.ids, default=None),
                "warnings": _english(self.warnings)}


def _english(warnings: list[RowError]) -> list[str]:
    with in_language("en"):  # --json reads the same in every language
        return [str(w) for w in warnings]


def import_ledger(service: Service, path: Path, workflow: str, actor_id: str | None, *,
                  mapping: Mapping[str, str] | None = None, default_unit: str | None = None,
                  progress: Progress | None = None) -> ImportResult:
    """Import every row of the ledger, or nothing (InvalidInput listing every bad row).

    One pass in one write transaction: rows are read, checked and written CHUNK at a time,
    so neither the file nor its items are ever held whole (a million rows stay under 500 MB).
    The first bad row stops the writing, not the reading: every bad row is still named, and
    the transaction, rolled back, leaves nothing."""
    path = Path(path)
    calendar = service.calendar()
    now = service.clock.now()
    with transaction(service.engine) as conn:
        compiled = service.latest(conn, workflow)
        _check_actor(conn, actor_id)
        ledger = open_ledger(path, compiled.spec, mapping, _stage(progress, "importing"))
        if default_unit is None and "@unit" not in ledger.targets:
            raise InvalidInput([_("{file}: no row names its 责任单位 (or 村, 乡镇 …): add that "
                                  "column, map one to `unit`, or give --unit for the whole "
                                  "file").format(file=path.name)], source=str(path))
        result = ImportResult(str(path), compiled.spec.name, 0,
                              warnings=[w for w in ledger.warnings if not _export_only(w)])
        rows_in = _Rows(conn, compiled, actor_id or "", now, default_unit,
                        lambda override: schedule(compiled.spec, compiled.spec.initial, now,
                                                  calendar, override), path.name)
        errors = ledger.errors
        for chunk in iter(lambda: list(islice(ledger.rows, CHUNK)), []):
            result.rows += len(chunk)
            new = [(row, item) for row in chunk if (item := rows_in.build(row, errors))]
            if errors:
                continue  # nothing more is written; the rows are still all checked
            fresh = _skip_existing(conn, compiled.spec, new, result.warnings)
            result.skipped += len(new) - len(fresh)
            result.ids += store.insert_items(conn, [item for _, item in fresh])
        if errors:
            raise InvalidInput(_problems(path, errors), source=str(path))
        result.created = len(result.ids)
    return result


def _export_only(warning: RowError) -> bool:
    return warning.column in EXPORT_ONLY and warning.message == NOT_RECOGNISED


def _check_actor(conn: Connection, actor_id: str | None) -> None:
    if not actor_id:
        raise Refused(_("say who is importing: --as PERSON (or RECTIFY_USER)"), reason=Refusal.ROLE)
    person = repo.person(conn, actor_id)
    if person is None or not person.active:
        raise UnknownActor(actor_id)


def _stage(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


def _bad_rows(errors: list[RowError]) -> int:
    return len({e.row for e in errors})


def _problems(path: Path, errors: list[RowError]) -> list[str]:
    ordered = sorted(errors, key=lambda e: e.row)
    bad = _bad_rows(errors)
    summary = ngettext("{rows} row with errors; nothing was imported",
                       "{rows} rows with errors; nothing was imported", bad).format(rows=bad)
    return [_("{file}: {problem}").format(file=path.name, problem=problem)
            for problem in [*ordered, summary]]


def _skip_existing(conn: Connection, spec: WorkflowSpec,
                   new: list[tuple[LedgerRow, store.NewItem]], warnings: list[RowError]
                   ) -> list[tuple[LedgerRow, store.NewItem]]:
    """The rows to create: not those whose key names an item already (an imported key, or the
    `#id` an export gives an item made here). A skipped row whose content differs from its
    item is a warning: the same numbers used by another ledger, or a row edited since — rectify
    never changes items from a ledger, and must not drop a row silently either."""
    have: dict[str, store.Existing] = store.existing_items(
        conn, spec.name, [row.key for row, _ in new])
    native = {int(m.group(1)) for row, _ in new if (m := NATIVE_KEY.fullmatch(row.key))}
    if native:
        found = store.native_items(conn, spec.name, native)
        have.update({f"#{n}": item for n, item in found.items() if f"#{n}" not in have})
    fresh = []
    for row, item in new:
        existing = have.get(row.key)
        if existing is None:
            fresh.append((row, item))
        elif differs := _differences(spec, existing, item):
            warnings.append(RowError(row.row, None, later(
                "编号 '{key}' is already item {id}, which has another {fields}; row skipped "
                "(an import never changes an item)", key=row.key, id=existing.id,
                fields="、".join(differs))))
    return fresh


def _differences(spec: WorkflowSpec, existing: store.Existing, new: store.NewItem) -> list[str]:
    """What the row says differently from the item (fields the row leaves empty say nothing)."""
    out = ["责任单位"] if existing.unit_id != new.values["unit_id"] else []
    fields: Mapping[str, Any] = new.values["fields"]
    return out + [spec.fields[name].label for name, value in fields.items()
                  if existing.fields.get(name) != value]


class _Rows:
    """Turns checked ledger rows into new items: names to ids, rights, deadlines."""

    def __init__(self, conn: Connection, compiled: Compiled, actor: str, now: datetime,
                 default_unit: str | None, plan: Callable[[datetime | None], Schedule],
                 file: str) -> None:
        self.spec: WorkflowSpec = compiled.spec
        self.version_id = compiled.version.id
        self.actor, self.now, self.file = actor, now, file
        self.today = now.astimezone(ZoneInfo(self.spec.timezone)).date()
        self.units = UnitIndex(Named(u.id, u.name, u.path) for u in repo.units(conn))
        self.people = PersonIndex(Named(p.id, p.name, active=p.active)
                                  for p in repo.people(conn))
        self.granted = store.grants_of(conn, actor)
        self.actor_name = self.people.by_id[actor].name if actor in self.people.by_id else actor
        self.default_unit = self._default(default_unit)
        self._plan = plan
        self._plans: dict[date | None, Schedule] = {}
        self._unit_cache: dict[tuple[str, tuple[str, ...]], Named | Text] = {}
        self._person_cache: dict[str, Named | Text] = {}
        self._allowed: dict[str, bool] = {}
        self._roles: dict[str, frozenset[str]] = {}
        self.conn = conn

    def _check_authority(self, row: LedgerRow, unit: Named, assignee: str | None,
                         values: dict[str, Any], errors: list[RowError]) -> None:
        """The same rules as `item new`: fields the importer may set, no deadline of their own."""
        roles = self._roles.get(unit.id)
        if roles is None:
            held = grants.roles_by_unit(self.conn, self.actor)
            roles = self._roles[unit.id] = frozenset(
                r for u in ancestors(unit.path) for r in held.get(u, ()))
        refusal = authority.creation_refusal(
            self.spec, Actor(self.actor, roles, self.actor_name), values, assignee,
            None if row.due is None else str(row.due))
        if refusal:
            errors.append(RowError(row.row, None, str(refusal)))

    def _default(self, unit_id: str | None) -> Named | None:
        """--unit, an id (front ends turn names into ids with `app.names`)."""
        if unit_id is None:
            return None
        if unit_id not in self.units.by_id:
            raise NotFound("unit", unit_id)
        return self.units.by_id[unit_id]

    def build(self, row: LedgerRow, errors: list[RowError]) -> store.NewItem | None:
        before = len(errors)
        if isinstance(row.due, RelativeDue):  # 立行立改, 长期坚持, 12月底前: the day it means now
            row = replace(row, due=row.due.resolve(self.today),
                          fields={**row.fields, _AS_WRITTEN: row.due.text})
        unit = self._unit(row, errors)
        assignee = self._assignee(row, errors)
        values = self._fields(row, errors)
        if unit is not None:
            self._check_authority(row, unit, assignee, values, errors)
        if len(row.key) > MAX_KEY:
            errors.append(RowError(row.row, None, later(
                "the 编号 is longer than {limit} characters", limit=MAX_KEY)))
        if row.subject and len(row.subject) > MAX_SUBJECT:
            errors.append(RowError(row.row, None, later(
                "the 对象 is longer than {limit} characters", limit=MAX_SUBJECT)))
        if len(errors) > before or unit is None:
            return None
        return self._item(row, unit, assignee, values)

    def _item(self, row: LedgerRow, unit: Named, assignee: str | None,
              values: dict[str, Any]) -> store.NewItem:
        spec = self.spec
        assert not isinstance(row.due, RelativeDue), "resolved in build"
        plan = self._schedule(row.due)
        item = {
            "workflow": spec.name, "workflow_version_id": self.version_id,
            "state": spec.initial, "unit_id": unit.id, "unit_path": unit.path,
            "subject": row.subject, "assignee_id": assignee, "creator_id": self.actor,
            "ext_key": row.key, "fields": values, "counts": {}, "cycle_actors": {},
            "entry_no": 1, "entered_at": self.now, "created_at": self.now,
            "final": spec.states[spec.initial].final, "closed_at": None,
            "due_at": plan.due_at, "due_provisional": plan.provisional,
            "due_override": row.due is not None and plan.due_at is not None,
            "original_due_at": plan.due_at,
        }
        written = {"due": row.fields[_AS_WRITTEN]} if _AS_WRITTEN in row.fields else {}
        history = HistoryEntry(kind="create", actor=self.actor, at=self.now, dest=spec.initial,
                               data={"fields": values,
                                     "import": {"file": self.file, "row": row.row, **written}})
        return store.NewItem(item, history, plan.steps)

    def _schedule(self, due: date | None) -> Schedule:
        """The same deadline and ladder for every row with the same 整改时限: computed once."""
        found = self._plans.get(due)
        if found is None:
            override = None if due is None else datetime.combine(
                due, time(23, 59, 59), ZoneInfo(self.spec.timezone)).astimezone(UTC)
            found = self._plans[due] = self._plan(override)
        return found

    def _unit(self, row: LedgerRow, errors: list[RowError]) -> Named | None:
        if not row.unit:
            if self.default_unit is None:
                errors.append(RowError(row.row, None, later(
                    "no 责任单位: every item needs a unit (or give --unit for the whole file)")))
                return None
            return self._may_create(row, self.default_unit, errors)
        cache_key = (row.unit, row.unit_context)
        cached = self._unit_cache.get(cache_key)
        if cached is None:
            try:
                cached = self.units.resolve(row.unit, row.unit_context)
            except Ambiguous as exc:
                cached = later("unit {ambiguous}", ambiguous=exc)
            except KeyError:
                cached = later("unit '{unit}' is not in the org (neither a unit id nor a name)",
                               unit=row.unit)
            self._unit_cache[cache_key] = cached
        if isinstance(cached, Text):
            errors.append(RowError(row.row, None, cached))
            return None
        return self._may_create(row, cached, errors)

    def _may_create(self, row: LedgerRow, unit: Named, errors: list[RowError]) -> Named | None:
        allowed = self._allowed.get(unit.id)
        if allowed is None:
            allowed = self._allowed[unit.id] = bool(self.granted & set(ancestors(unit.path)))
        if not allowed:
            errors.append(RowError(row.row, None, later(
                "{actor} holds no role at {unit} or above and so cannot create items there",
                actor=self.actor_name, unit=unit.name)))
            return None
        return unit

    def _assignee(self, row: LedgerRow, errors: list[RowError]) -> str | None:
        if not row.assignee:
            return None
        cached = self._person_cache.get(row.assignee)
        if cached is None:
            try:
                person = self.people.resolve(row.assignee)
                cached = person if person.active else later(
                    "责任人 '{person}' is no longer in the org file", person=row.assignee)
            except Ambiguous as exc:
                cached = later("责任人 {ambiguous}", ambiguous=exc)
            except KeyError:
                cached = later("责任人 '{person}' is not a person in the org file",
                               person=row.assignee)
            self._person_cache[row.assignee] = cached
        if isinstance(cached, Text):
            errors.append(RowError(row.row, None, cached))
            return None
        return cached.id

    def _fields(self, row: LedgerRow, errors: list[RowError]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, raw in row.fields.items():
            if name == _AS_WRITTEN:
                continue
            try:
                values[name] = fieldvals.coerce(self.spec, name, raw)
            except (Refused, UsageError) as exc:
                errors.append(RowError(row.row, self.spec.fields[name].label, str(exc)))
        return values
