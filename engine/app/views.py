"""What staff read: an item in full (`item show`) and item lists, as the contract's JSON shapes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..core.errors import NotFound
from ..core.escalation import DEFAULT_LIGHTS, LightRule, light
from ..core.machine import Outcome
from ..core.spec import WorkflowSpec
from ..store import items as store
from ..store import reads, repo
from ..store.db import read
from ..store.item_view import item_in_full
from ..store.reads import ItemFilter
from ..store.trips import read_in_one_trip
from .countersign import signatures, with_history
from .extensions import shown_request
from .records import _view
from .service import Service

__all__ = ["ItemFilter", "advanced", "count_from", "item_detail", "item_rows", "local_iso",
           "steps_due"]

# Keys of `item_detail` that help draw the card; `--json` and the API leave them out.
SCREEN_ONLY = ("field_labels", "labels")


def local_iso(at: datetime | None, tz: str) -> str | None:
    return at.astimezone(ZoneInfo(tz)).isoformat() if at else None


def item_detail(service: Service, item_id: int, actor_id: str | None,
                rule: LightRule = DEFAULT_LIGHTS, *, hidden: bool = False) -> dict[str, Any]:
    """`hidden`: an item the actor may not see (no role at its unit or above, the rule of
    engine/app/access.py) is NotFound, as if it did not exist (the web's and API's reading)."""
    now = service.clock.now()
    with read_in_one_trip(service.engine) as conn:
        found = item_in_full(conn, item_id, actor_id)
        if found is None:
            raise NotFound("item", item_id)
        item, rows, steps = found.item, found.history, found.steps
        compiled = service.compiled(conn, item.workflow_version_id)
    spec = compiled.spec
    actor = service.actor_of(actor_id, found.person, found.roles) if actor_id else None
    if hidden and not (actor and actor.roles):
        raise NotFound("item", item_id)
    extension = shown_request(next((r for r in found.extensions
                                    if r["entry_no"] == item.entry_no), None), spec)
    tz = spec.timezone
    names = found.names
    # Private fields (身份证号 …) only for people holding a role at the item's unit or above;
    # to anyone else, and without --as, that they exist but not their value (issue 18).
    hidden_fields = [] if actor and actor.roles else [
        k for k, v in item.fields.items() if v is not None and k in spec.fields
        and spec.fields[k].private]
    triggers = compiled.graph.allowed_triggers(
        with_history(_view(item, found.unit_name), rows), actor) if actor else []
    return {
        "id": item.id, "workflow": item.workflow, "version": compiled.version.version,
        "state": item.state, "state_label": spec.state_label(item.state),
        "unit": item.unit_id, "unit_name": found.unit_name, "subject": item.subject,
        "assignee": item.assignee_id, "creator": item.creator_id,
        "assignee_name": names.get(item.assignee_id or "", item.assignee_id),
        "due_at": local_iso(item.due_at, tz),
        "light": light(spec, item.state, item.due_at, now, service.calendar(), rule),
        "due_provisional": item.due_provisional,
        "fields": {k: v for k, v in item.fields.items()
                   if v is not None and k not in hidden_fields},
        "hidden_fields": hidden_fields,
        "field_labels": {k: f.label for k, f in spec.fields.items()},
        # For the card only (SCREEN_ONLY): the history's triggers and states in the labels.
        "labels": _labels(spec),
        "history": [{**_history(r, tz), "actor_name": names.get(r["actor"], r["actor"])}
                    for r in rows],
        # What was applied is told by its history row, which names the step as it was then
        # (a later workflow version may number or label its ladder differently).
        "escalations": [_applied(r, tz) for r in rows if r["kind"] == "escalation"],
        "pending_escalations": [_escalation(s, spec, tz) for s in steps
                                if s["status"] == "pending"],
        "triggers": triggers,
        "extension": extension,
        **signatures(spec, item, rows),
    }


def labels_by_item(service: Service, ids: Iterable[int]) -> dict[int, dict[str, dict[str, str]]]:
    """What a text line names each item's states and triggers by (its workflow version's
    labels, as `item show`'s card has them under "labels")."""
    with read(service.engine) as conn:
        versions = reads.versions_of(conn, ids)
        specs = {v: service.compiled(conn, v).spec for v in set(versions.values())}
    labels = {v: _labels(spec) for v, spec in specs.items()}
    return {i: labels[v] for i, v in versions.items()}


def _labels(spec: WorkflowSpec) -> dict[str, dict[str, str]]:
    return {"triggers": {t.trigger: t.label for t in spec.transitions if t.label},
            "states": {n: s.label for n, s in spec.states.items()}}


def advanced(service: Service, item_id: int, outcome: Outcome) -> dict[str, Any]:
    """What `item advance` reports: the move in the workflow's labels, at its offset (as
    `item show` gives times), read from the version the item is on."""
    with read(service.engine) as conn:
        spec = service.compiled(conn, store.get_item(conn, item_id).workflow_version_id).spec
    trigger = outcome.transition
    return {"id": item_id, "trigger": trigger.trigger, "trigger_label": trigger.label,
            "source": outcome.source, "source_label": spec.state_label(outcome.source),
            "dest": outcome.dest, "dest_label": spec.state_label(outcome.dest),
            "at": local_iso(outcome.at, spec.timezone), "signed": outcome.signed is not None}


def _history(row: dict[str, Any], tz: str) -> dict[str, Any]:
    return {"trigger": row["trigger"] or row["kind"], "source": row["source"],
            "dest": row["dest"], "actor": row["actor"], "at": local_iso(row["at"], tz),
            "comment": row["comment"], "kind": row["kind"],
            "data": _shown_data(row["data"], row["kind"], tz),
            # rows from before 0.2 have no `via`: they came by the CLI, or were the engine's own
            "via": row.get("via") or ("system" if row["actor"] == "system" else "cli")}


def _shown_data(data: dict[str, Any] | None, kind: str, tz: str) -> dict[str, Any] | None:
    """A history row's data as `item show` gives it: its times (`planned_at`, `due_at` …) at
    the workflow's offset and an escalation's step counted from 1, like every other time and
    step on the card. The row keeps them as written (UTC, from 0): its hash seals them."""
    if not data:
        return data
    shown = {k: _local_value(v, tz) if k.endswith("_at") else v for k, v in data.items()}
    if kind == "escalation" and isinstance(shown.get("step"), int):
        shown["step"] += 1
    return shown


def _local_value(value: Any, tz: str) -> Any:
    """An ISO time, or a list of them ([before, after]), at `tz`; anything else as it is."""
    if isinstance(value, list):
        return [_local_value(v, tz) for v in value]
    if not isinstance(value, str):
        return value
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    return local_iso(at, tz) if at.tzinfo is not None else value


def _applied(row: dict[str, Any], tz: str) -> dict[str, Any]:
    data = row["data"] or {}
    step = data.get("step")  # stored from 0; people and scripts count from 1
    return {"state": row["source"], "step": None if step is None else step + 1,
            "at": local_iso(row["at"], tz),
            "action": data.get("action", "?"), "level": data.get("level"),
            "late": bool(data.get("late"))}


def _escalation(step: dict[str, Any], spec: Any, tz: str) -> dict[str, Any]:
    state = spec.states.get(step["state"])
    spec_step = state.escalate[step["step_index"]] if state and \
        step["step_index"] < len(state.escalate) else None
    return {"state": step["state"], "step": step["step_index"] + 1,
            "at": local_iso(step["applied_at"] or step["planned_at"], tz),
            "action": spec_step.action if spec_step else "?", "late": step["late"]}


def item_rows(service: Service, filters: ItemFilter, *, batch: int = 2000,
              rule: LightRule = DEFAULT_LIGHTS) -> Iterator[dict[str, Any]]:
    """Items matching the filters, streamed in id order: keyset pages, each its own short read
    (a list piped into a pager holds no transaction open), never all at once."""
    now = service.clock.now()
    calendar = service.calendar()
    # Items share deadlines (the end of a working day), and a light is working-day
    # arithmetic: one per (version, state, deadline) for the whole list.
    lights: dict[tuple[int, str, datetime | None], str | None] = {}
    with read(service.engine) as conn:  # what each version shows as the line's 问题
        headlines = {v: name for v in repo.version_ids(conn, filters.workflow)
                     if (name := service.compiled(conn, v).spec.headline)}
    last = 0
    while True:
        with read(service.engine) as conn:
            records = reads.list_page(conn, filters, now, after=last, limit=batch,
                                      headlines=headlines)
            specs = {r.workflow_version_id: service.compiled(conn, r.workflow_version_id).spec
                     for r in records}
        for r in records:
            spec = specs[r.workflow_version_id]
            key = (r.workflow_version_id, r.state, r.due_at)
            if key not in lights:
                lights[key] = light(spec, r.state, r.due_at, now, calendar, rule)
            yield {"id": r.id, "workflow": r.workflow, "state": r.state,
                   "state_label": spec.state_label(r.state), "unit": r.unit_id,
                   "assignee": r.assignee_id, "due_at": local_iso(r.due_at, spec.timezone),
                   "light": lights[key], "subject": r.subject,
                   "description": _text(r.description)}
        if len(records) < batch:
            return
        last = records[-1].id


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def count_from(service: Service, filters: ItemFilter, first: int) -> int:
    """How many items match the filters from id `first` on (what a cut list left out)."""
    with read(service.engine) as conn:
        return reads.count_items(conn, filters, service.clock.now(), after=first - 1)


def steps_due(service: Service) -> int:
    """How many escalation steps are due now (what a sweep will apply; for a progress bar)."""
    with read(service.engine) as conn:
        return reads.steps_due(conn, service.clock.now())
