"""What `audit verify` and `audit anchor` read: items with their chain heads and sealed columns,
history, steps and attachments, streamed by item id in one pass; the admin log. Reads only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text

from ..core.audit import SEALED
from .models import ADMIN_LOG, ATTACHMENTS, ESCALATION_STEPS, HISTORY, ITEMS

_ITEM = ("id", "last_seq", "last_hash", "final", "entered_at", *SEALED)


def item_batches(conn: Connection, batch: int = 2000) -> Iterator[list[dict[str, Any]]]:
    """Every item's head and sealed columns, in id order, a batch at a time."""
    last = 0
    query = (select(*[ITEMS.c[c] for c in _ITEM]).where(ITEMS.c.id > bindparam("after"))
             .order_by(ITEMS.c.id).limit(batch))
    keys = list(_ITEM)
    while True:
        rows = conn.execute(query, {"after": last}).all()
        if not rows:
            return
        yield [dict(zip(keys, r, strict=True)) for r in rows]
        last = rows[-1].id


@dataclass
class Chains:
    """A batch of items with everything hanging off them, read by id range: the history,
    escalation steps and attachment rows of every item id in the range, by item id (ids
    without an item are history whose item row was deleted)."""

    items: list[dict[str, Any]]
    history: dict[int, list[dict[str, Any]]]
    steps: dict[int, list[dict[str, Any]]]
    files: dict[int, list[dict[str, Any]]]


# Only the columns the checks read: each one read is converted for every row of the database.
_HISTORY = [HISTORY.c[c] for c in ("item_id", "seq", "kind", "trigger", "source", "dest",
                                   "actor", "via", "at", "comment", "data", "prev_hash", "hash",
                                   "os_user", "seal")]
_STEPS = [ESCALATION_STEPS.c[c] for c in ("item_id", "entry_no", "step_index", "status",
                                          "planned_at")]
_FILES = [ATTACHMENTS.c[c] for c in ("item_id", "sha256", "name", "size")]


def chains(conn: Connection, batch: int = 2000) -> Iterator[Chains]:
    """Every item and its rows, in id order. The ranges are contiguous (from the last batch's
    last id to this one's; the last range runs on to the end), so each history row is read
    exactly once, in one pass, including the rows of items that no longer exist."""
    last: int | None = 0
    items = item_batches(conn, batch)
    while last is not None:
        page = next(items, [])
        upto = page[-1]["id"] if page else None
        yield Chains(page, _by_item(conn, _HISTORY, last, upto, (HISTORY.c.seq,)),
                     _by_item(conn, _STEPS, last, upto, (STEPS.c.entry_no, STEPS.c.step_index),
                              _STEPS_CHECKED),
                     _by_item(conn, _FILES, last, upto, (ATTACHMENTS.c.id,)))
        last = upto


STEPS = ESCALATION_STEPS
# The steps a check can find wrong: those of the item's current state entry, and pending ones
# left from an earlier entry. The rest (applied or cancelled in an entry that is over) are
# half of all step rows, and reading them would only be thrown away.
_STEPS_CHECKED = and_(ITEMS.c.id == STEPS.c.item_id,
                      or_(STEPS.c.entry_no == ITEMS.c.entry_no, STEPS.c.status == "pending"))


def _by_item(conn: Connection, cols: list[Any], after: int, upto: int | None,
             order: tuple[Any, ...], join: Any = None) -> dict[int, list[dict[str, Any]]]:
    """Rows with item_id in (after, upto], grouped by item, in `order` within each item."""
    item_id = cols[0]
    query = select(*cols).where(item_id > after)
    if upto is not None:
        query = query.where(item_id <= upto)
    if join is not None:
        query = query.join_from(item_id.table, ITEMS, join)
    keys = [c.name for c in cols]
    out: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(query.order_by(item_id, *order)).all():
        out.setdefault(row[0], []).append(dict(zip(keys, row, strict=True)))
    return out


def item_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(ITEMS)).scalar_one())


def admin_log(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(ADMIN_LOG).order_by(ADMIN_LOG.c.seq))]


def history_row(conn: Connection, item_id: int, seq: int) -> str | None:
    """The hash of one history row, or None when it is not there."""
    return conn.execute(select(HISTORY.c.hash).where(and_(HISTORY.c.item_id == item_id,
                                                          HISTORY.c.seq == seq))).scalar()


# Each chunk of heads as the anchor's lines (`core.audit.head_lines`: "id:seq:hash\n" in id
# order), written by the database: a million heads as tuples into Python and an f-string each
# cost a third more CPU than SQLite's printf and group_concat over a chunk.
_HEAD_LINES = {
    "sqlite": "SELECT max(id), group_concat(printf('%d:%d:%s' || char(10), id, last_seq, "
              "last_hash), '') FROM (SELECT id, last_seq, last_hash FROM items WHERE id > :after "
              "ORDER BY id LIMIT :n)",
    "postgresql": "SELECT max(id), string_agg(id || ':' || last_seq || ':' || last_hash || "
                  "chr(10), '' ORDER BY id) FROM (SELECT id, last_seq, last_hash FROM items "
                  "WHERE id > :after ORDER BY id LIMIT :n) AS heads",
}


def head_line_chunks(conn: Connection, batch: int = 50_000) -> Iterator[str]:
    """Every item's chain head as the lines an anchor's digest covers, in id order, `batch`
    items to a string: the digest takes one update per chunk."""
    query = text(_HEAD_LINES[conn.dialect.name])
    after = 0
    while True:
        last, lines = conn.execute(query, {"after": after, "n": batch}).one()
        if last is None:
            return
        yield lines
        after = last
