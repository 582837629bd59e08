"""Items, their history, escalation steps and attachments: reads and the one-transaction writes.

Every change to an item is an `ItemWrite` applied by `apply_write`: an optimistic UPDATE on the
item's `version` (a concurrent change makes it match no row: Conflict, nothing written), then the
history row with its chained hash, the ladder rows, attachments and outbox rows, all in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, insert, select, update

from ..core.audit import GENESIS, SEALED, item_seal, row_hash
from ..core.errors import Conflict, NotFound
from ..core.escalation import PlannedStep
from . import repo
from .models import ATTACHMENTS, ESCALATION_STEPS, HISTORY, ITEMS
from .prepared import Prepared, PreparedIn

STEPS = ESCALATION_STEPS


class ItemRecord(NamedTuple):
    """An item as stored. NamedTuples here and for the other per-item records: as immutable as
    a frozen dataclass, whose __init__ costs ~0.25 µs a field (24 here) on every item a bulk
    action or a sweep touches."""

    id: int
    workflow: str
    workflow_version_id: int
    state: str
    unit_id: str
    unit_path: str
    subject: str | None
    assignee_id: str | None
    creator_id: str
    ext_key: str | None
    fields: dict[str, Any]
    counts: dict[str, Any]
    cycle_actors: dict[str, Any]
    entry_no: int
    entered_at: datetime
    due_at: datetime | None
    due_provisional: bool
    due_override: bool
    final: bool
    created_at: datetime
    closed_at: datetime | None
    version: int
    last_seq: int
    last_hash: str
    original_due_at: datetime | None = None  # the deadline its state entry began with


_ITEM_COLUMNS = [ITEMS.c[name] for name in ItemRecord._fields]
_ITEM_WIDTH = len(_ITEM_COLUMNS)
_UNSET = object()

# The hot path (one advance, one sweep step, one bulk row) runs prepared statements: built and
# compiled once, executed on the DBAPI cursor (see prepared.py for why).
_GET_ITEM = Prepared(select(*_ITEM_COLUMNS).where(ITEMS.c.id == bindparam("item_id")))
_HISTORY_COLUMNS = ("item_id", "seq", "kind", "trigger", "source", "dest", "actor", "at",
                    "comment", "data", "prev_hash", "hash", "via", "os_user", "seal")
_INSERT_HISTORY = Prepared(insert(HISTORY), _HISTORY_COLUMNS)
_INSERT_STEPS = Prepared(insert(STEPS), ("item_id", "entry_no", "step_index", "state", "due_at",
                                         "planned_at", "status", "past_deadline"))
_INSERT_ATTACHMENT = Prepared(insert(ATTACHMENTS),
                              ("item_id", "sha256", "name", "size", "field", "added_at"))
_CANCEL_STEPS = Prepared(update(STEPS).where(and_(STEPS.c.item_id == bindparam("_item"),
                                                  STEPS.c.status == "pending"))
                         .values(status="cancelled", due_at=None))


@lru_cache(maxsize=64)
def _update_item(columns: tuple[str, ...]) -> Prepared:
    """UPDATE items SET <columns> WHERE id = :_id AND version = :_version (one per column set)."""
    return Prepared(update(ITEMS).where(and_(ITEMS.c.id == bindparam("_id"),
                                             ITEMS.c.version == bindparam("_version")))
                    .values({c: bindparam(c) for c in columns}))


class HistoryEntry(NamedTuple):
    """One event's history content (the store adds item, seq and the hashes). A NamedTuple,
    not a frozen dataclass: as immutable, and a sweep or bulk action makes one per item."""

    kind: str
    actor: str
    at: datetime
    trigger: str | None = None
    source: str | None = None
    dest: str | None = None
    comment: str | None = None
    data: Mapping[str, Any] = MappingProxyType({})
    via: str = "cli"  # how the actor reached rectify: cli, web, api, system
    os_user: str | None = None  # the operating-system account, on the CLI


class ItemWrite(NamedTuple):
    """Everything one event changes on one item. `steps` None keeps the pending ladder."""

    item: ItemRecord
    values: Mapping[str, Any]  # item columns to set
    history: HistoryEntry
    steps: Sequence[PlannedStep] | None = None
    attachments: Sequence[Mapping[str, Any]] = ()
    outbox: Sequence[Mapping[str, Any]] = ()


def select_items() -> Any:
    return select(*_ITEM_COLUMNS)


def to_record(row: Any) -> ItemRecord:
    return ItemRecord(**row._mapping)


# The item and the acting person with their roles at its unit or above: an advance's one read.
_LOCK_ITEM_AND_PERSON = Prepared(
    select(*_ITEM_COLUMNS, *repo.PERSON_COLUMNS, repo.GRANTS.c.role)
    .select_from(ITEMS.outerjoin(repo.PEOPLE, repo.PEOPLE.c.id == bindparam("person"))
                 .outerjoin(*repo.grants_at(repo.PEOPLE.c.id, ITEMS.c.unit_path)))
    .where(ITEMS.c.id == bindparam("item_id"))
    .with_for_update(of=ITEMS))


def lock_item_and_person(conn: Connection, item_id: int, person_id: str
                         ) -> tuple[ItemRecord, repo.PersonRow | None, frozenset[str]]:
    """The item, held until the transaction ends (SELECT ... FOR UPDATE on PostgreSQL; on
    SQLite, BEGIN IMMEDIATE already holds the database), and the acting person's roles there.
    A write of an item read this way cannot meet a concurrent change: `apply_write(locked)`."""
    rows = _LOCK_ITEM_AND_PERSON.rows(conn, {"item_id": item_id, "person": person_id})
    if not rows:
        raise NotFound("item", item_id)
    return ItemRecord(*rows[0][:_ITEM_WIDTH]), *repo.person_and_roles(rows)


def get_item(conn: Connection, item_id: int) -> ItemRecord:
    rows = _GET_ITEM.rows(conn, {"item_id": item_id})
    if not rows:
        raise NotFound("item", item_id)
    return ItemRecord(*rows[0])


class Head(NamedTuple):
    """What a batch of events needs of an item: its chain head, and what notices are made of.
    A plain tuple: a sweep reads each of these a dozen times, and a Row's attribute access
    costs ~0.5 µs, a NamedTuple's a tenth of that."""

    id: int
    workflow_version_id: int
    state: str
    entry_no: int
    version: int
    last_seq: int
    last_hash: str
    unit_id: str
    unit_path: str
    subject: str | None
    assignee_id: str | None
    creator_id: str
    fields: dict[str, Any]
    due_at: datetime | None


_GET_HEADS = PreparedIn(lambda ids: select(*[ITEMS.c[c] for c in Head._fields])
                       .where(ITEMS.c.id.in_(ids)))


def get_heads(conn: Connection, ids: set[int]) -> dict[int, Head]:
    """The rows a batch of events works from, by item id."""
    return {head.id: head for head in _GET_HEADS.rows(conn, sorted(ids), Head._make)}


_HEAD_COLUMNS = ("last_hash", "last_seq", "version")


class EventBatch:
    """Events on many items written set-wise: history rows, one optimistic UPDATE per item
    (executemany), outbox rows. Several events on one item chain their hashes in order."""

    def __init__(self) -> None:
        self._read: dict[int, tuple[int, int]] = {}  # item -> (version, last seq) as read
        self._head: dict[int, tuple[int, str]] = {}  # item -> (last seq, last hash) now
        self._history: list[dict[str, Any]] = []
        self._outbox: list[Mapping[str, Any]] = []
        self._values: dict[int, dict[str, Any]] = {}  # item -> columns a transition sets
        self._ladders: dict[int, tuple[int, str, Sequence[PlannedStep]]] = {}

    def add(self, item: Any, entry: HistoryEntry,
            outbox: Sequence[Mapping[str, Any]] = (),
            after: Mapping[str, Any] | None = None) -> None:
        """Queue one event on `item` (anything with id, version, last_seq and last_hash as
        read, and the sealed columns); a later event on the same item chains onto this one.
        `after`: the columns the event sets (the history row seals the item as it leaves it)."""
        if item.id not in self._read:
            self._read[item.id] = (item.version, item.last_seq)
            self._head[item.id] = (item.last_seq, item.last_hash)
        last_seq, last_hash = self._head[item.id]
        merged = {**self._values.get(item.id, {}), **(after or {})}
        values = _history_values(item.id, last_seq + 1, last_hash, entry,
                                 _seal(item, merged))
        values["hash"] = h = row_hash(last_hash, values)
        self._history.append(values)
        self._head[item.id] = (last_seq + 1, h)
        self._outbox.extend(outbox)

    def add_write(self, write: ItemWrite) -> None:
        """Queue a whole event (a transition: new columns and a new ladder) on its item."""
        assert not write.attachments, "attachments go through apply_write"
        self.add(write.item, write.history, write.outbox, write.values)
        self._values.setdefault(write.item.id, {}).update(write.values)
        if write.steps is not None:
            entry_no = write.values.get("entry_no", write.item.entry_no)
            state = write.values.get("state", write.item.state)
            self._ladders[write.item.id] = (entry_no, state, write.steps)

    def apply(self, conn: Connection) -> bool:
        """Write everything; False (and the caller must roll back) if any item had changed."""
        if not self._history:
            return True
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
        for columns, rows in by_columns.items():
            if _update_item(columns).run_many(conn, rows) != len(rows):
                return False
        if self._ladders:
            _CANCEL_STEPS.run_many(conn, [{"_item": i} for i in self._ladders])
            _INSERT_STEPS.run_many(conn, [_step_row(item_id, entry_no, state, s)
                                          for item_id, (entry_no, state, steps)
                                          in self._ladders.items() for s in steps])
        _INSERT_HISTORY.run_many(conn, self._history)
        if self._outbox:
            from .outbox import enqueue

            enqueue(conn, self._outbox)
        return True


@lru_cache(maxsize=64)
def _with_head(columns: tuple[str, ...]) -> tuple[str, ...]:
    """A transition's columns and the chain head's, in one order: a bulk action's items all
    set the same columns, so this is worked out once, not per item."""
    return tuple(sorted({*columns, *_HEAD_COLUMNS}))


def insert_item(conn: Connection, values: Mapping[str, Any], history: HistoryEntry,
                steps: Sequence[PlannedStep]) -> int:
    result = conn.execute(insert(ITEMS).values(**values, version=1, last_seq=0,
                                               last_hash=GENESIS))
    item_id = result.inserted_primary_key[0]  # type: ignore[index]
    h = _append_history(conn, item_id, 1, GENESIS, history, item_seal(values))
    conn.execute(update(ITEMS).where(ITEMS.c.id == item_id).values(last_seq=1, last_hash=h))
    _insert_steps(conn, item_id, values.get("entry_no", 1), values["state"], steps)
    return int(item_id)


def apply_write(conn: Connection, write: ItemWrite, *, locked: bool = False) -> int:
    """Apply one event; Conflict if the item changed since it was read, unless it was read
    `locked` (then it cannot have, and the write may be pipelined: no result is read back).
    Returns the history seq."""
    item = write.item
    seq = item.last_seq + 1
    history = _history_values(item.id, seq, item.last_hash, write.history,
                              _seal(item, write.values))
    h = history["hash"] = row_hash(item.last_hash, history)
    # Only the columns that change: each unchanged JSON column would be serialised for nothing.
    values = {k: v for k, v in write.values.items() if getattr(item, k, _UNSET) != v}
    values.update(version=item.version + 1, last_seq=seq, last_hash=h)
    cursor = _update_item(tuple(sorted(values))).run(
        conn, {**values, "_id": item.id, "_version": item.version})
    if not locked and cursor.rowcount != 1:
        raise Conflict(f"item {item.id} was changed by someone else while you worked on it; "
                       "nothing was written — look at it again (rectify item show "
                       f"{item.id}) and retry", item=item.id)
    _INSERT_HISTORY.run(conn, history)
    if write.steps is not None:
        cancel_pending_steps(conn, item.id)
        entry_no = write.values.get("entry_no", item.entry_no)
        _insert_steps(conn, item.id, entry_no, write.values.get("state", item.state), write.steps)
    _INSERT_ATTACHMENT.run_many(conn, [{**a, "item_id": item.id} for a in write.attachments])
    if write.outbox:
        from .outbox import enqueue

        enqueue(conn, write.outbox)
    return seq


def _history_values(item_id: int, seq: int, prev: str, e: HistoryEntry,
                    seal: str | None = None) -> dict[str, Any]:
    """A history row's columns but its hash. `seal`: the digest of the item as the event
    leaves it (audit.item_seal), so the item row is tied to its chain head."""
    return {"item_id": item_id, "seq": seq, "kind": e.kind, "trigger": e.trigger,
            "source": e.source, "dest": e.dest, "actor": e.actor, "at": e.at,
            "comment": e.comment, "data": dict(e.data), "prev_hash": prev,
            # the engine's own actor is never at a keyboard, whatever the caller said
            "via": "system" if e.actor == "system" else e.via, "os_user": e.os_user,
            "seal": seal}


def _seal(item: Any, values: Mapping[str, Any]) -> str:
    """The seal of `item` (a record with the sealed columns) once `values` are set on it."""
    return item_seal({name: values[name] if name in values else getattr(item, name)
                      for name in SEALED})


def _append_history(conn: Connection, item_id: int, seq: int, prev: str,
                    entry: HistoryEntry, seal: str | None = None) -> str:
    values = _history_values(item_id, seq, prev, entry, seal)
    h = row_hash(prev, values)
    _INSERT_HISTORY.run(conn, {**values, "hash": h})
    return h


def cancel_pending_steps(conn: Connection, item_id: int) -> None:
    _CANCEL_STEPS.run(conn, {"_item": item_id})


_CANCEL_STEP = (update(STEPS).where(STEPS.c.id == bindparam("_step"))
                .values(status="cancelled", due_at=None))


def cancel_steps(conn: Connection, step_ids: Sequence[int]) -> None:
    """Cancel claimed steps that no longer apply (their item left the state entry)."""
    if step_ids:
        conn.execute(_CANCEL_STEP, [{"_step": i} for i in step_ids])


def _insert_steps(conn: Connection, item_id: int, entry_no: int, state: str,
                  steps: Sequence[PlannedStep]) -> None:
    _INSERT_STEPS.run_many(conn, [_step_row(item_id, entry_no, state, s) for s in steps])


def _step_row(item_id: int, entry_no: int, state: str, s: PlannedStep) -> dict[str, Any]:
    return {"item_id": item_id, "entry_no": entry_no, "step_index": s.index, "state": state,
            "due_at": s.at, "planned_at": s.at, "status": "pending",
            "past_deadline": s.past_deadline}


def history(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(HISTORY).where(HISTORY.c.item_id == item_id)
                        .order_by(HISTORY.c.seq))
    return [dict(r._mapping) for r in rows]


def steps_of(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(STEPS).where(STEPS.c.item_id == item_id)
                        .order_by(STEPS.c.entry_no, STEPS.c.step_index))
    return [dict(r._mapping) for r in rows]


def iter_history(conn: Connection, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every history row in (item, seq) order, streamed in keyset batches."""
    last = (0, 0)
    while True:
        rows = conn.execute(
            select(HISTORY)
            .where((HISTORY.c.item_id > last[0])
                   | and_(HISTORY.c.item_id == last[0], HISTORY.c.seq > last[1]))
            .order_by(HISTORY.c.item_id, HISTORY.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield dict(row._mapping)
        last = (rows[-1].item_id, rows[-1].seq)


def replan_steps(conn: Connection, item_id: int, entry_no: int,
                 steps: Sequence[PlannedStep]) -> None:
    """A new deadline for the current entry: move its steps that have not been applied yet."""
    for step in steps:
        conn.execute(update(STEPS).where(and_(
            STEPS.c.item_id == item_id, STEPS.c.entry_no == entry_no,
            STEPS.c.step_index == step.index, STEPS.c.status == "pending"))
            .values(due_at=step.at, planned_at=step.at))
