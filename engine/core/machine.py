"""Firing a transition: a pure function of (item, trigger, actor, request, now).

The state graph is a `transitions.Machine`, one per workflow version (built when it first fires),
shared by every item: the item's state rides on a throwaway token object, so no per-item machine
or model is ever built. Our checks are the machine's conditions; when several edges share a
trigger, the machine takes the first whose checks pass, as `transitions` does for conditional
transitions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from . import countersign
from .authority import field_refusal
from .countersign import Signature
from .errors import Refusal, Refused
from .fields import is_empty
from .guard import GuardError, GuardOverEmpty, evaluate
from .i18n import _, ngettext
from .spec import TransitionSpec, WorkflowSpec

if TYPE_CHECKING:
    from transitions import EventData, Machine

SYSTEM = "system"

# The order in which checks run; a refusal from a later check is the more telling one.
CHECKS = ("state", "role", "assignee", "separation", "field", "missing_field", "comment",
          "guard")


class ItemView(NamedTuple):
    """What the core needs to know about an item to decide a transition. (This and Outcome
    are NamedTuples, immutable and cheap to make: a bulk action makes one of each per item.)"""

    state: str
    unit: str
    assignee: str | None = None
    creator: str | None = None
    fields: Mapping[str, Any] = MappingProxyType({})
    counts: Mapping[str, int] = MappingProxyType({})
    cycle_actors: Mapping[str, tuple[str, ...]] = MappingProxyType({})
    unit_name: str | None = None
    id: int | None = None
    # 会签 so far in this state entry, by trigger (only read for countersign transitions)
    signatures: Mapping[str, tuple[Signature, ...]] = MappingProxyType({})
    # names of the assignee and creator by id, read only when a refusal names one of them
    people: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Actor:
    """A person acting, with the roles they hold at the item's unit or one of its ancestors."""

    id: str
    roles: frozenset[str] = frozenset()
    name: str | None = None

    @property
    def is_system(self) -> bool:
        return self.id == SYSTEM


SYSTEM_ACTOR = Actor(SYSTEM, name="系统")


@dataclass(frozen=True)
class Request:
    trigger: str
    fields: Mapping[str, Any] = field(default_factory=dict)  # already coerced
    comment: str | None = None


class Outcome(NamedTuple):
    """Everything a transition changes; the store writes it in one transaction."""

    transition: TransitionSpec
    source: str
    dest: str
    actor: str
    at: datetime
    comment: str | None
    fields: Mapping[str, Any]
    changes: Mapping[str, tuple[Any, Any]]
    counts: Mapping[str, int]
    cycle_actors: Mapping[str, tuple[str, ...]]
    # a 会签 signature that does not complete the rule yet: recorded, the state stays
    signed: Signature | None = None


@dataclass
class _Attempt:
    spec: WorkflowSpec
    item: ItemView
    actor: Actor
    request: Request
    fields: dict[str, Any]
    chosen: TransitionSpec | None = None
    refusal: Refused | None = None

    def refuse(self, refusal: Refused) -> bool:
        rank = CHECKS.index(refusal.reason)
        if self.refusal is None or rank > CHECKS.index(self.refusal.reason):
            self.refusal = refusal
        return False


class _Token:
    """The model `transitions` moves: just a state attribute, made per call and dropped."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class StateGraph:
    """The compiled graph of one workflow version."""

    def __init__(self, spec: WorkflowSpec) -> None:
        self.spec = spec

    @cached_property
    def _machine(self) -> Machine:
        # Built by the first `fire`, for the cold start: reading items (`allowed_triggers`)
        # needs only the spec, so `item show` neither imports `transitions` nor builds this.
        from transitions import Machine

        spec = self.spec
        machine = Machine(
            model=None, states=list(spec.states), initial=spec.initial,
            auto_transitions=False, send_event=True,
        )
        for t in spec.transitions:
            machine.add_transition(
                t.trigger, list(t.sources), t.dest,
                conditions=[partial(self._check, t)], after=[partial(self._chose, t)],
            )
        return machine

    def fire(self, item: ItemView, actor: Actor, request: Request, now: datetime) -> Outcome:
        """Apply `request` to `item`, or raise Refused with the user-facing reason."""
        spec = self.spec
        candidates = [t for t in spec.transitions_from(item.state) if t.trigger == request.trigger]
        if not candidates:
            raise Refused(_not_here(spec, item.state, request.trigger), reason=Refusal.STATE)
        attempt = _Attempt(spec, item, actor, request, {**item.fields, **request.fields})
        token = _Token(item.state)
        self._machine.events[request.trigger].trigger(token, attempt=attempt)
        if attempt.chosen is None:
            assert attempt.refusal is not None
            raise attempt.refusal
        return _outcome(attempt, attempt.chosen, token.state, spec.initial, now)

    def allowed_triggers(self, item: ItemView, actor: Actor) -> list[str]:
        """Triggers this actor could fire now, ignoring fields and comment still to be given."""
        out = []
        for t in self.spec.transitions_from(item.state):
            if t.trigger in out:
                continue
            attempt = _Attempt(self.spec, item, actor, Request(t.trigger), dict(item.fields))
            if _who_may(attempt, t):
                out.append(t.trigger)
        return out

    def _check(self, t: TransitionSpec, event: EventData) -> bool:
        attempt: _Attempt = event.kwargs["attempt"]
        return (_who_may(attempt, t) and _may_set(attempt, t)
                and _what_is_given(self.spec, attempt, t))

    @staticmethod
    def _chose(t: TransitionSpec, event: EventData) -> None:
        event.kwargs["attempt"].chosen = t


def _who_may(a: _Attempt, t: TransitionSpec) -> bool:
    """Role, assignee and separation-of-duties checks. The system actor passes them."""
    if a.actor.is_system:
        return True
    spec_roles = t.roles
    if spec_roles and not (a.actor.roles & set(spec_roles)):
        return a.refuse(Refused(_role_message(a.spec, a, t), reason=Refusal.ROLE))
    if t.actor == "assignee" and a.actor.id != a.item.assignee:
        return a.refuse(Refused(
            _("only the assignee ({assignee}) may {verb}").format(
                assignee=_person(a.item, a.item.assignee) or _("nobody assigned"),
                verb=_verb(t)),
            reason=Refusal.ASSIGNEE))
    if t.actor == "creator" and a.actor.id != a.item.creator:
        return a.refuse(Refused(_("only the creator ({creator}) may {verb}").format(
                                    creator=_person(a.item, a.item.creator), verb=_verb(t)),
                                reason=Refusal.ASSIGNEE))
    if t.not_actor_of and a.actor.id in a.item.cycle_actors.get(t.not_actor_of, ()):
        return a.refuse(Refused(
            _("{actor} fired {trigger} on this item and so may not {verb} "
              "(separation of duties)").format(actor=a.actor.name or a.actor.id,
                                               trigger=_trigger_words(a.spec, t.not_actor_of),
                                               verb=_verb(t)), reason=Refusal.SEPARATION))
    if t.countersign and any(s.actor == a.actor.id for s in a.item.signatures.get(t.trigger, ())):
        return a.refuse(Refused(_("{actor} has already signed {verb} (会签) in this state; "
                                  "each person signs once").format(
                                    actor=a.actor.name or a.actor.id, verb=_verb(t)),
                                reason=Refusal.SEPARATION))
    return True


def _may_set(a: _Attempt, t: TransitionSpec) -> bool:
    """Field authority: `sets` on the transition, `editable_by` on each field given."""
    if a.actor.is_system or not a.request.fields:
        return True
    refusal = field_refusal(a.spec, a.request.fields, a.actor.roles, a.actor.name or a.actor.id,
                            t)
    return a.refuse(refusal) if refusal else True


def _what_is_given(spec: WorkflowSpec, a: _Attempt, t: TransitionSpec) -> bool:
    """Required fields, comment and the guard, over the fields as they would be afterwards."""
    missing = [name for name in t.requires if is_empty(a.fields.get(name))]
    if missing:
        labels = ", ".join(f"{spec.field_label(n)} ({n})" for n in missing)
        return a.refuse(Refused(_("{verb} requires {fields}").format(verb=_verb(t), fields=labels),
                                reason=Refusal.MISSING_FIELD))
    if t.comment_required and not (a.request.comment or "").strip() and not a.actor.is_system:
        return a.refuse(Refused(_("{verb} requires a comment (--comment)").format(verb=_verb(t)),
                                reason=Refusal.COMMENT))
    if t.when:
        try:
            allowed = evaluate(t.when, _guard_fields(spec, a.fields), a.item.counts)
        except GuardOverEmpty as exc:
            empty = ", ".join(f"{spec.field_label(n)} ({n})" for n in exc.empty)
            return a.refuse(Refused(ngettext(
                "{verb}: the condition '{when}' is not met: {fields} is empty",
                "{verb}: the condition '{when}' is not met: {fields} are empty",
                len(exc.empty)).format(verb=_verb(t), when=t.when, fields=empty),
                reason=Refusal.GUARD))
        except GuardError as exc:
            return a.refuse(Refused(_("{verb}: the condition '{when}' cannot be decided: "
                                      "{why}").format(verb=_verb(t), when=t.when, why=exc),
                                    reason=Refusal.GUARD))
        if not allowed:
            return a.refuse(Refused(_("{verb}: the condition '{when}' is not met "
                                      "({values})").format(
                                        verb=_verb(t), when=t.when,
                                        values=_values_named(spec, t.when, a.fields)),
                                    reason=Refusal.GUARD))
    return True


def _values_named(spec: WorkflowSpec, when: str, values: Mapping[str, Any]) -> str:
    """The fields a guard names, in the user's terms: `到会党员人数 (party_attendees) = 6`."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", when))
    named = [f"{spec.field_label(n)} ({n}) = "
             + (_("(private)") if spec.fields[n].private else repr(values.get(n)))  # issue 18
             for n in spec.fields if n in words]
    return "; ".join(named) or _("it names no field")


def _guard_fields(spec: WorkflowSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values.get(name) for name in spec.fields}


def _outcome(
    a: _Attempt, t: TransitionSpec, dest: str, initial: str, now: datetime
) -> Outcome:
    item = a.item
    changes = {k: (item.fields.get(k), v) for k, v in a.request.fields.items()
               if item.fields.get(k) != v}
    signed = None
    if t.countersign and not a.actor.is_system:
        signed = Signature(a.actor.id, tuple(r for r in t.roles if r in a.actor.roles))
        if countersign.met(t, (*item.signatures.get(t.trigger, ()), signed)):
            signed = None  # the last signature needed: the transition takes effect
        else:
            dest = item.state
    counts = dict(item.counts)
    if signed is None:
        counts[t.trigger] = counts.get(t.trigger, 0) + 1
    # Separation of duties holds within a cycle; returning to the initial state starts a new one.
    cycle = {} if dest == initial and signed is None else dict(item.cycle_actors)
    cycle[t.trigger] = tuple(dict.fromkeys([*cycle.get(t.trigger, ()), a.actor.id]))
    return Outcome(
        transition=t, source=item.state, dest=dest, actor=a.actor.id, at=now,
        comment=a.request.comment, fields=a.fields, changes=changes, counts=counts,
        cycle_actors=cycle, signed=signed,
    )


def _verb(t: TransitionSpec) -> str:
    return f"'{t.trigger}'" + (f" ({t.label})" if t.label else "")


def _trigger_words(spec: WorkflowSpec, trigger: str) -> str:
    """A trigger as `_verb` says it, for a trigger named by another transition's rule."""
    return next((_verb(t) for t in spec.transitions if t.trigger == trigger and t.label),
                f"'{trigger}'")


def _person(item: ItemView, person_id: str | None) -> str | None:
    """A person the item names, by the name people use when it was read (else the id)."""
    return item.people.get(person_id, person_id) if person_id else None


def _role_message(spec: WorkflowSpec, a: _Attempt, t: TransitionSpec) -> str:
    roles = _(" or ").join(f"{spec.role_label(r)} ({r})" for r in t.roles)
    where = a.item.unit_name or a.item.unit
    return _("{actor} may not {verb}: it needs the role {roles} at {unit} or a unit above "
             "it").format(actor=a.actor.name or a.actor.id, verb=_verb(t), roles=roles,
                          unit=where)


def _not_here(spec: WorkflowSpec, state: str, trigger: str) -> str:
    here = sorted({t.trigger for t in spec.transitions_from(state)})
    label = spec.state_label(state)
    possible = ", ".join(here) or _("nothing (final state)")
    if trigger not in spec.triggers:
        return _("workflow '{workflow}' has no trigger '{trigger}'; from {label} ({state}) "
                 "possible: {possible}").format(workflow=spec.name, trigger=trigger, label=label,
                                                state=state, possible=possible)
    return _("'{trigger}' is not possible in state {label} ({state}); possible: "
             "{possible}").format(trigger=trigger, label=label, state=state, possible=possible)
