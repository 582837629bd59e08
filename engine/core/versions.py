"""Changing a workflow under running items: what differs between two versions, and how each
in-flight item moves to the new one. Pure: specs, counts and one item's facts in, decisions out.

`diff_specs` compares two versions state by state, edge by edge and field by field.
`plan_states` says, for each group of items (version, state), where it goes under an
admin's `--map OLD=NEW` (read and checked in `state_map.py`) or why it cannot. `move_item`
decides one item's new fields, deadline and pending ladder; `migrator.py` reads and writes the
rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from . import fields as fieldvals
from .calendar import WorkCalendar
from .errors import Refusal, Refused, UsageError
from .escalation import Schedule, schedule
from .i18n import _, ngettext
from .spec import EscalationStep, FieldSpec, StateSpec, TransitionSpec, WorkflowSpec

# --- diff -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One difference between two versions. `details` are (what, old, new) as display text;
    `touches` says which in-flight items of the old version it concerns: ("state", name),
    ("field", name) — items with a value in it — ("all", "") or None (none)."""

    kind: str  # workflow, role, field, state, transition
    change: str  # added, removed, changed
    name: str
    label: str
    details: tuple[tuple[str, str, str], ...] = ()
    touches: tuple[str, str] | None = None


def diff_specs(old: WorkflowSpec, new: WorkflowSpec) -> tuple[Change, ...]:
    """Every difference from `old` to `new`, in a stable order (the new file's order first)."""
    return (*_workflow_changes(old, new), *_role_changes(old, new), *_field_changes(old, new),
            *_state_changes(old, new), *_transition_changes(old, new))


def touched(change: Change, states: Mapping[str, int], fields: Mapping[str, int],
            total: int) -> int:
    """How many in-flight items of the old version a change concerns, from their counts."""
    if change.touches is None:
        return 0
    scope, name = change.touches
    if scope == "all":
        return total
    return (states if scope == "state" else fields).get(name, 0)


def _compare(pairs: Iterable[tuple[str, Any, Any]]) -> tuple[tuple[str, str, str], ...]:
    return tuple((what, _text(a), _text(b)) for what, a, b in pairs if a != b)


def _text(value: Any) -> str:
    if value is None or value == ():
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _keyed(kind: str, old: Mapping[str, Any], new: Mapping[str, Any],
           label: Callable[[Any], str], attrs: Callable[[Any], list[tuple[str, Any]]],
           touches: Callable[[str], tuple[str, str] | None]) -> list[Change]:
    """Added, removed and changed entries of two name -> spec mappings."""
    out = []
    for name in [*new, *(n for n in old if n not in new)]:
        a, b = old.get(name), new.get(name)
        if a is None:
            out.append(Change(kind, "added", name, label(b)))
        elif b is None:
            out.append(Change(kind, "removed", name, label(a), touches=touches(name)))
        elif details := _compare((w, x, y) for (w, x), (_, y) in zip(attrs(a), attrs(b),
                                                                        strict=True)):
            out.append(Change(kind, "changed", name, label(b), details,
                              touches(name)))
    return out


def _workflow_changes(old: WorkflowSpec, new: WorkflowSpec) -> list[Change]:
    details = _compare([("title", old.title, new.title), ("initial", old.initial, new.initial),
                        ("timezone", old.timezone, new.timezone),
                        ("calendar", old.calendar, new.calendar),
                        ("templates", old.templates_dir, new.templates_dir)])
    # Days are counted in the timezone and calendar: every deadline may move.
    clock = any(d[0] in ("timezone", "calendar") for d in details)
    return [Change("workflow", "changed", new.name, new.title, details,
                   ("all", "") if clock else None)] if details else []


def _role_changes(old: WorkflowSpec, new: WorkflowSpec) -> list[Change]:
    return _keyed("role", old.roles, new.roles, str, lambda label: [("label", label)],
                  lambda name: None)


def _field_attrs(f: FieldSpec) -> list[tuple[str, Any]]:
    return [("type", f.type), ("label", f.label), ("choices", f.choices),
            ("private", f.private), ("mask", f.mask)]


def _field_changes(old: WorkflowSpec, new: WorkflowSpec) -> list[Change]:
    return _keyed("field", old.fields, new.fields, lambda f: f.label, _field_attrs,
                  lambda name: ("field", name))


def _state_attrs(s: StateSpec) -> list[tuple[str, Any]]:
    return [("label", s.label), ("final", s.final), ("deadline", s.deadline),
            ("escalate", tuple(step_text(e) for e in s.escalate)), ("public", s.public),
            ("entry notice", _notice(s.template, s.notify))]


def _notice(template: str | None, notify: tuple[str, ...]) -> str | None:
    if not template and not notify:
        return None
    return f"{template or '—'} → {'/'.join(notify) or '—'}"


def _state_changes(old: WorkflowSpec, new: WorkflowSpec) -> list[Change]:
    return _keyed("state", old.states, new.states, lambda s: s.label, _state_attrs,
                  lambda name: ("state", name))


def step_text(step: EscalationStep) -> str:
    """`-2 workdays 提醒 → assignee`, `+5 workdays 问责: fire hold_accountable`."""
    at = "deadline" if step.at.amount == 0 else f"{'+' if step.at.amount > 0 else ''}{step.at}"
    text = f"{at} {step.level or step.template or 'notify'}"
    if step.notify:
        text += " → " + "/".join(step.notify)
    if step.fire:
        text += f": fire {step.fire}"
    return text


@dataclass(frozen=True)
class _Edge:
    trigger: str
    source: str
    nth: int  # among edges with this trigger and source, in file order
    spec: TransitionSpec


def _edges(spec: WorkflowSpec) -> dict[str, _Edge]:
    seen: Counter[tuple[str, str]] = Counter()
    out = {}
    for t in spec.transitions:
        for source in t.sources:
            nth = seen[(t.trigger, source)]
            seen[(t.trigger, source)] += 1
            name = f"{t.trigger} from {source}" + (f" #{nth + 1}" if nth else "")
            out[name] = _Edge(t.trigger, source, nth, t)
    return out


def _edge_attrs(e: _Edge) -> list[tuple[str, Any]]:
    t = e.spec
    return [("dest", t.dest), ("label", t.label), ("roles", t.roles), ("actor", t.actor),
            ("not_actor_of", t.not_actor_of), ("requires", t.requires),
            ("comment", "required" if t.comment_required else None), ("when", t.when),
            ("notice", _notice(t.template, t.notify))]


def _transition_changes(old: WorkflowSpec, new: WorkflowSpec) -> list[Change]:
    a, b = _edges(old), _edges(new)
    sources = {**{n: e.source for n, e in a.items()}, **{n: e.source for n, e in b.items()}}
    changes = _keyed("transition", a, b, lambda e: e.spec.label or e.trigger, _edge_attrs,
                     lambda name: ("state", sources[name]))
    # An added edge changes what items already in its source state may do next.
    return [replace(c, touches=("state", sources[c.name])) if c.change == "added" else c
            for c in changes]


# --- which group of items goes where ----------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """In-flight items of one version in one state (a census row)."""

    version: int
    state: str
    items: int


@dataclass(frozen=True)
class StateMove:
    version: int
    source: str
    source_label: str
    dest: str | None  # None: the target has no such state and no --map says where
    dest_label: str | None
    items: int
    mapped: bool  # by --map
    problem: str | None = None  # why these items cannot move


def plan_states(groups: Iterable[Group], specs: Mapping[int, WorkflowSpec],
                target: WorkflowSpec, mapping: Mapping[str, str]) -> tuple[StateMove, ...]:
    """Where each group goes: its --map, else the state of the same name in the target."""
    out = []
    for g in sorted(groups, key=lambda g: (g.version, _order(specs[g.version], g.state))):
        spec = specs[g.version]
        dest = mapping.get(g.state, g.state)
        problem = None
        if dest not in target.states:
            problem, dest_label = "missing", None
        else:
            dest_label = target.states[dest].label
            problem = "final" if target.states[dest].final else None
        out.append(StateMove(g.version, g.state, spec.state_label(g.state),
                             None if problem == "missing" else dest, dest_label, g.items,
                             g.state in mapping, problem))
    return tuple(out)


def _order(spec: WorkflowSpec, state: str) -> int:
    names = list(spec.states)
    return names.index(state) if state in names else len(names)


def refusal(moves: Sequence[StateMove], target: WorkflowSpec,
            target_version: int) -> Refused | None:
    """One line naming every state whose items cannot move, with counts; None if all can."""
    stuck: Counter[tuple[str, str, str]] = Counter()
    for m in moves:
        if m.problem:
            stuck[(m.source, m.source_label, m.problem)] += m.items
    if not stuck:
        return None
    total = sum(stuck.values())
    listed = "; ".join(
        f"{label} ({state}): " + ngettext("{count} item", "{count} items", n).format(count=n)
        + (_(", final in v{version}").format(version=target_version) if problem == "final" else "")
        for (state, label, problem), n in stuck.items())
    return Refused(ngettext(
        "cannot migrate {count} item of '{name}' to v{version}: its state is not a working "
        "state of v{version} — {listed}; say where each goes with --map OLD_STATE=NEW_STATE",
        "cannot migrate {count} items of '{name}' to v{version}: their state is not a working "
        "state of v{version} — {listed}; say where each goes with --map OLD_STATE=NEW_STATE",
        total).format(count=total, name=target.name, version=target_version, listed=listed),
        reason=Refusal.STATE)


# --- one item --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemFacts:
    """What a migration needs to know about one item."""

    state: str
    fields: Mapping[str, Any]
    entered_at: datetime
    due_at: datetime | None
    due_override: bool


@dataclass(frozen=True)
class ItemMove:
    source: str
    dest: str
    fields: dict[str, Any]
    dropped: dict[str, dict[str, Any]]  # name -> {"value", "reason"}: kept in history only
    converted: dict[str, list[Any]]  # name -> [old, new]
    schedule: Schedule  # deadline and the ladder still to come (done steps left out)
    done: tuple[str, ...]  # steps of the new ladder already applied during this stay
    due_now: int  # planned steps whose time has already come: the next sweep applies them


def move_item(facts: ItemFacts, old: WorkflowSpec, new: WorkflowSpec, dest: str,
              applied: Sequence[str], calendar: WorkCalendar, now: datetime) -> ItemMove:
    """The item stays in the same stay of its state (same entry time) under `new`: deadline and
    ladder are counted again from its entry, and a step counts as done if a step with the same
    action (level, fire or template) was applied during this stay — several steps with the same
    action pair up in order. `applied` lists the actions applied so far in this stay."""
    kept, dropped, converted = carry_fields(old, new, facts.fields)
    override = facts.due_at if facts.due_override else None
    plan = schedule(new, dest, facts.entered_at, calendar, override)
    remaining = Counter(applied)
    ladder = new.states[dest].escalate
    todo, done = [], []
    for planned, step in zip(plan.steps, ladder, strict=True):
        if remaining[step.action] > 0:
            remaining[step.action] -= 1
            done.append(step.action)
        else:
            todo.append(planned)
    return ItemMove(
        source=facts.state, dest=dest, fields=kept, dropped=dropped, converted=converted,
        schedule=replace(plan, steps=tuple(todo)), done=tuple(done),
        due_now=sum(1 for s in todo if s.at <= now))


def carry_fields(old: WorkflowSpec, new: WorkflowSpec, values: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, list[Any]]]:
    """(kept, dropped, converted). A value is kept when the new version has the field and the
    value is valid there; a field whose type changed keeps a text or number value that converts
    cleanly (text '12' to number 12). Anything else leaves the item; the migrate history row
    keeps it with the reason, so nothing is lost."""
    kept: dict[str, Any] = {}
    dropped: dict[str, dict[str, Any]] = {}
    converted: dict[str, list[Any]] = {}
    for name, value in values.items():
        field = new.fields.get(name)
        if field is None:
            if not fieldvals.is_empty(value):
                dropped[name] = {"value": value, "reason": "not a field of the new version"}
            continue
        before = old.fields.get(name)
        try:
            after = _convert(new, before, field, value)
        except ValueError as exc:
            dropped[name] = {"value": value, "reason": str(exc)}
            continue
        kept[name] = after
        if after != value:
            converted[name] = [value, after]
    return kept, dropped, converted


def _convert(new: WorkflowSpec, before: FieldSpec | None, field: FieldSpec, value: Any) -> Any:
    if fieldvals.is_empty(value):
        return value
    if before is not None and before.type == field.type:
        if field.type == "choice" and value not in field.choices:
            raise ValueError(f"'{value}' is no longer one of the choices")
        return value
    changed = f"type changed from {before.type if before else '?'} to {field.type}"
    if isinstance(value, bool | list | dict) or field.type in ("bool", "files"):
        raise ValueError(changed)
    if field.type == "text":
        return str(value)
    try:
        return fieldvals.coerce(new, field.name, value)
    except (Refused, UsageError) as exc:
        raise ValueError(changed) from exc

