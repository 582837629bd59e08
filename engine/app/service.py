"""The service: load -> decide (pure core) -> persist state, history, ladder and outbox at once.

One `Service` per process. It caches compiled workflow versions (they never change once stored)
and the working-day calendar; it reads the clock only through the Clock it was given, once per
use case, and passes that `now` down. Every write goes through the store's one event writer
(`store.items`); what a notice needs is read before the write (`lookups.py`), so the notices
made from it query nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core import authority
from ..core import fields as fieldvals
from ..core.calendar import WorkCalendar, parse_calendar_file
from ..core.clock import Clock
from ..core.errors import NotFound, Refusal, Refused, UnknownActor, UsageError
from ..core.escalation import Plans, Schedule
from ..core.i18n import _
from ..core.loader import load_stored_workflow, load_workflow_file, read_text
from ..core.machine import SYSTEM_ACTOR, Actor, Outcome, Request, StateGraph
from ..core.org import parse_org
from ..core.spec import WorkflowSpec
from ..store import authority as grants
from ..store import evidence as files
from ..store import items as store
from ..store import repo
from ..store.db import Connection, Engine, database_dir, read, write
from ..store.one_write import write_checked
from ..store.trips import read_then_write
from . import attachments, countersign, lookups
from .deadlines import given_due
from .records import _carried_due, _due_columns, _iso, _replace_item, _view, named_view

if TYPE_CHECKING:
    from ...notifications.notices import Notices

# How many times an advance reads and decides again when the item changed under it before
# giving up with a Conflict: each time, someone else's change to the same item has landed.
ADVANCE_ATTEMPTS = 5


@dataclass(frozen=True)
class Compiled:
    version: repo.VersionRow
    spec: WorkflowSpec
    graph: StateGraph


@lru_cache(maxsize=64)
def _compile(source: str, file: str) -> tuple[WorkflowSpec, StateGraph]:
    spec = load_stored_workflow(source, file)
    return spec, StateGraph(spec)


class Service:
    def __init__(self, engine: Engine, clock: Clock, *,
                 notices: Notices | Callable[[], Notices] | None = None,
                 files_dir: Path | None = None) -> None:
        """`notices` may be a function that makes them, called when they are first needed."""
        self.engine = engine
        self.clock = clock
        self._notices = notices
        self._files_dir = files_dir
        self._compiled: dict[int, Compiled] = {}
        self._calendar: WorkCalendar | None = None
        self._plans: Plans | None = None
        self.os_user: str | None = None  # the OS account behind the CLI, kept on its rows

    def entry(self, kind: str, actor: str, at: datetime, *, via: str = "cli",
              **content: Any) -> store.HistoryEntry:
        """A history entry with how the actor came: `via`, and the OS account on the CLI."""
        return store.HistoryEntry(kind, actor, at, via=via,
                                  os_user=self.os_user if via == "cli" else None, **content)

    @property
    def files_dir(self) -> Path:
        """The evidence store: as given (RECTIFY_FILES), else beside a SQLite file. A
        PostgreSQL database has no "beside": hosts sharing it would each keep their own folder
        and never see each other's evidence, so there it must be given (issue 18)."""
        if self._files_dir is None:
            if self.engine.url.get_backend_name() != "sqlite":
                raise UsageError(_("the database is PostgreSQL: set RECTIFY_FILES to the "
                                   "evidence folder that every host using it shares"))
            self._files_dir = database_dir(self.engine) / "rectify-files"
        return self._files_dir

    @cached_property
    def notices(self) -> Notices:
        # Imported here: notices bring Jinja2 and the templates, which `item show` never needs.
        from ...notifications.notices import Notices

        if self._notices is None:
            return Notices.default()
        return self._notices() if callable(self._notices) else self._notices

    # --- workflows, org, calendar ---------------------------------------------------------------

    def load_workflow(self, path: Path) -> tuple[repo.VersionRow, bool]:
        spec = load_workflow_file(path, templates=partial(self.notices.template_names, path.parent))
        self.notices.check_templates(spec, path.parent)
        with write(self.engine) as conn:
            return repo.register_workflow(conn, spec.name, path.read_text("utf-8"), str(path),
                                          self.clock.now())

    def load_org(self, path: Path) -> repo.OrgChanges:
        org = parse_org(read_text(path), str(path))
        with write(self.engine) as conn:
            return repo.load_org(conn, org)

    def load_calendar(self, path: Path) -> tuple[list[int], int]:
        """Store the years in the file and recompute provisional deadlines they now cover."""
        now = self.clock.now()
        years = parse_calendar_file(read_text(path), str(path))
        with write(self.engine) as conn:
            repo.load_calendar(conn, years)
        self._calendar = None
        from .deadlines import recompute_provisional

        return sorted(years), recompute_provisional(self, now=now)

    def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            with read(self.engine) as conn:
                self._calendar = WorkCalendar(repo.calendar_overrides(conn))
        return self._calendar

    def plans(self) -> Plans:
        """Deadlines and ladders computed once per (version, state, entry): a batch's items
        share them. Made afresh when the calendar is reloaded."""
        calendar = self.calendar()
        if self._plans is None or self._plans.calendar is not calendar:
            self._plans = Plans(calendar)
        return self._plans

    def compiled(self, conn: Connection, version_id: int) -> Compiled:
        found = self._compiled.get(version_id)
        if found is None:
            version = repo.workflow_by_id(conn, version_id)
            spec, graph = _compile(version.source, version.file)
            found = self._compiled[version_id] = Compiled(version, spec, graph)
        return found

    def latest(self, conn: Connection, workflow: str) -> Compiled:
        version = repo.latest_workflow(conn, workflow)
        assert version is not None
        return self.compiled(conn, version.id)

    # --- actors ---------------------------------------------------------------------------------

    def actor(self, conn: Connection, person_id: str | None, unit_path: str) -> Actor:
        person_id = _acting(person_id)
        return _actor(person_id, *repo.person_with_roles(conn, person_id, unit_path))

    def actor_of(self, person_id: str | None, person: repo.PersonRow | None,
                 roles: frozenset[str]) -> Actor:
        """The acting person, from their row and roles as a read found them."""
        return _actor(_acting(person_id), person, roles)

    # --- items ----------------------------------------------------------------------------------

    def new_item(self, actor_id: str | None, workflow: str, unit_id: str, *,
                 subject: str | None = None, assignee: str | None = None,
                 due: str | None = None, values: Mapping[str, object] | None = None,
                 ext_key: str | None = None, conn: Connection | None = None,
                 via: str = "cli") -> int:
        if conn is None:
            with write(self.engine) as conn:
                return self.new_item(actor_id, workflow, unit_id, subject=subject,
                                     assignee=assignee, due=due, values=values,
                                     ext_key=ext_key, conn=conn, via=via)
        now = self.clock.now()
        compiled = self.latest(conn, workflow)
        spec = compiled.spec
        unit = repo.unit(conn, unit_id)
        actor = self.actor(conn, actor_id, unit.path)
        if not actor.roles:
            raise Refused(_("{person} holds no role at {unit} or above and so "
                            "cannot create items there").format(
                              person=actor.name, unit=unit.name), reason=Refusal.ROLE)
        self._check_assignee(conn, assignee)
        given = fieldvals.coerce_all(spec, values or {})
        if refusal := authority.creation_refusal(spec, actor, given, assignee, due):
            raise refusal
        override = given_due(due, spec, now)
        plan = self._plan(spec, spec.initial, now, override)
        item_values = {
            "workflow": spec.name, "workflow_version_id": compiled.version.id,
            "state": spec.initial, "unit_id": unit.id, "unit_path": unit.path,
            "subject": subject, "assignee_id": assignee, "creator_id": actor.id,
            "ext_key": ext_key, "fields": given,
            "counts": {}, "cycle_actors": {}, "entry_no": 1, "entered_at": now,
            "created_at": now, "final": spec.states[spec.initial].final,
            **_due_columns(plan, override is not None),
        }
        entry = self.entry("create", actor.id, now, via=via, dest=spec.initial,
                           data={"fields": item_values["fields"]})
        return store.insert_item(conn, item_values, entry, plan.steps)

    def advance(self, item_id: int, actor_id: str | None, trigger: str, *,
                values: Mapping[str, object] | None = None, comment: str | None = None,
                attach: Sequence[Path] = (), via: str = "cli", hidden: bool = False) -> Outcome:
        """`hidden`: an item the actor may not see (no role at its unit or above, the rule of
        engine/app/access.py) is NotFound, as if it did not exist (the API's reading), told by
        the advance's own read."""
        now = self.clock.now()
        actor_id = _acting(actor_id)
        if attach:  # the decision first, on placeholders: a refusal copies no byte (issue 18)
            self._decide_before_copy(item_id, actor_id, trigger, values, comment, attach, now)
        # Then the files are copied, before the write (content-addressed: an advance that fails
        # after this leaves at most an unreferenced file, never a reference to a missing one).
        stored = attachments.unique([files.store_file(self.files_dir, p) for p in attach])
        # Read, decide, write. The item is read without a lock and written only if it is still
        # as read (on PostgreSQL a round trip each, store/one_write.py); if someone changed it
        # in between, nothing was written, and the advance reads it again and decides again on
        # what they left, as a lock wait would have had it: refused, or allowed by the rules.
        for _attempt in range(ADVANCE_ATTEMPTS):
            with read_then_write(self.engine) as conn:
                item, person, roles = store.item_and_person(conn, item_id, actor_id)
                if hidden and not roles:
                    raise NotFound("item", item_id)
                compiled = self.compiled(conn, item.workflow_version_id)
                outcome = self._fire(conn, compiled, item, _actor(actor_id, person, roles),
                                     trigger, values, comment, stored, now)
                directory = self.transition_lookups(conn, compiled.spec, item, outcome)
                if write_checked(conn, self.transition_write(directory, compiled, item, outcome,
                                                             stored, via=via)):
                    return outcome
        raise store.changed(item_id)

    def _decide_before_copy(self, item_id: int, actor_id: str, trigger: str,
                            values: Mapping[str, object] | None, comment: str | None,
                            attach: Sequence[Path], now: datetime) -> None:
        """Refused (role, state, guard …) as the advance itself would be, with the files
        standing in as placeholders, so nothing reaches the store for a refused advance."""
        with read(self.engine) as conn:
            item, person, roles = store.item_and_person(conn, item_id, actor_id)
            self._fire(conn, self.compiled(conn, item.workflow_version_id), item,
                       _actor(actor_id, person, roles), trigger, values, comment,
                       attachments.placeholders(attach), now)

    def _fire(self, conn: Connection, compiled: Compiled, item: store.ItemRecord, actor: Actor,
              trigger: str, values: Mapping[str, object] | None, comment: str | None,
              stored: Sequence[files.StoredFile], now: datetime) -> Outcome:
        """The advance's decision on the item as read (Refused if it may not)."""
        spec = compiled.spec
        given = fieldvals.coerce_all(spec, values or {})
        if stored:
            given = attachments.with_attachments(spec, item, trigger, given, stored)
        request = Request(trigger, given, comment)
        view = countersign.with_signatures(conn, spec, item, _view(item, None))
        try:
            return compiled.graph.fire(view, actor, request, now)
        except Refused as refused:
            # A refusal that names the unit or a person: look the names up on that rare path.
            named = named_view(conn, view, item, refused.reason, {})
            if named is None:
                raise
            return compiled.graph.fire(named, actor, request, now)

    def fire_as_system(self, conn: Connection, item: store.ItemRecord, trigger: str,
                       comment: str, *, now: datetime | None = None) -> Outcome:
        """An escalation's `fire`: the system actor, inside the caller's transaction, at the
        caller's `now` (a sweep's: the escalation and the transition it fires share it)."""
        compiled = self.compiled(conn, item.workflow_version_id)
        outcome = self.decide_as_system(compiled, item, trigger, comment,
                                        self.clock.now() if now is None else now)
        directory = self.transition_lookups(conn, compiled.spec, item, outcome)
        store.apply_write(conn, self.transition_write(directory, compiled, item, outcome))
        return outcome

    def decide_as_system(self, compiled: Compiled, item: store.ItemRecord, trigger: str,
                         comment: str, now: datetime) -> Outcome:
        """What firing `trigger` as the system does to the item (Refused if it may not)."""
        return compiled.graph.fire(_view(item, None), SYSTEM_ACTOR,
                                   Request(trigger, {}, comment), now)

    def transition_lookups(self, conn: Connection, spec: WorkflowSpec, item: store.ItemRecord,
                           outcome: Outcome) -> lookups.Lookups | None:
        """What the transition's notices read, read now; None when it tells nobody."""
        return lookups.for_transitions(conn, [(spec, item, outcome)])

    # --- writes ---------------------------------------------------------------------------------

    def transition_write(self, directory: lookups.Lookups | None, compiled: Compiled,
                         item: store.ItemRecord, outcome: Outcome,
                         stored: Sequence[files.StoredFile] = (), *,
                         via: str = "cli") -> store.ItemWrite:
        """Everything a decided transition changes: the item, its history row, its new ladder,
        attachments and notices (made from `directory`: what `transition_lookups` read). Applied
        alone (`advance`) or with many others (`bulk`, a sweep)."""
        if outcome.signed is not None:  # 会签 not complete yet: a signature row, nothing moves
            return countersign.signature_write(self, item, outcome, via)
        spec, now = compiled.spec, outcome.at
        dest = spec.states[outcome.dest]
        carried = _carried_due(spec, item, dest.final)
        plan = self._plan(spec, outcome.dest, now, carried)
        # the files that add to the item: one already in its field is not attached again
        attached = attachments.attached_fields(outcome, stored)
        values = {
            "state": outcome.dest, "fields": dict(outcome.fields), "counts": outcome.counts,
            "cycle_actors": outcome.cycle_actors, "entry_no": item.entry_no + 1,
            "entered_at": now, "final": dest.final, "closed_at": now if dest.final else None,
            **_due_columns(plan, carried is not None),
        }
        entry = self.entry(
            "transition", outcome.actor, now, via=via, trigger=outcome.transition.trigger,
            source=outcome.source, dest=outcome.dest, comment=outcome.comment,
            data={"changes": {k: list(v) for k, v in outcome.changes.items()},
                  "attachments": [f.record() for _, f in attached]})
        outbox = []
        if lookups.notifies(spec, outcome):  # most do not: then no notices are made
            assert directory is not None, "read them first: transition_lookups"
            after = _replace_item(item, values)
            outbox = self.notices.for_transition(directory, spec, after, outcome, item.last_seq + 1)
        return store.ItemWrite(
            item=item, values=values, history=entry, steps=plan.steps, outbox=outbox,
            attachments=[f.row(field, now) for field, f in attached])

    def assign(self, item_id: int, actor_id: str | None, person: str,
               due: str | None = None, *, comment: str | None = None,
               via: str = "cli") -> None:
        now = self.clock.now()
        with write(self.engine) as conn:
            item = store.get_item(conn, item_id)
            compiled = self.compiled(conn, item.workflow_version_id)
            actor = self.actor(conn, actor_id, item.unit_path)
            override = given_due(due, compiled.spec, now)  # unreadable or past: a usage error
            if refusal := authority.assignment_refusal(compiled.spec, actor, item.assignee_id,
                                                       person, due, comment, repo.unit(
                                                           conn, item.unit_id).name):
                raise refusal
            self._check_assignee(conn, person, item.unit_path)
            values: dict[str, Any] = {"assignee_id": person}
            plan = None if override is None else self._plan(
                compiled.spec, item.state, item.entered_at, override)
            if plan is not None:  # the report still judges by the entry's own deadline
                values.update(_due_columns(plan, True), original_due_at=item.original_due_at)
            entry = self.entry("assign", actor.id, now, via=via, comment=comment, data={
                "assignee": [item.assignee_id, person],
                "due_at": [_iso(item.due_at), _iso(values.get("due_at", item.due_at))]})
            after = _replace_item(item, values)
            directory = lookups.read(conn, lookups.wanted().item(after, ("assignee",), actor.id))
            outbox = self.notices.for_assignment(directory, compiled.spec, after, actor,
                                                 item.last_seq + 1, now)
            store.apply_write(conn, store.ItemWrite(item=item, values=values, history=entry,
                                                    outbox=outbox,
                                                    replan=None if plan is None else plan.steps))

    def _check_assignee(self, conn: Connection, person: str | None,
                        unit_path: str | None = None) -> None:
        """A person of the org file, at the item's unit, above or below it (else: 转办)."""
        if person is None:
            return
        found = repo.person(conn, person)
        if found is None or not found.active:
            raise Refused(_("cannot assign to '{person}': not a person in the org "
                            "file").format(person=person),
                          reason=Refusal.ROLE)
        if unit_path is not None and not grants.serves(conn, person, unit_path):
            raise Refused(_("cannot assign to {name} ({person}): they hold no role "
                            "at this item's unit, above or below it (rectify item "
                            "transfer moves items between units)").format(
                              name=found.name, person=person), reason=Refusal.ROLE)

    def _plan(self, spec: WorkflowSpec, state: str, entered: datetime,
              override: datetime | None) -> Schedule:
        return self.plans().schedule(spec, state, entered, override)


def _acting(person_id: str | None) -> str:
    """Who says they are acting, refused before any read if nobody or the system."""
    if not person_id:
        raise UsageError(_("say who is acting: --as PERSON (a person id or name from the org "
                           "file), or set RECTIFY_USER"))
    if person_id == SYSTEM_ACTOR.id:
        raise Refused(_("'system' is the engine's own actor; act as a person"), reason=Refusal.ROLE)
    return person_id


def _actor(person_id: str, person: repo.PersonRow | None, roles: frozenset[str]) -> Actor:
    if person is None or not person.active:
        raise UnknownActor(person_id)
    return Actor(person.id, roles, person.name)

