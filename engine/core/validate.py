"""Whole-graph checks of a WorkflowSpec: every problem, with its location, in one list.

The loader has already checked shapes and types; here we check what needs the whole workflow:
names that point nowhere, states that cannot be reached or left, ladders out of order.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import Problem, SourceLoc
from .guard import RESERVED, GuardSyntaxError, counted_triggers, names_used
from .i18n import N_, _, translate
from .spec import (
    NOTIFY_KEYWORDS,
    Duration,
    EscalationStep,
    StateSpec,
    TransitionSpec,
    WorkflowSpec,
)
from .yamlnodes import did_you_mean

# The words _unknown puts in its sentence, for the catalogue.
WORDS = (N_("names"), N_("goes to"), N_("state"), N_("source state"), N_("role"),
         N_("field"), N_("trigger"), N_("template"))

_HOURS = {"hours": 1, "days": 24, "workdays": 24}


def validate(spec: WorkflowSpec, *, templates: Iterable[str] | None = None,
             guards: bool = True) -> list[Problem]:
    """Errors and warnings. `templates`: the template names that exist (None: not checked).
    `guards`: compile `when:` guards and check the names they use (errors only, never warnings;
    a stored version skips them: see loader.load_stored_workflow)."""
    known_templates = set(templates) if templates is not None else None
    problems: list[Problem] = []
    problems += _check_states_named(spec)
    for t in spec.transitions:
        problems += _check_transition(spec, t, known_templates, guards)
    for state in spec.states.values():
        problems += _check_state(spec, state, known_templates)
    problems += _check_graph(spec)
    from .authority import check_authority  # the keys of contract section 6, in their module

    problems += check_authority(spec)
    return problems


def _err(loc: SourceLoc, message: str) -> Problem:
    return Problem(loc, message)


def _unknown(
    kind: str, name: str, known: Iterable[str], loc: SourceLoc, context: str, verb: str = "names"
) -> Problem:

    return _err(loc, _("{context} {verb} unknown {kind} '{name}'{did_you_mean}").format(
                         context=context, verb=translate(verb), kind=translate(kind), name=name,
                         did_you_mean=did_you_mean(name, known)))


def _check_states_named(spec: WorkflowSpec) -> list[Problem]:
    problems = []
    if not spec.states:
        problems.append(_err(spec.at("states"), _("a workflow needs at least one state")))
    if spec.initial and spec.initial not in spec.states:
        problems.append(_unknown("state", spec.initial, spec.states, spec.at("initial"),
                                 "initial"))
    return problems


def _check_transition(
    spec: WorkflowSpec, t: TransitionSpec, templates: set[str] | None, guards: bool
) -> list[Problem]:
    context = _("transition '{trigger}'").format(trigger=t.trigger)
    problems = []
    for i, source in enumerate(t.sources):
        if source not in spec.states:
            problems.append(_unknown("source state", source, spec.states,
                                     t.key_locs.get(f"source[{i}]", t.at("source")), context))
        elif spec.states[source].final:
            problems.append(_err(t.key_locs.get(f"source[{i}]", t.at("source")),
                                 _("{context} leaves final state '{source}'; final states "
                                   "have no outgoing transitions").format(
                                     context=context, source=source)))
    if t.dest not in spec.states:
        problems.append(_unknown("state", t.dest, spec.states, t.at("dest"), context,
                                 verb="goes to"))
    problems += _check_names(t, "roles", t.roles, spec.roles, "role", context)
    problems += _check_names(t, "requires", t.requires, spec.fields, "field", context)
    if t.not_actor_of and t.not_actor_of not in spec.triggers:
        problems.append(_unknown("trigger", t.not_actor_of, spec.triggers,
                                 t.at("not_actor_of"), f"{context}: not_actor_of"))
    problems += _check_notify(spec, t.notify, t.at("notify"), context)
    if t.notify and not t.template:
        problems.append(_err(t.at("notify"), _("{context}: notify without a template; say "
                                               "which template to send (for example "
                                               "assignment)").format(context=context)))
    if t.template and templates is not None and t.template not in templates:
        problems.append(_unknown("template", t.template, templates, t.at("template"), context))
    if t.when is not None and guards:
        problems += _check_guard(spec, t, context)
    return problems


def _check_names(
    t: TransitionSpec, key: str, names: Iterable[str], known: Iterable[str], kind: str,
    context: str,
) -> list[Problem]:
    known = list(known)
    return [
        _unknown(kind, name, known, t.key_locs.get(f"{key}[{i}]", t.at(key)), f"{context}: {key}")
        for i, name in enumerate(names) if name not in known
    ]


def _check_notify(
    spec: WorkflowSpec, names: Iterable[str], loc: SourceLoc, context: str
) -> list[Problem]:
    allowed = [*NOTIFY_KEYWORDS, *spec.roles]
    return [
        _err(loc, _("{context}: notify names unknown recipient '{name}'{did_you_mean}; use "
                    "assignee, creator or a role").format(
                      context=context, name=name, did_you_mean=did_you_mean(name, allowed)))
        for name in names if name not in allowed
    ]


def _check_guard(spec: WorkflowSpec, t: TransitionSpec, context: str) -> list[Problem]:
    loc = t.at("when")
    try:
        used = names_used(t.when or "")
        counted = counted_triggers(t.when or "")
    except GuardSyntaxError as exc:
        return [_err(loc, _("{context}: when: {exc}").format(context=context, exc=exc))]
    problems = []
    allowed = [*spec.fields, *RESERVED]
    for name in sorted(used - set(allowed)):
        problems.append(_err(loc, _("{context}: when names unknown field "
                                    "'{name}'{did_you_mean}").format(
                                      context=context, name=name,
                                      did_you_mean=did_you_mean(name, allowed))))
    for name in sorted(counted - set(spec.triggers)):
        problems.append(_err(loc, _("{context}: when counts unknown trigger "
                                    "'{name}'{did_you_mean}").format(
                                      context=context, name=name,
                                      did_you_mean=did_you_mean(name, spec.triggers))))
    return problems


def _check_state(
    spec: WorkflowSpec, state: StateSpec, templates: set[str] | None
) -> list[Problem]:
    context = _("state '{name}'").format(name=state.name)
    problems = _check_notify(spec, state.notify, state.loc, context)
    if state.notify and not state.template:
        problems.append(_err(state.loc, _("{context}: notify without a template; say which "
                                          "template to send on entry (for example "
                                          "notice_start)").format(context=context)))
    if state.template and templates is not None and state.template not in templates:
        problems.append(_unknown("template", state.template, templates, state.loc, context))
    if state.escalate and state.deadline is None:
        problems.append(_err(state.loc, _("{context} has escalation steps but no deadline to "
                                          "count them from").format(context=context)))
    if not state.final and state.deadline is None and spec.transitions_from(state.name):
        problems.append(Problem(state.loc, _("{context} has no deadline: items may wait in "
                                             "it forever").format(context=context), "warning"))
    previous: Duration | None = None
    for step in state.escalate:
        problems += _check_step(spec, state, step, templates, context)
        if previous is not None and _approx_hours(step.at) < _approx_hours(previous):
            problems.append(_err(step.loc, _("{context}: escalation step at {at} comes "
                                             "before the previous step at {previous}; list "
                                             "steps in time order").format(
                                               context=context, at=step.at, previous=previous)))
        previous = step.at
    return problems


def _check_step(spec: WorkflowSpec, state: StateSpec, step: EscalationStep,
                templates: set[str] | None, context: str) -> list[Problem]:
    problems = _check_notify(spec, step.notify, step.loc, f"{context} escalation")
    if step.fire is not None:
        sources = {s for t in spec.transitions if t.trigger == step.fire for s in t.sources}
        if step.fire not in spec.triggers:
            problems.append(_unknown("trigger", step.fire, spec.triggers, step.loc,
                                     _("{context} escalation fire").format(context=context)))
        elif state.name not in sources:
            problems.append(_err(step.loc, _("{context}: escalation fires '{fire}', which "
                                             "cannot fire from '{name}'").format(
                                               context=context, fire=step.fire, name=state.name)))
        elif any(t.requires or t.when for t in spec.transitions
                 if t.trigger == step.fire and state.name in t.sources):
            problems.append(Problem(step.loc, _("{context}: escalation fires '{fire}', which "
                                                "has requires/when: if they are not met at "
                                                "that time the system's fire is refused and "
                                                "reported by the sweep").format(
                                                  context=context, fire=step.fire), "warning"))
    if step.template and templates is not None and step.template not in templates:
        problems.append(_unknown("template", step.template, templates, step.loc,
                                 f"{context} escalation"))
    if not (step.notify or step.fire or step.level):
        problems.append(_err(step.loc, _("{context}: an escalation step must notify, fire or "
                                         "record a level").format(context=context)))
    return problems


def _approx_hours(d: Duration) -> int:
    return d.amount * _HOURS[d.unit]


def _check_graph(spec: WorkflowSpec) -> list[Problem]:
    if spec.initial not in spec.states:
        return []
    edges: dict[str, set[str]] = {s: set() for s in spec.states}
    for t in spec.transitions:
        for s in t.sources:
            if s in edges and t.dest in spec.states:
                edges[s].add(t.dest)
    reachable = _reach(spec.initial, edges)
    problems = []
    for name, state in spec.states.items():
        if name not in reachable:
            problems.append(_err(state.loc, _("state '{name}' cannot be reached from the "
                                              "initial state '{initial}'").format(
                                                name=name, initial=spec.initial)))
        elif not state.final and not edges[name]:
            problems.append(_err(state.loc, _("state '{name}' is not final but has no way "
                                              "out (add a transition from it or mark it "
                                              "final: true)").format(name=name)))
    if not any(spec.states[s].final for s in reachable):
        problems.append(_err(spec.at("states"), _("no final state can be reached from the "
                                                  "initial state '{initial}'").format(
                                                    initial=spec.initial)))
    return problems


def _reach(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
