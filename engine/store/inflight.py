"""Reads for migrating running items: a workflow's versions, in-flight items counted by version
and state, in-flight items in keyset batches, and what has been applied in each item's stay.

In flight means not in a final state. Writes go through `items.apply_write`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, func, select

from . import items as store
from .repo import VERSIONS, VersionRow

ITEMS = store.ITEMS
HISTORY = store.HISTORY

# History kinds that start a stay in a state (its entry); a stay's escalations come after.
ENTRY_KINDS = ("create", "transition")


def versions(conn: Connection, name: str) -> list[VersionRow]:
    rows = conn.execute(select(VERSIONS).where(VERSIONS.c.name == name)
                        .order_by(VERSIONS.c.version))
    return [VersionRow(**r._mapping) for r in rows]


def _where(workflow: str, *, on: int | None, not_on: int | None) -> Any:
    conds = [ITEMS.c.workflow == workflow, ITEMS.c.final.is_(False)]
    if on is not None:
        conds.append(ITEMS.c.workflow_version_id == on)
    if not_on is not None:
        conds.append(ITEMS.c.workflow_version_id != not_on)
    return and_(*conds)


def census(conn: Connection, workflow: str, *, on: int | None = None,
           not_on: int | None = None) -> list[tuple[int, str, int]]:
    """(version id, state, in-flight items) for the workflow's items on / not on a version."""
    rows = conn.execute(
        select(ITEMS.c.workflow_version_id, ITEMS.c.state, func.count())
        .where(_where(workflow, on=on, not_on=not_on))
        .group_by(ITEMS.c.workflow_version_id, ITEMS.c.state))
    return [(int(v), str(s), int(n)) for v, s, n in rows]


def batch(conn: Connection, workflow: str, *, after: int, limit: int, on: int | None = None,
          not_on: int | None = None) -> list[store.ItemRecord]:
    """The next `limit` in-flight items with id > `after`, in id order (keyset paging)."""
    rows = conn.execute(store.select_items()
                        .where(and_(_where(workflow, on=on, not_on=not_on), ITEMS.c.id > after))
                        .order_by(ITEMS.c.id).limit(limit))
    return [store.to_record(r) for r in rows]


def stay_actions(conn: Connection, ids: Iterable[int]) -> dict[int, list[str]]:
    """For each item, the actions of the escalation steps applied since it entered its current
    state (history rows after its last create or transition row), in order."""
    ids = sorted(ids)
    if not ids:
        return {}
    entered = (select(HISTORY.c.item_id, func.max(HISTORY.c.seq).label("seq"))
               .where(and_(HISTORY.c.item_id.in_(ids), HISTORY.c.kind.in_(ENTRY_KINDS)))
               .group_by(HISTORY.c.item_id).subquery())
    rows = conn.execute(
        select(HISTORY.c.item_id, HISTORY.c.data)
        .join(entered, and_(HISTORY.c.item_id == entered.c.item_id,
                            HISTORY.c.seq > entered.c.seq))
        .where(HISTORY.c.kind == "escalation")
        .order_by(HISTORY.c.item_id, HISTORY.c.seq))
    out: dict[int, list[str]] = {}
    for item_id, data in rows:
        action = (data or {}).get("action")
        if action:
            out.setdefault(int(item_id), []).append(str(action))
    return out
