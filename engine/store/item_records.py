"""What the store's item writer takes and gives: an item as stored (`ItemRecord`), an event's
history content (`HistoryEntry`), everything one event changes (`ItemWrite`) and an item to
create (`NewItem`). store/items.py writes them; the use cases build them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from ..core.escalation import PlannedStep


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
    """Everything one event changes on one item. `steps` None keeps the pending ladder;
    `replan` gives the current entry's pending steps new times (a new deadline)."""

    item: ItemRecord
    values: Mapping[str, Any]  # item columns to set
    history: HistoryEntry
    steps: Sequence[PlannedStep] | None = None
    attachments: Sequence[Mapping[str, Any]] = ()
    outbox: Sequence[Mapping[str, Any]] = ()
    replan: Sequence[PlannedStep] | None = None


class NewItem(NamedTuple):
    """One item to create: its column values (without id, version, last_seq, last_hash), its
    'create' history entry, the ladder of its initial state and the notices it sends."""

    values: Mapping[str, Any]
    history: HistoryEntry
    steps: Sequence[PlannedStep]
    outbox: Sequence[Mapping[str, Any]] = ()
