"""Engine events -> outbox rows: who is told, on which channels, with which context.

Notices decide; the store stores; the dispatcher renders. A use case asks what its event's
notices will look up (`Wanted`), reads those people, units and role holders before it writes
(`store.repo.read_directory`), and hands them here; the rows made here go into the outbox with
the event (the one event writer), so a notification exists exactly when its event does. Nothing
here queries the database. Recipients named in the workflow (`assignee`, `creator`, a role) are
resolved here: a role means its nearest holders at the item's unit or the closest unit above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from ..engine.core.errors import InvalidInput, Problem
from ..engine.core.i18n import _
from .context import item_context, sample_context
from .message import Notification, Recipient

# The workflow's modules, the org's (with YAML) and the field types are loaded when notices
# are made, not with this module: `outbox dispatch` only routes with it (a fiftieth of a second).
if TYPE_CHECKING:
    from ..engine.core.spec import EscalationStep, WorkflowSpec

PEOPLE_NAMES = ("assignee", "creator")  # notify names that are the item's people, not roles


class Lookups(Protocol):
    """What notices read, already read by the use case (store.repo.Directory): people (id,
    name, email, mobile, active), units (id, name) and the nearest holders of a role."""

    derived: dict[Any, Any]  # answers derived from the lookups, kept with them

    def person(self, person_id: str) -> Any: ...

    def unit(self, unit_id: str) -> Any: ...

    def holders(self, role: str, unit_path: str) -> Sequence[Any]: ...


class Wanted:
    """The people, units and (role, unit path) pairs an event's notices will look up: the use
    case reads them (store.repo.read_directory) before it writes."""

    def __init__(self) -> None:
        self.people: set[str] = set()
        self.units: set[str] = set()
        self.roles: set[tuple[str, str]] = set()

    def item(self, item: Any, notify: Iterable[str] = (), actor: str | None = None) -> Wanted:
        """What a notice about `item` to `notify`, by `actor`, reads: its unit and assignee
        (templates show them), the people and role holders it is addressed to."""
        self.units.add(item.unit_id)
        if item.assignee_id:
            self.people.add(item.assignee_id)
        if actor:
            self.people.add(actor)
        for name in notify:
            if name == "creator":
                self.people.add(item.creator_id)
            elif name != "assignee":
                self.roles.add((name, item.unit_path))
        return self

    def transition(self, spec: WorkflowSpec, item: Any, outcome: Any) -> Wanted:
        """What `Notices.for_transition` reads for `item` (as the transition leaves it)."""
        t, dest = outcome.transition, spec.states[outcome.dest]
        for template, notify in ((t.template, t.notify), (dest.template, dest.notify)):
            if template and notify:
                self.item(item, notify, outcome.actor)
        return self

    def step(self, item: Any, step: EscalationStep) -> Wanted:
        """What `Notices.for_step` reads."""
        if step.notify:
            self.item(item, step.notify)
        return self


class Notices:
    def __init__(self, routes: Mapping[str, tuple[str, ...] | None], *,
                 base_url: str | None = None) -> None:
        self.routes = dict(routes)  # channel name -> its units (None: a personal channel)
        # `[web] base_url`: notices link to the item's page (the login page comes first when
        # needed). Only the address: nothing secret may go into a group robot's message.
        self.base_url = base_url.rstrip("/") if base_url else None
        self._group_channels = any(units is not None for units in self.routes.values())
        self._routed: dict[tuple[bool, str | None], list[str]] = {}

    @classmethod
    def default(cls) -> Notices:
        return cls({"log": None})

    @classmethod
    def from_settings(cls, settings: Any) -> Notices:
        web = getattr(settings, "web", None)
        return cls({name: c.units for name, c in settings.channels.items()},
                   base_url=getattr(web, "base_url", None))

    # --- load-time checks -----------------------------------------------------------------------

    # Jinja2 is imported by these load-time checks, not by making notices: a sweep only stores
    # contexts, and the dispatcher renders them.
    def template_names(self, workflow_dir: Path, templates_dir: str | None) -> set[str]:
        from .render import template_names

        return template_names(_extra_dir(workflow_dir, templates_dir))

    def check_templates(self, spec: WorkflowSpec, workflow_dir: Path) -> None:
        """Render every template the workflow names with a sample: fail at load, not at 3 a.m."""
        from .render import check_template

        extra = _extra_dir(workflow_dir, spec.templates_dir)
        sample_fields = {f.label: f"示例{f.label}" for f in spec.fields.values() if not f.private}
        problems = []
        for name, loc, escalation in _templates_used(spec):
            context = sample_context(name, fields=sample_fields, workflow_title=spec.title,
                                     escalation=escalation)
            for message in check_template(name, context, extra_dir=extra):
                problems.append(Problem(loc, _("template '{name}' does not render: "
                                               "{message}").format(
                                                 name=name, message=message)))
        if problems:
            raise InvalidInput(problems, source=spec.file)

    # --- events ---------------------------------------------------------------------------------

    def for_transition(self, directory: Lookups, spec: WorkflowSpec, item: Any, outcome: Any,
                       seq: int) -> list[dict[str, Any]]:
        rows = []
        t = outcome.transition
        if t.template and t.notify:
            rows += self._rows(directory, spec, item, key=f"item:{item.id}:h{seq}:t",
                               template=t.template, notify=t.notify, now=outcome.at,
                               comment=outcome.comment, actor=outcome.actor)
        dest = spec.states[outcome.dest]
        if dest.template and dest.notify:
            rows += self._rows(directory, spec, item, key=f"item:{item.id}:h{seq}:s",
                               template=dest.template, notify=dest.notify, now=outcome.at,
                               comment=outcome.comment, actor=outcome.actor)
        return rows

    def for_assignment(self, directory: Lookups, spec: WorkflowSpec, item: Any, actor: Any,
                       seq: int, now: datetime) -> list[dict[str, Any]]:
        """The notice to the new assignee (read: `Wanted().item(item, ("assignee",), actor)`)."""
        return self._rows(directory, spec, item, key=f"item:{item.id}:h{seq}:a",
                          template="assignment", notify=("assignee",), now=now,
                          actor=actor.id)

    def for_event(self, directory: Lookups, spec: WorkflowSpec, item: Any, *, key: str,
                  template: str, notify: Sequence[str], now: datetime,
                  comment: str | None = None, actor: str | None = None
                  ) -> list[dict[str, Any]]:
        """The notice of another item event (延期申请, 转办, 催办 ...): `key` makes it unique
        (read: `Wanted().item(item, notify, actor)`)."""
        return self._rows(directory, spec, item, key=key, template=template, notify=notify,
                          now=now, comment=comment, actor=actor)

    def for_step(self, directory: Lookups, spec: WorkflowSpec, item: Any, step: EscalationStep,
                 entry_no: int, late: bool, now: datetime,
                 due: datetime, refused: str | None = None) -> list[dict[str, Any]]:
        """The notice of an escalation step applied at `now` that was due at `due`.
        `refused`: why the step's `fire` could not be taken; the notice then says so and who
        must act, in place of the step's own template (which tells of a transition made)."""
        if not step.notify:
            return []
        context = {"level": step.level, "at": _local(due, spec), "late": late,
                   "fired": _fired(spec, step)}
        template = step_template(step)
        if refused is not None:
            template = "escalation_refused"
            context |= {"refused": refused, "who": _who_may(spec, item.state, step.fire)}
        return self._rows(directory, spec, item, key=f"item:{item.id}:e{entry_no}:s{step.index}",
                          template=template, notify=step.notify, now=now, step=context)

    def _rows(self, directory: Lookups, spec: WorkflowSpec, item: Any, *, key: str,
              template: str, notify: Sequence[str], now: datetime, comment: str | None = None,
              actor: str | None = None, step: Mapping[str, Any] | None = None,
              ) -> list[dict[str, Any]]:
        """Outbox rows of an item event, rendered when sent: the context is fixed now, so a
        retry sends what the event decided; rendering (the costly part) is off the event's
        transaction, which for a sweep is thousands of notices long."""
        to = _addressed(directory, notify, item)
        context = item_context(
            item_for_templates(directory, spec, item), now=_local(now, spec), step=step,
            comment=comment, actor_name=_name(directory, actor), recipients=to.names,
            complete=True, item_url=f"{self.base_url}/items/{item.id}" if self.base_url else None)
        extra = _workflow_templates(spec.file, spec.templates_dir)
        fold = fold_key(now, to.stored) if step and step["late"] else None
        return [{"dedupe_key": f"{key}:{channel}", "channel": channel, "template": template,
                 "item_id": item.id, "unit_id": item.unit_id, "recipients": to.stored,
                 "subject": None, "body_text": None, "body_markdown": None, "data": context,
                 "templates_dir": extra, "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now, "fold_key": fold}
                for channel in self.channels_for(bool(to.names), item.unit_path)]

    def rows(self, note: Notification, unit_path: str | None,
             now: datetime) -> list[dict[str, Any]]:
        """Outbox rows of a rendered notification (digests, reports)."""
        return [outbox_row(note, channel, now)
                for channel in self.channels_for(bool(note.recipients), unit_path)]

    def channels_for(self, has_recipients: bool, unit_path: str | None) -> list[str]:
        """Personal channels when there are recipients, group channels when the item's unit
        lies under one of theirs."""
        key = (has_recipients, unit_path)
        found = self._routed.get(key)
        if found is None:  # a sweep asks for the same few units thousands of times
            from ..engine.core.org import ancestors

            chain = set(ancestors(unit_path)) if unit_path and self._group_channels else set()
            found = self._routed[key] = [
                channel for channel, units in self.routes.items()
                if (units is None and has_recipients) or (units is not None
                                                          and set(units) & chain)]
        return found


def resolve(directory: Lookups, notify: Iterable[str], item: Any) -> list[Recipient]:
    """Recipients for `assignee`, `creator` and role names; each person once."""
    found: dict[str, Any] = {}
    for name in notify:
        people: Sequence[Any]
        if name in PEOPLE_NAMES:
            pid = item.assignee_id if name == "assignee" else item.creator_id
            person = directory.person(pid) if pid else None
            people = [person] if person and person.active else []
        else:
            people = directory.holders(name, item.unit_path)
        for p in people:
            found.setdefault(p.id, p)
    return [Recipient(p.id, p.name, p.email, p.mobile) for p in found.values()]


class _Addressed(NamedTuple):
    names: list[str]  # for the template context
    stored: dict[str, Any]  # the outbox row's recipients column


def _addressed(directory: Lookups, notify: Sequence[str], item: Any) -> _Addressed:
    """`resolve`, remembered for the transaction: a sweep's thousands of notices go to the
    same few people."""
    key = ("notice-recipients", tuple(notify), item.assignee_id, item.creator_id,
           item.unit_path)
    found = directory.derived.get(key)
    if found is None:
        people = resolve(directory, notify, item)
        found = directory.derived[key] = _Addressed(
            [p.name for p in people], {"people": [p.__dict__ for p in people]})
    return found


def outbox_row(note: Notification, channel: str, now: datetime) -> dict[str, Any]:
    return {
        "dedupe_key": f"{note.key}:{channel}", "channel": channel, "template": note.template,
        "item_id": note.item_id, "unit_id": note.unit,
        "recipients": {"people": [r.__dict__ for r in note.recipients]},
        "subject": note.subject, "body_text": note.text, "body_markdown": note.markdown,
        "data": _jsonable(note.data), "templates_dir": None, "status": "pending", "attempts": 0,
        "next_attempt_at": now, "created_at": now, "fold_key": None,
    }


def fold_key(now: datetime, recipients: Mapping[str, Any]) -> str:
    """The key shared by the late step notices of one sweep (one `now`) to the same people: the
    dispatcher sends them as one message per channel (notifications/fold.py)."""
    from hashlib import sha256

    people = ",".join(sorted(p["person_id"] for p in recipients.get("people", ())))
    return f"late:{now.isoformat()}:{sha256(people.encode()).hexdigest()[:20]}"


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def step_template(step: EscalationStep) -> str:
    """The template a step sends: its own, or the one that says what the step is — before the
    deadline a reminder (即将到期), at or after it an overdue notice naming the step's `level`
    (督办, 约谈, 问责 ...), and for a step that fires a transition the notice of what it fired."""
    if step.template:
        return step.template
    if step.fire:
        return "escalation_fired"
    return "reminder" if step.at.amount < 0 else "overdue"


def _fired(spec: WorkflowSpec, step: EscalationStep) -> str | None:
    """What a `fire` step fired, as staff read it: the transition's label, else its trigger."""
    if not step.fire:
        return None
    labels = [t.label for t in spec.transitions if t.trigger == step.fire and t.label]
    return labels[0] if labels else step.fire


def _who_may(spec: WorkflowSpec, state: str, trigger: str | None) -> str | None:
    """Who may fire `trigger` from `state` by hand, by their roles' labels (分管领导、验收人);
    None when the workflow has no such transition there (an administrator must look)."""
    roles = dict.fromkeys(spec.role_label(r) for t in spec.transitions
                          if t.trigger == trigger and state in t.sources for r in t.roles)
    return "、".join(roles) or None


def summary(spec: WorkflowSpec, fields: Mapping[str, Any], length: int = 20) -> str | None:
    """The item's short description for subjects and digest lines: its first public text field
    with a value, on one line, cut at `length` characters."""
    for name, field in spec.fields.items():
        value = fields.get(name)
        if field.type == "text" and not field.private and isinstance(value, str) and value.strip():
            line = " ".join(value.split())
            return line if len(line) <= length else line[:length - 1] + "…"
    return None


def item_for_templates(directory: Lookups, spec: WorkflowSpec, item: Any) -> dict[str, Any]:
    """The item as templates see it: labels, local times, and never a private field (reads
    what `Wanted().item(item)` names)."""
    from ..engine.core.fields import display

    assignee = directory.person(item.assignee_id) if item.assignee_id else None
    fields = item.fields
    return {
        "id": item.id, "workflow": spec.name, "workflow_title": spec.title,
        "state": item.state, "state_label": spec.state_label(item.state),
        "unit": item.unit_id, "unit_name": directory.unit(item.unit_id).name,
        "assignee_name": assignee.name if assignee else None,
        "due_at": _local(item.due_at, spec) if item.due_at else None,
        "subject": item.subject, "summary": summary(spec, fields),
        "fields": {label: display(value) for name, label in spec.public_fields
                   if (value := fields.get(name)) not in (None, "", [])},
    }


def _local(at: datetime, spec: WorkflowSpec) -> str:
    return _local_time(at, spec.timezone)


@lru_cache(maxsize=4096)
def _local_time(at: datetime, timezone: str) -> str:
    """Cached: a sweep stamps thousands of notices with the same few times."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


@lru_cache(maxsize=64)
def _workflow_templates(workflow_file: str, templates_dir: str | None) -> str | None:
    extra = _extra_dir(Path(workflow_file).parent, templates_dir)
    return str(extra) if extra else None


def _name(directory: Lookups, person_id: str | None) -> str | None:
    if person_id is None:
        return None
    person = directory.person(person_id)
    return person.name if person else person_id


def _extra_dir(workflow_dir: Path, templates_dir: str | None) -> Path | None:
    if not templates_dir:
        return None
    path = Path(templates_dir)
    return path if path.is_absolute() else workflow_dir / path


def _templates_used(spec: WorkflowSpec) -> list[tuple[str, Any, bool]]:
    """(template, where it is named, whether it is rendered for an escalation step)."""
    used = [(t.template, t.at("template"), False) for t in spec.transitions if t.template]
    for state in spec.states.values():
        if state.template:
            used.append((state.template, state.loc, False))
        # A notify step without a template sends its default: check that one too.
        used += [(step_template(s), s.loc, True) for s in state.escalate
                 if s.template or s.notify]
    return used
