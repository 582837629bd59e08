"""Everything `item show` reads about one item — the item, its unit's name, the reader with
their roles there, its history, its escalation steps, its open extension request, the names
of the people it mentions — in one round trip on PostgreSQL (the reads are independent of each
other: each is keyed by the item id alone, the unit and the roles joined to the item), one
statement after another elsewhere.
The API answers every advance with this, so it is read as prepared statements.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, select

from . import repo
from .items import ItemRecord
from .models import ESCALATION_STEPS, EXTENSIONS, HISTORY, ITEMS, UNITS
from .prepared import Prepared
from .trips import pipelined


class ItemInFull(NamedTuple):
    item: ItemRecord
    unit_name: str
    person: repo.PersonRow | None  # the reader, None if nobody or not asked
    roles: frozenset[str]  # the reader's roles at the item's unit or above
    history: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    extensions: list[dict[str, Any]]  # pending requests, newest first
    names: dict[str, str]  # person id -> name, for its assignee, creator and history's actors


_ITEM = ITEMS.c.id == bindparam("item_id")
_ITEM_COLUMNS = [ITEMS.c[name] for name in ItemRecord._fields]
_ITEM_WIDTH = len(_ITEM_COLUMNS)
_UNIT = UNITS.alias("item_unit")  # the grants' join has units of its own
_HEAD = Prepared(
    select(*_ITEM_COLUMNS, _UNIT.c.name, *repo.PERSON_COLUMNS, repo.GRANTS.c.role)
    .select_from(ITEMS.join(_UNIT, _UNIT.c.id == ITEMS.c.unit_id)
                 .outerjoin(repo.PEOPLE, repo.PEOPLE.c.id == bindparam("person"))
                 .outerjoin(*repo.grants_at(repo.PEOPLE.c.id, ITEMS.c.unit_path)))
    .where(_ITEM))
_HISTORY = Prepared(select(HISTORY).where(HISTORY.c.item_id == bindparam("item_id"))
                    .order_by(HISTORY.c.seq))
_STEPS = Prepared(select(ESCALATION_STEPS)
                  .where(ESCALATION_STEPS.c.item_id == bindparam("item_id"))
                  .order_by(ESCALATION_STEPS.c.entry_no, ESCALATION_STEPS.c.step_index))
_PENDING = Prepared(select(EXTENSIONS).where(EXTENSIONS.c.item_id == bindparam("item_id"),
                                             EXTENSIONS.c.status == "pending")
                    .order_by(EXTENSIONS.c.id.desc()))
# The names the card shows, read with the rest rather than in a trip of their own afterwards.
_NAMES = Prepared(select(repo.PEOPLE.c.id, repo.PEOPLE.c.name).where(repo.PEOPLE.c.id.in_(
    select(HISTORY.c.actor).where(HISTORY.c.item_id == bindparam("item_id"))
    .union(select(ITEMS.c.assignee_id).where(_ITEM), select(ITEMS.c.creator_id).where(_ITEM)))))


def item_in_full(conn: Connection, item_id: int, person_id: str | None) -> ItemInFull | None:
    """The item as `item show` shows it to `person_id`; None if there is no such item."""
    params = {"item_id": item_id, "person": person_id}
    reads: list[tuple[Prepared, Any]] = []
    dbapi: Any = conn.connection.dbapi_connection
    with pipelined(conn):  # each read on its own cursor: they are all in flight at once
        for statement in (_HEAD, _HISTORY, _STEPS, _PENDING, _NAMES):
            reads.append((statement, statement.run(conn, params, dbapi.cursor())))
    (head, _), *rest = reads
    rows = head.fetch(conn, reads[0][1])
    if not rows:
        return None
    *listed, (names_read, names_cursor) = rest
    history, steps, pending = (_dicts(statement, cursor, conn) for statement, cursor in listed)
    names = dict(names_read.fetch(conn, names_cursor))
    person, roles = repo.person_and_roles(rows) if person_id else (None, frozenset())
    return ItemInFull(ItemRecord(*rows[0][:_ITEM_WIDTH]), rows[0][_ITEM_WIDTH], person, roles,
                      history, steps, pending, names)


def _dicts(statement: Prepared, cursor: Any, conn: Connection) -> list[dict[str, Any]]:
    names = statement.column_names

    def as_dict(values: Any) -> dict[str, Any]:
        return dict(zip(names, values, strict=True))

    return statement.fetch(conn, cursor, as_dict)
