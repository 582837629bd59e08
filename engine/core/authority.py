"""Who may change what (contract section 6): field authority, assigners, deadline rules.

Pure: the rules take the spec, the actor's roles and what is asked, and answer with a `Refused`
in the user's words (field labels, role labels) or nothing. The validator's checks of the same
keys live here too, so one module owns what `editable_by`, `sets`, `assigners`, `countersign`
and `extensions` mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .errors import Problem, Refusal, Refused, SourceLoc
from .i18n import _, translate
from .spec import TransitionSpec, WorkflowSpec
from .yamlnodes import did_you_mean

if TYPE_CHECKING:
    from .machine import Actor


def field_refusal(spec: WorkflowSpec, names: Iterable[str], roles: frozenset[str],
                  who: str, t: TransitionSpec | None = None) -> Refused | None:
    """Why `who` (holding `roles` at the item's unit or above) may not set these fields, through
    transition `t` (None: creating the item), or None when they may."""
    names = list(names)
    if t is not None and t.settable is not None:
        outside = [n for n in names if n not in t.settable]
        if outside:
            allowed = ", ".join(_field(spec, n) for n in sorted(t.settable)) or _("no field")
            return Refused(_("'{trigger}' may not set {fields}; it sets only {allowed}").format(
                               trigger=t.trigger, fields=_fields(spec, outside), allowed=allowed),
                           reason=Refusal.FIELD, trigger=t.trigger)
    for name in names:
        field = spec.fields.get(name)
        if field is None or field.editable_by is None or roles & set(field.editable_by):
            continue
        return Refused(_("{who} may not set {field}: only {holders} may").format(
                           who=who, field=_field(spec, name),
                           holders=roles_text(spec, field.editable_by)),
                       reason=Refusal.FIELD, trigger=t.trigger if t else None)
    return None


def _field(spec: WorkflowSpec, name: str) -> str:
    return f"{spec.field_label(name)} ({name})"


def _fields(spec: WorkflowSpec, names: Iterable[str]) -> str:
    return ", ".join(_field(spec, n) for n in names)


def roles_text(spec: WorkflowSpec, roles: Iterable[str]) -> str:
    """`分管领导 (leader) or 督查人员 (inspector)`: roles as a refusal names them."""
    return _(" or ").join(f"{spec.role_label(r)} ({r})" for r in roles) or _("nobody")


# --- the validator's checks of the section 6 keys ------------------------------------------------

def check_authority(spec: WorkflowSpec) -> list[Problem]:
    """Unknown roles, fields and states in the new keys; `requires` nobody firing may fill."""
    problems: list[Problem] = []
    for field in spec.fields.values():
        for role in field.editable_by or ():
            if role not in spec.roles:
                problems.append(_unknown("role", role, spec.roles, field.loc,
                                         _("field '{name}': editable_by").format(
                                             name=field.name)))
    for t in spec.transitions:
        problems += _check_transition(spec, t)
    if spec.assigners_given is not None:
        problems += [_unknown("role", r, spec.roles, spec.at("assigners"), "assigners")
                     for r in spec.assigners_given if r not in spec.roles]
    problems += _check_extensions(spec)
    return problems


def _unknown(kind: str, name: str, known: Iterable[str], loc: SourceLoc,
             context: str) -> Problem:
    return Problem(loc, _("{context} names unknown {kind} '{name}'{did_you_mean}").format(
                            context=context, kind=translate(kind), name=name,
                            did_you_mean=did_you_mean(name, known)))


def _check_transition(spec: WorkflowSpec, t: TransitionSpec) -> list[Problem]:
    context = _("transition '{trigger}'").format(trigger=t.trigger)
    problems = [_unknown("field", name, spec.fields, t.key_locs.get(f"sets[{i}]", t.at("sets")),
                         _("{context}: sets").format(context=context))
                for i, name in enumerate(t.sets or ()) if name not in spec.fields]
    for i, name in enumerate(t.requires):
        field = spec.fields.get(name)
        if field is None or field.editable_by is None or not t.roles:
            continue
        if not set(t.roles) & set(field.editable_by):
            problems.append(Problem(
                t.key_locs.get(f"requires[{i}]", t.at("requires")),
                _("{context} requires field '{name}', which none of its roles ({join}) may "
                  "edit (editable_by: {join2})").format(
                    context=context, name=name, join=', '.join(t.roles),
                    join2=', '.join(field.editable_by))))
    problems += _check_countersign(t, context)
    return problems


def _check_countersign(t: TransitionSpec, context: str) -> list[Problem]:
    rule = t.countersign
    if rule is None:
        return []
    loc = t.at("countersign")
    if rule in ("all", "majority") and not t.roles:
        return [Problem(loc, _("{context}: countersign: {rule} counts the transition's "
                               "roles, but it lists none").format(
                                 context=context, rule=rule))]
    if isinstance(rule, int) and rule < 2:
        return [Problem(loc, _("{context}: countersign needs at least 2 signers, got "
                               "{rule}").format(context=context, rule=rule))]
    return []


def _check_extensions(spec: WorkflowSpec) -> list[Problem]:
    ext = spec.extensions
    if ext is None:
        return []
    problems = [_unknown("role", r, spec.roles, ext.loc,
                         _("extensions: approvers"))
                for r in ext.approvers if r not in spec.roles]
    for state in ext.states:
        found = spec.states.get(state)
        if found is None:
            problems.append(_unknown("state", state, spec.states, ext.loc,
                                     _("extensions: states")))
        elif found.deadline is None:
            problems.append(Problem(ext.loc, _("extensions: state '{state}' has no deadline, "
                                               "so there is nothing to extend").format(
                                                 state=state)))
    if not ext.approvers:
        problems.append(Problem(ext.loc, _("extensions: approvers must name at least one role")))
    return problems


# --- creating and assigning ----------------------------------------------------------------------

def creation_refusal(spec: WorkflowSpec, actor: Actor, given: Mapping[str, object],
                     assignee: str | None, due: str | None) -> Refused | None:
    """`item new` / `item import`: fields the creator may not set; a deadline of their own."""
    if due is not None and assignee == actor.id:
        return _own_deadline(actor)
    return field_refusal(spec, given, actor.roles, actor.name or actor.id)


def assignment_refusal(spec: WorkflowSpec, actor: Actor, assignee: str | None, person: str,
                       due: str | None, comment: str | None, where: str) -> Refused | None:
    """`item assign`: only an assigner; nobody moves the deadline of an item that is, or would
    be, their own; a new deadline needs a reason."""
    if not actor.roles & set(spec.assigners):
        return Refused(_("{actor} may not assign items of '{workflow}': it needs the role "
                         "{roles} at {unit} or a unit above it").format(
                           actor=actor.name or actor.id, workflow=spec.name,
                           roles=roles_text(spec, spec.assigners), unit=where),
                       reason=Refusal.ROLE)
    if due is not None and actor.id in (assignee, person):
        return _own_deadline(actor)
    if due is not None and not (comment or "").strip():
        return Refused(_("a new deadline (--due) needs the reason (--comment); it is kept in "
                         "the item's history"), reason=Refusal.COMMENT)
    return None


def _own_deadline(actor: Actor) -> Refused:
    return Refused(_("{actor} may not set the deadline of an item assigned to themselves; ask "
                     "for an extension (rectify item extend)").format(actor=actor.name or actor.id),
                   reason=Refusal.SEPARATION)
