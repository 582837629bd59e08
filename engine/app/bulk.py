"""Bulk actions: one trigger fired on every item a filter matches, as one person.

Each item is decided by the same function as a single `advance` (roles, assignee, separation of
duties, required fields, comment, guard); refused items are reported and left as they were.
Items are streamed in id order in batches; each batch is one transaction whose writes go out
set-wise through the one event writer (store.EventBatch), with what the batch's notices need
read once before it. On PostgreSQL the batch's items are locked as they are read
(FOR UPDATE, in id order), so a person advancing one of them at the same time waits or is
told it changed, and nothing is half-written. Memory is bounded by the batch, not the match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core import fields as fieldvals
from ..core.errors import Conflict, Refused
from ..core.i18n import _
from ..core.machine import Actor, Outcome, Request
from ..store import items as store
from ..store import reads
from ..store.db import Connection, read
from ..store.db import batch as transaction
from ..store.reads import ItemFilter
from . import lookups
from .countersign import with_signatures
from .records import _view, named_view
from .service import Compiled, Service

BATCH = 500
RETRIES = 3


@dataclass(frozen=True)
class BulkResult:
    item: int
    fired: bool
    source: str
    dest: str | None = None
    reason: str | None = None  # the refusal kind (state, role, guard, ...)
    message: str | None = None

    def as_json(self) -> dict[str, Any]:
        if self.fired:
            return {"item": self.item, "fired": True, "source": self.source, "dest": self.dest}
        return {"item": self.item, "fired": False, "source": self.source,
                "reason": self.reason, "error": self.message}


@dataclass
class BulkSummary:
    trigger: str
    dry_run: bool
    matched: int = 0
    fired: int = 0
    refused: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "dry_run": self.dry_run, "matched": self.matched,
                "fired": self.fired, "refused": self.refused, "reasons": self.reasons}


def bulk(service: Service, actor_id: str | None, trigger: str, filters: ItemFilter, *,
         values: Mapping[str, object] | None = None, comment: str | None = None,
         dry_run: bool = False, batch: int = BATCH,
         on_result: Callable[[BulkResult], None] = lambda _: None,
         progress: Callable[[int], None] = lambda _: None) -> BulkSummary:
    now = service.clock.now()
    summary = BulkSummary(trigger, dry_run)
    with read(service.engine) as conn:
        matching = reads.Matching(conn, filters, now, batch, lock=not dry_run)
    last = 0
    while True:
        results, last, more = _one_batch(service, actor_id, trigger, matching, values or {},
                                         comment, dry_run, batch, last, now)
        for result in results:
            summary.matched += 1
            if result.fired:
                summary.fired += 1
            else:
                summary.refused += 1
                key = result.reason or "refused"
                summary.reasons[key] = summary.reasons.get(key, 0) + 1
            on_result(result)
        progress(len(results))
        if not more:
            return summary


def count_matching(service: Service, filters: ItemFilter) -> int:
    now = service.clock.now()
    with read(service.engine) as conn:
        return reads.count_items(conn, filters, now)


def _one_batch(service: Service, actor_id: str | None, trigger: str, matching: reads.Matching,
               values: Mapping[str, object], comment: str | None, dry_run: bool, batch: int,
               after: int, now: datetime) -> tuple[list[BulkResult], int, bool]:
    """Decide and write one batch; (results, last id seen, whether more may follow)."""
    for _attempt in range(RETRIES):
        with transaction(service.engine, writing=not dry_run) as conn:
            items = matching.after(conn, after)
            writes = store.EventBatch()
            results = _decide(service, conn, items, actor_id, trigger, values, comment, writes,
                              now)
            if dry_run or writes.apply(conn):
                last = items[-1].id if items else after
                return results, last, len(items) == batch
            conn.rollback()  # an item changed between our read and write: read it again
    raise Conflict(_("items after id {after} kept changing while the bulk action "
                     "ran; nothing of that batch was written — run it again").format(
                       after=after))


def _decide(service: Service, conn: Connection, items: list[store.ItemRecord],
            actor_id: str | None, trigger: str, values: Mapping[str, object],
            comment: str | None, writes: store.EventBatch, now: datetime) -> list[BulkResult]:
    actors: dict[str, Actor] = {}
    requests: dict[int, Request] = {}  # per workflow version: its fields type the values
    unit_names: dict[str, str] = {}
    results = []
    decided: list[tuple[Compiled, store.ItemRecord, Outcome]] = []
    for item in items:
        compiled = service.compiled(conn, item.workflow_version_id)
        actor = actors.get(item.unit_path)
        if actor is None:
            actor = actors[item.unit_path] = service.actor(conn, actor_id, item.unit_path)
        request = requests.get(item.workflow_version_id)
        if request is None:
            given = fieldvals.coerce_all(compiled.spec, values)
            request = requests[item.workflow_version_id] = Request(trigger, given, comment)
        try:
            outcome = _fire(conn, compiled, item, actor, request, now, unit_names)
        except Refused as refused:
            results.append(BulkResult(item.id, False, item.state, reason=refused.reason,
                                      message=str(refused)))
            continue
        decided.append((compiled, item, outcome))
        results.append(BulkResult(item.id, True, item.state, dest=outcome.dest))
    # What the batch's notices need, read once for all of them, before anything is written.
    directory = lookups.for_transitions(
        conn, [(compiled.spec, item, outcome) for compiled, item, outcome in decided])
    for compiled, item, outcome in decided:
        writes.add_write(service.transition_write(directory, compiled, item, outcome))
    return results


def _fire(conn: Connection, compiled: Compiled, item: store.ItemRecord, actor: Actor,
          request: Request, now: datetime, unit_names: dict[str, str]) -> Outcome:
    # 会签 so far (read only where the item's state has a countersigned transition)
    view = with_signatures(conn, compiled.spec, item, _view(item, None))
    try:
        return compiled.graph.fire(view, actor, request, now)
    except Refused as refused:
        # A refusal that names the unit or a person: names looked up only then (as `advance`).
        named = named_view(conn, view, item, refused.reason, unit_names)
        if named is None:
            raise
        return compiled.graph.fire(named, actor, request, now)
