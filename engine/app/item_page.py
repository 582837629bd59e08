"""The item page's reads: `item show`'s detail, plus what a person reading it in a browser
needs — people's names, the evidence files with the other items that hold the same file, when
the item was handed over, whether the reader may see private fields, and one form per trigger
they may fire now (its fields, whether a comment and a photo are required).

Nothing here decides a transition: the forms are drawn from the same `allowed_triggers` as
`item show`, and a post goes to `Service.advance` like the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.escalation import DEFAULT_LIGHTS, LightRule
from ..core.spec import FieldSpec, TransitionSpec, WorkflowSpec
from ..store import items as store
from ..store import repo, worklist
from ..store.db import read
from .service import Service
from .views import item_detail


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    type: str
    choices: tuple[str, ...]
    required: bool
    current: Any  # the item's value now, to start the form from


@dataclass(frozen=True)
class Form:
    trigger: str
    label: str
    dest_label: str | None  # None when edges sharing the trigger lead to different states
    fields: tuple[FormField, ...]
    comment_required: bool
    photos_field: str | None  # the files field uploads go to (None: the workflow has none)
    photos_required: bool
    photos_existing: int


@dataclass(frozen=True)
class Evidence:
    sha256: str
    name: str
    size: int
    field_label: str
    added_at: datetime
    also_on: tuple[int, ...] = ()  # other items holding this file that the reader may see
    also_hidden: int = 0  # ... and those the reader may not see (counted, never named)


@dataclass
class ItemPage:
    detail: dict[str, Any]
    spec: WorkflowSpec
    names: dict[str, str]
    evidence: list[Evidence]
    assigned_at: datetime
    private_ok: bool
    forms: list[Form] = field(default_factory=list)


def item_page(service: Service, item_id: int, person_id: str,
              rule: LightRule = DEFAULT_LIGHTS) -> ItemPage:
    """Everything the page shows; the caller has checked that the person may see the item."""
    detail = item_detail(service, item_id, person_id, rule)
    with read(service.engine) as conn:
        item = store.get_item(conn, item_id)
        spec = service.compiled(conn, item.workflow_version_id).spec
        rows = store.history(conn, item_id)
        files = worklist.attachments_of(conn, item_id)
        reused = worklist.other_uses(conn, item_id, [f.sha256 for f in files])
        grants = worklist.grants(conn, person_id)
        people = repo.people_by(conn, _people_named(item, rows))
    names = {p.id: p.name for p in people.values()}
    if len(rows) == len(detail["history"]):  # how each actor came in (cli, web, api, system)
        for entry, row in zip(detail["history"], rows, strict=True):
            entry.setdefault("via", row.get("via"))
    paths = [g.unit_path for g in grants]
    evidence = [_evidence(spec, f, reused.get(f.sha256, []), paths) for f in files]
    page = ItemPage(detail, spec, names, evidence, assigned_at(spec, item, rows),
                    private_ok=may_see_private(spec, item, person_id, grants))
    page.forms = [_form(spec, item, t) for t in detail["triggers"]]
    return page


def _people_named(item: store.ItemRecord, rows: Sequence[dict[str, Any]]) -> set[str]:
    ids = {r["actor"] for r in rows} | {item.creator_id}
    if item.assignee_id:
        ids.add(item.assignee_id)
    for r in rows:
        if r["kind"] == "assign":
            ids.update(p for p in (r["data"] or {}).get("assignee", []) if p)
    return ids


def assigned_at(spec: WorkflowSpec, item: store.ItemRecord,
                rows: Sequence[dict[str, Any]]) -> datetime:
    """When the item was handed to someone to work on: its first `assign` row or first
    transition out of the initial state (交办), else its creation."""
    for r in rows:
        if r["kind"] == "assign" or (r["kind"] == "transition" and r["source"] == spec.initial):
            return r["at"]
    return item.created_at


def _evidence(spec: WorkflowSpec, f: worklist.Attachment, others: list[tuple[int, str]],
              paths: Sequence[str]) -> Evidence:
    seen = tuple(i for i, path in others if any(path.startswith(p) for p in paths))
    return Evidence(f.sha256, f.name, f.size, spec.field_label(f.field), f.added_at,
                    seen, len(others) - len(seen))


def may_see_private(spec: WorkflowSpec, item: store.ItemRecord, person_id: str,
                    grants: Sequence[worklist.Grant]) -> bool:
    """Private fields (身份证号码, 联系电话 …) are for the people working the item: its assignee,
    its creator, and holders of one of the workflow's own roles at its unit or above. Someone
    who sees the item through another role (another workflow's) sees that the field exists,
    not its value."""
    return person_id in (item.assignee_id, item.creator_id) or any(
        g.role in spec.roles and item.unit_path.startswith(g.unit_path) for g in grants)


def _form(spec: WorkflowSpec, item: store.ItemRecord, trigger: str) -> Form:
    edges = [t for t in spec.transitions_from(item.state) if t.trigger == trigger]
    dests = {t.dest for t in edges}
    required = list(dict.fromkeys(n for t in edges for n in t.requires))
    optional = [n for t in edges for n in (getattr(t, "sets", None) or ()) if n not in required]
    photos = _photos_field(spec, edges)
    fields = tuple(_form_field(spec.fields[n], n in required, item.fields.get(n))
                   for n in dict.fromkeys([*required, *optional])
                   if n in spec.fields and spec.fields[n].type != "files")
    existing = item.fields.get(photos) if photos else None
    return Form(
        trigger=trigger, label=edges[0].label or trigger,
        dest_label=spec.state_label(edges[0].dest) if len(dests) == 1 else None,
        fields=fields, comment_required=any(t.comment_required for t in edges),
        photos_field=photos, photos_required=photos is not None and photos in required,
        photos_existing=len(existing) if isinstance(existing, list) else 0)


def _photos_field(spec: WorkflowSpec, edges: Sequence[TransitionSpec]) -> str | None:
    """Where uploads go, as `Service.advance` decides: a files field the transition requires,
    else the workflow's first files field — None when the step may not set it (its `sets`
    leaves it out: every upload would be refused)."""
    for t in edges:
        for name in t.requires:
            if spec.fields[name].type == "files":
                return name
    first = next((n for n, f in spec.fields.items() if f.type == "files"), None)
    if first is None or all(t.settable is not None and first not in t.settable for t in edges):
        return None
    return first


def _form_field(spec: FieldSpec, required: bool, current: Any) -> FormField:
    return FormField(spec.name, spec.label, spec.type, spec.choices, required, current)
