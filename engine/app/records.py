"""Between the store's item records and the core's views of them: the columns a deadline plan
writes, an item's own --due carried into the first state with a deadline, and the `ItemView`
the state machine decides on. Shared by the service, bulk actions, lists and the worklist."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..core.errors import Refusal
from ..core.escalation import Schedule
from ..core.machine import ItemView
from ..core.spec import WorkflowSpec
from ..store import items as store
from ..store import repo
from ..store.db import Connection


def _carried_due(spec: WorkflowSpec, item: store.ItemRecord, final: bool) -> datetime | None:
    """An item's own --due, given while it sat in a state without a deadline (`discovered`),
    is the deadline of the first state with one that it enters; after that, states use theirs."""
    if item.due_override and spec.states[item.state].deadline is None and not final:
        return item.due_at
    return None


def _due_columns(plan: Schedule, override: bool) -> dict[str, Any]:
    return {"due_at": plan.due_at, "due_provisional": plan.provisional,
            "due_override": override and plan.due_at is not None, "original_due_at": plan.due_at}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _view(item: store.ItemRecord, unit_name: str | None) -> ItemView:
    return ItemView(state=item.state, unit=item.unit_id, assignee=item.assignee_id,
                    creator=item.creator_id, fields=item.fields, counts=item.counts,
                    cycle_actors={k: tuple(v) for k, v in item.cycle_actors.items()},
                    unit_name=unit_name, id=item.id)


def named_view(conn: Connection, view: ItemView, item: store.ItemRecord, reason: str,
               unit_names: dict[str, str]) -> ItemView | None:
    """`view` with the names a refusal of this kind says: the unit's for a role refusal, the
    assignee's and creator's for an assignee one. Read only on that rare path (`unit_names`
    keeps the units a bulk action already read); None when the refusal names nobody."""
    if reason == Refusal.ROLE:
        if item.unit_id not in unit_names:
            unit_names[item.unit_id] = repo.unit(conn, item.unit_id).name
        return view._replace(unit_name=unit_names[item.unit_id])
    if reason == Refusal.ASSIGNEE:
        ids = {p for p in (item.assignee_id, item.creator_id) if p}
        return view._replace(people={p.id: p.name for p in repo.people_by(conn, ids).values()})
    return None


def _replace_item(item: store.ItemRecord, values: Mapping[str, Any]) -> store.ItemRecord:
    return item._replace(**values)
