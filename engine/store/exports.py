"""What a ledger export reads beside the items themselves, one query per batch of items: who
closed each item (the 验收人) and when each was handed over (交办)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, func, or_, select

from .items import HISTORY

__all__ = ["closers", "handovers"]


def closers(conn: Connection, ids: Sequence[int],
            finals: Collection[str]) -> dict[int, tuple[str, str]]:
    """(dest, actor) of the last transition of each item into one of the states `finals`."""
    if not ids or not finals:
        return {}
    rows = conn.execute(select(HISTORY.c.item_id, HISTORY.c.dest, HISTORY.c.actor).where(and_(
        HISTORY.c.item_id.in_(ids), HISTORY.c.kind == "transition",
        HISTORY.c.dest.in_(sorted(finals)))).order_by(HISTORY.c.item_id, HISTORY.c.seq))
    return {r.item_id: (r.dest, r.actor) for r in rows}


def handovers(conn: Connection, ids: Sequence[int],
              initials: Collection[str]) -> dict[int, list[tuple[str | None, datetime]]]:
    """Per item, the first time of each way it may have been handed over: an `assign` event
    (source None) or a transition out of one of the states `initials` (its source)."""
    if not ids:
        return {}
    query = (select(HISTORY.c.item_id, HISTORY.c.kind, HISTORY.c.source, func.min(HISTORY.c.at))
             .where(and_(HISTORY.c.item_id.in_(ids), or_(
                 HISTORY.c.kind == "assign",
                 and_(HISTORY.c.kind == "transition", HISTORY.c.source.in_(sorted(initials))))))
             .group_by(HISTORY.c.item_id, HISTORY.c.kind, HISTORY.c.source))
    found: dict[int, list[tuple[str | None, datetime]]] = {}
    for item_id, kind, source, at in conn.execute(query):
        found.setdefault(item_id, []).append((None if kind == "assign" else source, at))
    return found
