"""Many new items at once (`rectify item import`): what is there already, then the new items.

The items themselves are written by the one event writer (`items.EventBatch.create`): ids
reserved first, then items, their 'create' history rows and ladders with a handful of
executemany INSERTs, exactly as `items.insert_item` writes one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select
from sqlalchemy.exc import IntegrityError

from ...engine.core.i18n import _
from ..core.errors import Conflict
from .items import ITEMS, EventBatch, NewItem
from .repo import GRANTS

IN_LIMIT = 900  # values per IN (...) list

__all__ = ["Existing", "NewItem", "existing_items", "grants_of", "insert_items",
           "native_items"]


@dataclass(frozen=True)
class Existing:
    """An item a ledger row's key already names."""

    id: int
    unit_id: str
    fields: Mapping[str, Any]


def existing_items(conn: Connection, workflow: str, keys: Iterable[str]) -> dict[str, Existing]:
    """The items of `workflow` whose ext_key is one of `keys`, by key."""
    wanted = list(dict.fromkeys(keys))
    if len(wanted) > 20 * IN_LIMIT:  # a big file: one scan of the workflow's keys beats many INs
        have = set(conn.execute(select(ITEMS.c.ext_key).where(and_(
            ITEMS.c.workflow == workflow, ITEMS.c.ext_key.is_not(None)))).scalars())
        wanted = [k for k in wanted if k in have]
    return {r.ext_key: Existing(r.id, r.unit_id, r.fields) for r in _chunked(
        conn, wanted, lambda chunk: select(ITEMS.c.ext_key, ITEMS.c.id, ITEMS.c.unit_id,
                                           ITEMS.c.fields)
        .where(and_(ITEMS.c.workflow == workflow, ITEMS.c.ext_key.in_(chunk))))}


def native_items(conn: Connection, workflow: str, ids: Iterable[int]) -> dict[int, Existing]:
    """The items of `workflow` among `ids` that were created in rectify itself (no ext_key)."""
    return {r.id: Existing(r.id, r.unit_id, r.fields) for r in _chunked(
        conn, sorted(set(ids)), lambda chunk: select(ITEMS.c.id, ITEMS.c.unit_id,
                                                     ITEMS.c.fields)
        .where(and_(ITEMS.c.workflow == workflow, ITEMS.c.ext_key.is_(None),
                    ITEMS.c.id.in_(chunk))))}


def _chunked(conn: Connection, values: Sequence[Any],
             query: Callable[[Sequence[Any]], Any]) -> Iterator[Any]:
    for start in range(0, len(values), IN_LIMIT):  # under SQLite's bound-parameter limit
        yield from conn.execute(query(values[start:start + IN_LIMIT]))


def grants_of(conn: Connection, person_id: str) -> set[str]:
    """Units at which the person holds some role."""
    return {r[0] for r in conn.execute(select(GRANTS.c.unit_id)
                                       .where(GRANTS.c.person_id == person_id))}


def insert_items(conn: Connection, new: Sequence[NewItem],
                 progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Write every item with its history row and ladder; returns their ids in input order.

    A concurrent import of the same keys (PostgreSQL) fails on the unique (workflow, ext_key)
    constraint: Conflict, and the caller's transaction rolls back whole.
    """
    events = EventBatch()
    for item in new:
        events.create(item)
    try:
        events.apply(conn, progress=progress)
    except IntegrityError as exc:
        raise Conflict(_("some rows were imported by someone else at the same time; nothing was "
                       "written — run the import again (rows already there are skipped)")) from exc
    return events.created
