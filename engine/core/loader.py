"""Workflow YAML text -> WorkflowSpec. The only module that reads workflow YAML.

Structure and types are checked here, node by node, with the node's own line and column; the
checks that need the whole graph live in `validate.py`. Both collect every problem before
raising, so an admin fixes a file in one round.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .errors import InvalidInput, Problem, SourceLoc
from .guard import RESERVED
from .i18n import _, os_error_text
from .masking import MASKS
from .spec import (
    FIELD_TYPES,
    Duration,
    EscalationStep,
    ExtensionSpec,
    FieldSpec,
    StateSpec,
    TransitionSpec,
    WorkflowSpec,
)
from .yamlnodes import NodeReader, compose

NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

TOP_KEYS = ("workflow", "title", "description", "timezone", "calendar", "templates",
            "fields", "roles", "initial", "states", "transitions", "assigners", "extensions")
FIELD_KEYS = ("type", "label", "choices", "private", "description", "editable_by", "mask")
STATE_KEYS = ("label", "final", "deadline", "escalate", "notify", "template", "public",
              "description")
STEP_KEYS = ("at", "notify", "template", "level", "fire")
TRANSITION_KEYS = ("trigger", "source", "dest", "label", "roles", "actor", "not_actor_of",
                   "requires", "comment", "when", "notify", "template", "sets", "countersign")
EXTENSION_KEYS = ("states", "approvers", "max", "limit")


# The template names a workflow may use: given, or found from the workflow's own `templates`
# folder (known only once the file is read); None skips the check.
Templates = Iterable[str] | Callable[[str | None], Iterable[str]] | None


def load_workflow(text: str, file: str = "<workflow>", *,
                  templates: Templates = None) -> WorkflowSpec:
    """Parse and validate; raise InvalidInput listing every error. Warnings ride on the spec."""
    return _load(text, file, templates, stored=False)


def load_stored_workflow(text: str, file: str) -> WorkflowSpec:
    """A workflow version's source as stored by `workflow load`: the spec `load_workflow(text,
    file)` gives, built faster for the cold start of every command that reads items.

    That source passed every check when it was loaded, so libyaml composes it (when installed)
    and guards are not compiled again here (that would import Jinja2, the costliest import of
    `item show`); a guard compiles when it is first evaluated."""
    return _load(text, file, None, stored=True)


def _load(text: str, file: str, templates: Templates, *, stored: bool) -> WorkflowSpec:
    from .validate import validate  # the validator imports spec types only; no cycle at runtime

    reader = NodeReader(file)
    spec = _read_workflow(reader, compose(text, file, trusted=stored), file)
    problems = list(reader.problems)
    if spec is not None:  # a partly broken spec still gets the graph checks: one round of fixes
        names = templates(spec.templates_dir) if callable(templates) else templates
        problems += [p for p in validate(spec, templates=names, guards=not stored)
                     if p not in problems]
    problems.sort(key=lambda p: (p.loc.line, p.loc.column))
    errors = [p for p in problems if p.severity == "error"]
    if errors or spec is None:
        raise InvalidInput(errors or [Problem(SourceLoc(file, 1, 1), _("empty workflow file"))],
                           source=file)
    warnings = tuple(str(p) for p in problems if p.severity == "warning")
    return _replace(spec, warnings=warnings)


def load_workflow_file(path: Path, *, templates: Templates = None) -> WorkflowSpec:
    return load_workflow(read_text(path), str(path), templates=templates)


def read_text(path: Path) -> str:
    """An input file's text (workflow, org, calendar); InvalidInput at FILE:1:1 in the user's
    words when it cannot be read or is not UTF-8 text, never Python's ("[Errno 2] …")."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        why = _("cannot read: {reason}").format(reason=os_error_text(exc))
        raise InvalidInput([Problem(SourceLoc(str(path), 1, 1), why)]) from exc
    except UnicodeDecodeError as exc:
        why = _("not UTF-8 text: save the file as UTF-8")
        raise InvalidInput([Problem(SourceLoc(str(path), 1, 1), why)]) from exc


def _replace(spec: WorkflowSpec, **changes: Any) -> WorkflowSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _read_workflow(r: NodeReader, root: yaml.Node | None, file: str) -> WorkflowSpec | None:
    if root is None:
        return None
    keys = r.mapping(root, "workflow", TOP_KEYS,
                     required=("workflow", "roles", "initial", "states", "transitions"))
    if not keys:
        return None
    value = {k: v for k, (_, v) in keys.items()}
    key_locs = {k: r.loc(v) for k, (_, v) in keys.items()}
    name = _name(r, value.get("workflow"), _("workflow id"))
    fields = _fields(r, value["fields"]) if "fields" in value else {}
    roles = _roles(r, value["roles"]) if "roles" in value else {}
    states = _states(r, value["states"]) if "states" in value else {}
    transitions = _transitions(r, value["transitions"]) if "transitions" in value else ()
    return WorkflowSpec(
        name=name or "",
        title=_opt_str(r, value.get("title"), "title") or name or "",
        timezone=_timezone(r, value.get("timezone")),
        calendar=_opt_str(r, value.get("calendar"), "calendar") or "cn",
        initial=_opt_str(r, value.get("initial"), "initial") or "",
        fields=MappingProxyType(fields),
        roles=MappingProxyType(roles),
        states=MappingProxyType(states),
        transitions=transitions,
        file=file,
        loc=r.loc(root),
        key_locs=MappingProxyType(key_locs),
        templates_dir=r.inner_folder(value.get("templates"), "templates"),
        assigners_given=_names(r, value.get("assigners"), "assigners"),
        extensions=_extensions(r, value["extensions"]) if "extensions" in value else None,
    )


def _names(r: NodeReader, node: yaml.Node | None, what: str) -> tuple[str, ...] | None:
    """A list of names, or None when the key is absent (absent and empty mean different things:
    `editable_by: []` lets nobody set a field, no `editable_by` lets anyone)."""
    return None if node is None else tuple(n for n, _ in r.strings(node, what))


def _extensions(r: NodeReader, node: yaml.Node) -> ExtensionSpec:
    keys = r.mapping(node, "extensions", EXTENSION_KEYS, required=("states", "approvers"))
    get = {k: v for k, (_, v) in keys.items()}
    most = r.scalar(get["max"], "max") if "max" in get else 1
    if isinstance(most, bool) or not isinstance(most, int) or most < 1:
        r.error(get["max"], _("extensions: max must be a whole number of at least 1, got "
                              "{most!r}").format(most=most))
        most = 1
    limit = _duration(r, get["limit"], "limit") if "limit" in get else None
    if limit is not None and limit.amount <= 0:
        r.error(get["limit"], _("extensions: limit must be a positive duration, got "
                                "'{limit}'").format(limit=limit))
    return ExtensionSpec(
        states=_names(r, get.get("states"), "states") or (),
        approvers=_names(r, get.get("approvers"), "approvers") or (),
        loc=r.loc(node), max=most, limit=limit,
    )


def _opt_str(r: NodeReader, node: yaml.Node | None, what: str) -> str | None:
    return None if node is None else r.string(node, what)


def _name(r: NodeReader, node: yaml.Node | None, what: str) -> str | None:
    value = _opt_str(r, node, what)
    if value is not None and not NAME.match(value):
        r.error(node, _("{what} '{name}' must use lowercase letters, digits, '_' and '-' "
                        "and start with a letter").format(what=what, name=value))
    return value


def _timezone(r: NodeReader, node: yaml.Node | None) -> str:
    value = _opt_str(r, node, "timezone") or "Asia/Shanghai"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        r.error(node, _("unknown timezone '{timezone}' (for example Asia/Shanghai)").format(
                          timezone=value))
    return value


def _duration(r: NodeReader, node: yaml.Node, what: str) -> Duration | None:
    value = r.scalar(node, what)
    try:
        return Duration.parse(value)
    except ValueError as exc:
        r.error(node, f"{what}: {exc}")
        return None


def _deadline(r: NodeReader, node: yaml.Node) -> Duration | None:
    duration = _duration(r, node, "deadline")
    if duration is not None and duration.amount <= 0:
        r.error(node, _("deadline must be after entering the state, got '{duration}'").format(
                          duration=duration))
    return duration


def _fields(r: NodeReader, node: yaml.Node) -> dict[str, FieldSpec]:
    out = {}
    for name, key_node, value_node in r.entries(node, "fields"):
        if not IDENT.match(name):
            r.error(key_node, _("field name '{name}' must be letters, digits and '_' (it is "
                                "used in guard expressions)").format(name=name))
        elif name in RESERVED:
            r.error(key_node, _("field name '{name}' is reserved in guard expressions "
                                "(count.TRIGGER); choose another name").format(name=name))
        keys = r.mapping(value_node, _("field '{name}'").format(name=name), FIELD_KEYS,
                         required=("type",))
        ftype = r.string(keys["type"][1], "type") if "type" in keys else "text"
        if ftype not in FIELD_TYPES:
            r.error(keys["type"][1], _("field '{name}': unknown type '{ftype}'; allowed "
                                       "types: {join}").format(
                                         name=name, ftype=ftype, join=', '.join(FIELD_TYPES)))
        choices = tuple(c for c, _ in r.strings(keys["choices"][1], "choices")) \
            if "choices" in keys else ()
        if ftype == "choice" and not choices:
            r.error(value_node, _("field '{name}' has type choice but no 'choices'").format(
                                    name=name))
        mask = _mask(r, name, ftype, keys["mask"][1]) if "mask" in keys else None
        out[name] = FieldSpec(
            name=name, type=ftype or "text",
            label=(r.string(keys["label"][1], "label") if "label" in keys else None) or name,
            loc=r.loc(key_node), choices=choices,
            private=r.boolean(keys["private"][1], "private") if "private" in keys else False,
            editable_by=_names(r, keys["editable_by"][1] if "editable_by" in keys else None,
                               "editable_by"),
            mask=mask,
        )
    return out


def _mask(r: NodeReader, name: str, ftype: str | None, node: yaml.Node) -> str | None:
    """`mask:` names one of the public-notice maskings, on a text field."""
    kind = r.string(node, "mask")
    if kind not in MASKS:
        r.error(node, _("field '{name}': unknown mask '{kind}'; allowed: {allowed}").format(
            name=name, kind=kind, allowed=", ".join(MASKS)))
        return None
    if ftype != "text":
        r.error(node, _("field '{name}': mask '{kind}' needs a text field, not {type}").format(
            name=name, kind=kind, type=ftype))
        return None
    return kind


def _roles(r: NodeReader, node: yaml.Node) -> dict[str, str]:
    out = {}
    for name, key_node, value_node in r.entries(node, "roles"):
        if not IDENT.match(name):
            r.error(key_node, _("role name '{name}' must be letters, digits and '_'").format(
                                  name=name))
        out[name] = r.string(value_node, f"role '{name}' label") or name
    return out


def _states(r: NodeReader, node: yaml.Node) -> dict[str, StateSpec]:
    out = {}
    for name, key_node, value_node in r.entries(node, "states"):
        if isinstance(value_node, yaml.ScalarNode) and value_node.value in ("", "~", "null"):
            keys = {}
        else:
            keys = r.mapping(value_node, _("state '{name}'").format(name=name), STATE_KEYS)
        get = {k: v for k, (_, v) in keys.items()}
        out[name] = StateSpec(
            name=name,
            label=(r.string(get["label"], "label") if "label" in get else None) or name,
            loc=r.loc(key_node),
            final=r.boolean(get["final"], "final") if "final" in get else False,
            deadline=_deadline(r, get["deadline"]) if "deadline" in get else None,
            escalate=_steps(r, get["escalate"], name) if "escalate" in get else (),
            template=_opt_str(r, get.get("template"), "template"),
            notify=tuple(n for n, _ in r.strings(get["notify"], "notify")) if "notify" in get
            else (),
            public=r.boolean(get["public"], "public") if "public" in get else False,
        )
    return out


def _steps(r: NodeReader, node: yaml.Node, state: str) -> tuple[EscalationStep, ...]:
    if not isinstance(node, yaml.SequenceNode):
        r.error(node, _("state '{state}': escalate must be a list of steps").format(
                          state=state))
        return ()
    steps = []
    for index, child in enumerate(node.value):
        keys = r.mapping(child, _("state '{state}' escalation step {step}").format(
            state=state, step=index + 1), STEP_KEYS,
                         required=("at",))
        get = {k: v for k, (_, v) in keys.items()}
        at = _duration(r, get["at"], "at") if "at" in get else None
        steps.append(EscalationStep(
            index=index, at=at or Duration(0), loc=r.loc(child),
            notify=tuple(n for n, _ in r.strings(get["notify"], "notify")) if "notify" in get
            else (),
            template=_opt_str(r, get.get("template"), "template"),
            level=_opt_str(r, get.get("level"), "level"),
            fire=_opt_str(r, get.get("fire"), "fire"),
        ))
    return tuple(steps)


def _transitions(r: NodeReader, node: yaml.Node) -> tuple[TransitionSpec, ...]:
    if not isinstance(node, yaml.SequenceNode):
        r.error(node, _("transitions must be a list"))
        return ()
    out = []
    for index, child in enumerate(node.value):
        spec = _transition(r, child, index)
        if spec is not None:
            out.append(spec)
    return tuple(out)


def _transition(r: NodeReader, node: yaml.Node, index: int) -> TransitionSpec | None:
    keys = r.mapping(node, _("transition {number}").format(number=index + 1), TRANSITION_KEYS,
                     required=("trigger", "source", "dest"))
    get = {k: v for k, (_, v) in keys.items()}
    if not {"trigger", "source", "dest"} <= get.keys():
        return None
    trigger = r.string(get["trigger"], "trigger") or ""
    if trigger and not IDENT.match(trigger):
        r.error(get["trigger"], _("trigger '{trigger}' must be letters, digits and '_'").format(
                                    trigger=trigger))
    actor = _opt_str(r, get.get("actor"), "actor")
    if actor not in (None, "assignee", "creator"):
        r.error(get["actor"], _("actor must be 'assignee' or 'creator', got '{actor}'").format(
                                  actor=actor))
    comment = _opt_str(r, get.get("comment"), "comment")
    if comment not in (None, "required", "optional"):
        r.error(get["comment"], _("comment must be 'required' or 'optional', got "
                                  "'{comment}'").format(comment=comment))
    names = {k: tuple(n for n, _ in r.strings(get[k], k)) if k in get else ()
             for k in ("roles", "requires", "notify")}
    return TransitionSpec(
        index=index, trigger=trigger,
        sources=tuple(n for n, _ in r.strings(get["source"], "source")),
        dest=r.string(get["dest"], "dest") or "",
        loc=r.loc(node),
        key_locs=MappingProxyType(_key_locs(r, get)),
        roles=names["roles"], actor=actor,
        not_actor_of=_opt_str(r, get.get("not_actor_of"), "not_actor_of"),
        requires=names["requires"], comment_required=comment == "required",
        when=_opt_str(r, get.get("when"), "when"), notify=names["notify"],
        template=_opt_str(r, get.get("template"), "template"),
        label=_opt_str(r, get.get("label"), "label"),
        sets=_names(r, get.get("sets"), "sets"),
        countersign=_countersign(r, get.get("countersign")),
    )


def _countersign(r: NodeReader, node: yaml.Node | None) -> str | int | None:
    """`all`, `majority` or a number of distinct signers (at least 2: one is no countersign)."""
    if node is None:
        return None
    value = r.scalar(node, "countersign")
    if value in ("all", "majority"):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    r.error(node, _("countersign must be 'all', 'majority' or a number of signers, got "
                    "{value!r}").format(value=value))
    return None


def _key_locs(r: NodeReader, get: dict[str, yaml.Node]) -> dict[str, SourceLoc]:
    """Location of each value, and of each list element as `key[i]` (for per-name messages)."""
    locs: dict[str, SourceLoc] = {}
    for key, value in get.items():
        locs[key] = r.loc(value)
        if isinstance(value, yaml.SequenceNode):
            for i, child in enumerate(value.value):
                locs[f"{key}[{i}]"] = r.loc(child)
    return locs
