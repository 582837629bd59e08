"""Items and their history: the one event writer, and the reads an event starts from.

Every change to an item goes through `EventBatch` — create, import, advance, bulk, sweep step,
timer fire, assign, migrate, deadline recompute, extension, transfer, urge, signature, sample.
It bumps the item's `version` with an optimistic UPDATE (a concurrent change makes it match no
row: nothing is written), appends the history row chained to the one before (`_link`, the only
place a chain link is computed, with the row's seal of the item and its `via`),
replaces or re-times the escalation ladder, stores attachments and queues the event's outbox
rows, all in the caller's transaction. `apply_write` is that writer for one event; an advance
on PostgreSQL sends its one event's rows (`EventBatch.one`) as one statement (store/one_write.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, insert, select, update

from ...engine.core.i18n import _
from ..core.audit import GENESIS, SEALED, item_seal, row_hash
from ..core.errors import Conflict, NotFound
from ..core.escalation import PlannedStep
from . import repo
from .history import history, iter_history, steps_of
from .ids import CHUNK, large_cache, reserve_ids
from .item_records import HistoryEntry, ItemRecord, ItemWrite, NewItem
from .models import ATTACHMENTS, ESCALATION_STEPS, HISTORY, ITEMS
from .outbox import enqueue
from .prepared import Prepared

STEPS = ESCALATION_STEPS
# An item's past (store.history), read through this module too (`item show`, `audit verify`).
__all__ = ["ATTACHMENTS", "HISTORY", "ITEMS", "STEPS", "EventBatch", "HistoryEntry",
           "ItemRecord", "ItemWrite", "NewItem", "apply_events", "apply_write", "get_item",
           "history", "insert_item", "item_and_person", "iter_history", "select_items",
           "steps_of", "to_record"]


_ITEM_COLUMNS = [ITEMS.c[name] for name in ItemRecord._fields]
_ITEM_WIDTH = len(_ITEM_COLUMNS)
_UNSET = object()

# The hot path (one advance, one sweep step, one bulk row) runs prepared statements: built and
# compiled once, executed on the DBAPI cursor (see prepared.py for why).
_GET_ITEM = Prepared(select(*_ITEM_COLUMNS).where(ITEMS.c.id == bindparam("item_id")))
_HISTORY_COLUMNS = ("item_id", "seq", "kind", "trigger", "source", "dest", "actor", "at",
                    "comment", "data", "prev_hash", "hash", "via", "os_user", "seal")
_INSERT_HISTORY = Prepared(insert(HISTORY), _HISTORY_COLUMNS)
_INSERT_ITEM = Prepared(insert(ITEMS), ("id", *(c for c in ItemRecord._fields if c != "id")))
_INSERT_STEPS = Prepared(insert(STEPS), ("item_id", "entry_no", "step_index", "state", "due_at",
                                         "planned_at", "status", "past_deadline"))
_INSERT_ATTACHMENT = Prepared(insert(ATTACHMENTS),
                              ("item_id", "sha256", "name", "size", "field", "added_at"))
_CANCEL_STEPS = Prepared(update(STEPS).where(and_(STEPS.c.item_id == bindparam("_item"),
                                                  STEPS.c.status == "pending"))
                         .values(status="cancelled", due_at=None))
_REPLAN_STEP = Prepared(update(STEPS).where(and_(
    STEPS.c.item_id == bindparam("_item"), STEPS.c.entry_no == bindparam("_entry"),
    STEPS.c.step_index == bindparam("_index"), STEPS.c.status == "pending"))
    .values(due_at=bindparam("due_at"), planned_at=bindparam("due_at")))


@lru_cache(maxsize=64)
def _update_item(columns: tuple[str, ...]) -> Prepared:
    """UPDATE items SET <columns> WHERE id = :_id AND version = :_version (one per column set)."""
    return Prepared(update(ITEMS).where(and_(ITEMS.c.id == bindparam("_id"),
                                             ITEMS.c.version == bindparam("_version")))
                    .values({c: bindparam(c) for c in columns}))


# --- reads an event starts from -----------------------------------------------------------------

def select_items() -> Any:
    return select(*_ITEM_COLUMNS)


def to_record(row: Any) -> ItemRecord:
    return ItemRecord(**row._mapping)


# The item and the acting person with their roles at its unit or above: an advance's one read.
_ITEM_AND_PERSON = Prepared(
    select(*_ITEM_COLUMNS, *repo.PERSON_COLUMNS, repo.GRANTS.c.role)
    .select_from(ITEMS.outerjoin(repo.PEOPLE, repo.PEOPLE.c.id == bindparam("person"))
                 .outerjoin(*repo.grants_at(repo.PEOPLE.c.id, ITEMS.c.unit_path)))
    .where(ITEMS.c.id == bindparam("item_id")))


def item_and_person(conn: Connection, item_id: int, person_id: str
                    ) -> tuple[ItemRecord, repo.PersonRow | None, frozenset[str]]:
    """The item and the acting person's roles there, in one statement. Not locked: what is
    decided from it is written by `one_write.write_checked`, which writes nothing if the item
    has changed since (on SQLite, BEGIN IMMEDIATE holds the database from this read on)."""
    rows = _ITEM_AND_PERSON.rows(conn, {"item_id": item_id, "person": person_id})
    if not rows:
        raise NotFound("item", item_id)
    return ItemRecord(*rows[0][:_ITEM_WIDTH]), *repo.person_and_roles(rows)


def get_item(conn: Connection, item_id: int) -> ItemRecord:
    rows = _GET_ITEM.rows(conn, {"item_id": item_id})
    if not rows:
        raise NotFound("item", item_id)
    return ItemRecord(*rows[0])


# --- the writer ---------------------------------------------------------------------------------

_HEAD_COLUMNS = ("last_hash", "last_seq", "version")


class OneEvent(NamedTuple):
    """One event's rows (`EventBatch.one`); `steps` None: the ladder stays."""

    columns: tuple[str, ...]  # the item columns `item` sets
    item: dict[str, Any]
    history: dict[str, Any]
    steps: list[dict[str, Any]] | None
    replans: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    outbox: list[Mapping[str, Any]]


class EventBatch:
    """Events on one or many items, written set-wise: new items, history rows, one optimistic
    UPDATE per changed item (executemany), ladders, attachments, outbox rows. Several events
    on one item chain their hashes in order."""

    def __init__(self) -> None:
        self._read: dict[int, tuple[int, int]] = {}  # item -> (version, last seq) as read
        self._head: dict[int, tuple[int, str]] = {}  # item -> (last seq, last hash) now
        self._history: list[dict[str, Any]] = []
        self._outbox: list[Mapping[str, Any]] = []
        self._values: dict[int, dict[str, Any]] = {}  # item -> columns its events set
        self._ladders: dict[int, tuple[int, str, Sequence[PlannedStep]]] = {}
        self._replans: list[dict[str, Any]] = []
        self._attachments: list[dict[str, Any]] = []
        self._new: list[NewItem] = []
        self.created: list[int] = []  # the new items' ids, in order, once applied
        self.changed: int | None = None  # an item found changed since it was read

    def add(self, item: Any, entry: HistoryEntry,
            outbox: Sequence[Mapping[str, Any]] = (),
            after: Mapping[str, Any] | None = None) -> int:
        """Queue one event on `item` (anything with id, version, last_seq and last_hash as
        read, and the sealed columns); a later event on the same item chains onto this one.
        `after`: the columns the event sets (its row seals the item as the event leaves it).
        Returns its seq."""
        if item.id not in self._read:
            self._read[item.id] = (item.version, item.last_seq)
            self._head[item.id] = (item.last_seq, item.last_hash)
        last_seq, last_hash = self._head[item.id]
        earlier = self._values.get(item.id)  # what this batch's earlier events set
        sealed = ({**earlier, **after} if earlier else after) if after else earlier or {}
        row = _link(item.id, last_seq + 1, last_hash, entry, _as_left(item, sealed))
        self._history.append(row)
        self._head[item.id] = (last_seq + 1, row["hash"])
        self._outbox.extend(outbox)
        return last_seq + 1

    def add_write(self, write: ItemWrite) -> int:
        """Queue a whole event: new columns (only those that change: each unchanged JSON
        column would be serialised for nothing), a new or re-timed ladder, attachments."""
        item = write.item
        seq = self.add(item, write.history, write.outbox, write.values)
        changed = {k: v for k, v in write.values.items() if getattr(item, k, _UNSET) != v}
        if changed:
            self._values.setdefault(item.id, {}).update(changed)
        entry_no = write.values.get("entry_no", item.entry_no)
        if write.steps is not None:
            self._ladders[item.id] = (entry_no, write.values.get("state", item.state),
                                      write.steps)
        if write.replan:
            self._replans += [{"_item": item.id, "_entry": entry_no, "_index": s.index,
                               "due_at": s.at} for s in write.replan]
        self._attachments += [{**a, "item_id": item.id} for a in write.attachments]
        return seq

    def create(self, new: NewItem) -> None:
        """Queue a new item; its id is in `created` once applied."""
        self._new.append(new)

    def apply(self, conn: Connection, *,
              progress: Callable[[int, int], None] | None = None) -> bool:
        """Write everything; False (and the caller must roll back) if any item had changed
        since it was read."""
        if self._new:
            self._create(conn, progress)
        for columns, rows in self._item_rows().items():
            touched = _run(_update_item(columns), conn, rows)
            if touched != len(rows):
                self.changed = rows[0]["_id"]
                return False
        if self._ladders:
            _run(_CANCEL_STEPS, conn, [{"_item": i} for i in self._ladders])
            _INSERT_STEPS.run_many(conn, self._step_rows())
        if self._replans:
            _REPLAN_STEP.run_many(conn, self._replans)
        if self._history:
            _run(_INSERT_HISTORY, conn, self._history)
        if self._attachments:
            _INSERT_ATTACHMENT.run_many(conn, self._attachments)
        if self._outbox:
            enqueue(conn, self._outbox)
        return True

    def one(self) -> OneEvent:
        """The rows of this batch's one event on one existing item, for a writer that sends
        them as one statement (store/one_write.py) rather than as `apply` does."""
        ((columns, (item,)),) = self._item_rows().items()
        return OneEvent(columns, item, self._history[0],
                        self._step_rows() if self._ladders else None,
                        self._replans, self._attachments, self._outbox)

    def _item_rows(self) -> dict[tuple[str, ...], list[dict[str, Any]]]:
        """Each changed item's UPDATE row (new columns, chain head, `_id` and `_version` as
        read), grouped by the columns it sets."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for item_id, (seq, h) in self._head.items():
            version, first_seq = self._read[item_id]
            row = {"version": version + seq - first_seq, "last_seq": seq, "last_hash": h,
                   "_id": item_id, "_version": version}
            values = self._values.get(item_id)
            if values:  # a transition's columns; a sweep step only moves the chain head
                row.update(values)
                columns = _with_head(tuple(values))
            else:
                columns = _HEAD_COLUMNS
            by_columns.setdefault(columns, []).append(row)
        return by_columns

    def _step_rows(self) -> list[dict[str, Any]]:
        return [_step_row(item_id, entry_no, state, s)
                for item_id, (entry_no, state, steps) in self._ladders.items() for s in steps]

    def _create(self, conn: Connection, progress: Callable[[int, int], None] | None) -> None:
        """The new items with their 'create' rows and ladders: ids reserved first, so each
        row goes in complete (last_seq 1, last_hash set), in chunks of executemany INSERTs.

        A concurrent import of the same keys (PostgreSQL) fails on the unique (workflow,
        ext_key) constraint (IntegrityError), and the caller's transaction rolls back whole."""
        new, total = self._new, len(self._new)
        self.created = ids = reserve_ids(conn, total)
        with large_cache(conn, total):
            for start in range(0, total, CHUNK):
                _write_new(conn, ids[start:start + CHUNK], new[start:start + CHUNK],
                           self._outbox)
                if progress:
                    progress(min(start + CHUNK, total), total)


def _write_new(conn: Connection, ids: Sequence[int], new: Sequence[NewItem],
               outbox: list[Mapping[str, Any]]) -> None:
    items, history, steps = [], [], []
    for item_id, item in zip(ids, new, strict=True):
        row = _link(item_id, 1, GENESIS, item.history, item.values)
        history.append(row)
        items.append({"closed_at": None, "original_due_at": None, **item.values, "id": item_id,
                      "version": 1, "last_seq": 1, "last_hash": row["hash"]})
        entry_no, state = item.values.get("entry_no", 1), item.values["state"]
        steps += [_step_row(item_id, entry_no, state, s) for s in item.steps]
        outbox.extend(item.outbox)
    _run(_INSERT_ITEM, conn, items)
    _run(_INSERT_HISTORY, conn, history)
    _INSERT_STEPS.run_many(conn, steps)


def _run(statement: Prepared, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Execute for every row; a single row without executemany."""
    if len(rows) == 1:
        return int(statement.run(conn, rows[0]).rowcount)
    return statement.run_many(conn, rows)


@lru_cache(maxsize=64)
def _with_head(columns: tuple[str, ...]) -> tuple[str, ...]:
    """A transition's columns and the chain head's, in one order: a bulk action's items all
    set the same columns, so this is worked out once, not per item."""
    return tuple(sorted({*columns, *_HEAD_COLUMNS}))


def _link(item_id: int, seq: int, prev: str, e: HistoryEntry,
          left: Mapping[str, Any]) -> dict[str, Any]:
    """The history row of event `seq` on the item, chained to the row before it: the one
    place a chain link is made (`rectify audit verify` recomputes it with core.audit). It
    seals the item as the event `left` it (audit.item_seal: the item row is tied to its chain
    head) and says how the actor reached rectify."""
    row = {"item_id": item_id, "seq": seq, "kind": e.kind, "trigger": e.trigger,
           "source": e.source, "dest": e.dest, "actor": e.actor, "at": e.at,
           "comment": e.comment, "data": dict(e.data), "prev_hash": prev,
           # the engine's own actor is never at a keyboard, whatever the caller said
           "via": "system" if e.actor == "system" else e.via, "os_user": e.os_user,
           "seal": item_seal(left)}
    row["hash"] = row_hash(prev, row)
    return row


def _as_left(item: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The sealed columns of `item` (a record that has them) once `values` are set on it."""
    return {name: values[name] if name in values else getattr(item, name) for name in SEALED}


def _step_row(item_id: int, entry_no: int, state: str, s: PlannedStep) -> dict[str, Any]:
    return {"item_id": item_id, "entry_no": entry_no, "step_index": s.index, "state": state,
            "due_at": s.at, "planned_at": s.at, "status": "pending",
            "past_deadline": s.past_deadline, "late": False}


def apply_write(conn: Connection, write: ItemWrite) -> int:
    """Apply one event; Conflict if the item changed since it was read. Returns the history
    seq."""
    events = EventBatch()
    seq = events.add_write(write)
    apply_events(conn, events)
    return seq


def apply_events(conn: Connection, events: EventBatch) -> None:
    """Apply the events; Conflict if an item changed since it was read (then the caller's
    transaction, or savepoint, must roll back)."""
    if not events.apply(conn):
        raise changed(events.changed)


def changed(item: int | None) -> Conflict:
    """What a writer says when the item changed between its read and its write."""
    return Conflict(_("item {item} was changed by someone else while you worked "
                      "on it; nothing was written — look at it again (rectify "
                      "item show {item}) and retry").format(item=item), item=item)


def insert_item(conn: Connection, values: Mapping[str, Any], history: HistoryEntry,
                steps: Sequence[PlannedStep], outbox: Sequence[Mapping[str, Any]] = ()) -> int:
    """Create one item; returns its id."""
    events = EventBatch()
    events.create(NewItem(values, history, steps, outbox))
    events.apply(conn)
    return events.created[0]
