"""The outbox table: notifications written with the event that caused them, sent later.

The store only stores: rows go in as the notices module made them and come out as they were
stored; the dispatcher (`notifications/`) renders an item notice's text from its stored context
when it sends it. `enqueue` ignores a row whose dedupe key is already there, so an event applied
twice (it cannot be, but a digest job rerun can) never queues twice. `OutboxTable` is what the
dispatcher in `notifications/dispatch.py` claims rows from: claiming pushes `next_attempt_at`
forward by a claim period, so a second dispatcher running at once does not take the same rows.
The rows a dispatcher claimed and never reached (it died) become due again when the claim lapses.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, and_, bindparam, func, select, update

from .db import write
from .models import OUTBOX, UNITS, UTCDateTime
from .prepared import Prepared, PreparedIn

CLAIM_FOR = timedelta(minutes=5)


COLUMNS = ("dedupe_key", "channel", "template", "item_id", "unit_id", "recipients", "subject",
            "body_text", "body_markdown", "templates_dir", "data", "status", "attempts",
            "next_attempt_at", "created_at", "fold_key")


@cache
def _enqueue(dialect: str) -> Prepared:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING, in the database's own dialect (imported
    when first needed: SQLAlchemy's PostgreSQL dialect alone takes ~25 ms to import)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(OUTBOX)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(OUTBOX)
    return Prepared(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]), COLUMNS)


def enqueue(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue rows (notifications.notices.outbox_row); a dedupe key already there is skipped."""
    _enqueue(conn.dialect.name).run_many(conn, rows)


class StoredRow(NamedTuple):
    """A claimed row as stored: what the dispatcher sends (`notifications.stored` makes the
    notification of it, rendering an item notice's text from `data`)."""

    id: int
    channel: str
    attempts: int
    dedupe_key: str
    template: str
    item_id: int | None
    unit_id: str | None
    recipients: Mapping[str, Any]
    subject: str | None  # None: an item notice, rendered when sent
    body_text: str | None
    body_markdown: str | None
    templates_dir: str | None
    data: Mapping[str, Any]
    fold_key: str | None  # late step notices sent as one (notifications/fold.py)


_STORED = [OUTBOX.c[name] for name in StoredRow._fields]


# Due rows, oldest first (on PostgreSQL locked, skipping rows another dispatcher holds;
# SQLite has one writer and its compiler leaves FOR UPDATE out).
_DUE = Prepared(select(*_STORED)
                .where(and_(OUTBOX.c.status == "pending",
                            OUTBOX.c.next_attempt_at <= bindparam("now", type_=UTCDateTime)))
                .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(bindparam("limit"))
                .with_for_update(skip_locked=True))
_CLAIM_CHUNK = 512  # ids per claiming UPDATE: within every database's parameter limit
_CLAIM = PreparedIn(lambda ids: update(OUTBOX).where(OUTBOX.c.id.in_(ids))
                    .values(next_attempt_at=bindparam("until", type_=UTCDateTime)))

# Rows sent, marked in one statement per batch: prepared as _CLAIM is (SQLAlchemy compiled a
# 500-id UPDATE afresh for every batch a dispatch marked).
_SENT = PreparedIn(lambda ids: update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(
    status="sent", sent_at=bindparam("now", type_=UTCDateTime), last_error=None,
    attempts=OUTBOX.c.attempts + 1, next_attempt_at=None))


class OutboxTable:
    """The dispatcher's view of the outbox (notifications.dispatch.OutboxStore)."""

    claim_for = CLAIM_FOR  # the dispatcher hands back what it has not tried by half of this

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim_due(self, now: datetime, limit: int) -> list[StoredRow]:
        """Pending rows due by `now`, oldest first, claimed for CLAIM_FOR. Both statements
        are prepared (store/prepared.py): SQLAlchemy's per-row result handling cost more than
        writing a notice to a file."""
        with write(self.engine) as conn:
            rows: list[StoredRow] = _DUE.rows(conn, {"now": now, "limit": limit},
                                              StoredRow._make)
            ids = [r.id for r in rows]
            for start in range(0, len(ids), _CLAIM_CHUNK):
                _CLAIM.run(conn, ids[start:start + _CLAIM_CHUNK], {"until": now + CLAIM_FOR})
        return rows

    def claim_fold(self, fold_key: str, channel: str, now: datetime, keep: int
                   ) -> tuple[list[StoredRow], list[int]]:
        """Claim the other due rows of a fold (its key, one channel), as `claim_due` claims:
        the first `keep` of them as stored (what the message lists) and the ids of all."""
        due = and_(OUTBOX.c.fold_key == fold_key, OUTBOX.c.channel == channel,
                   OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= now)
        query = select(OUTBOX.c.id).where(due).order_by(OUTBOX.c.id)
        with write(self.engine) as conn:
            if conn.dialect.name == "postgresql":  # as claim_due: never a row another holds
                query = query.with_for_update(skip_locked=True)
            ids = [r for (r,) in conn.execute(query)]
            shown = [StoredRow(*r) for r in conn.execute(
                select(*_STORED).where(OUTBOX.c.id.in_(ids[:keep])).order_by(OUTBOX.c.id))]
            for start in range(0, len(ids), 500):
                conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids[start:start + 500]))
                             .values(next_attempt_at=now + CLAIM_FOR))
        return shown, ids

    def record(self, outcomes: Sequence[Any], now: datetime) -> None:
        """Write the dispatcher's outcomes (notifications.dispatch.Outcome: row_id, status, at,
        error) in one transaction: a statement per kind, each over all its rows."""
        by_status: dict[str, list[Any]] = {}
        for outcome in outcomes:
            by_status.setdefault(outcome.status, []).append(outcome)
        with write(self.engine) as conn:
            sent = [o.row_id for o in by_status.get("sent", ())]
            for start in range(0, len(sent), _CLAIM_CHUNK):
                _SENT.run(conn, sent[start:start + _CLAIM_CHUNK], {"now": now})
            for status, statement in _OUTCOME_UPDATES.items():
                params = [{"row": o.row_id, "at": o.at, "error": (o.error or "")[:2000]}
                          for o in by_status.get(status, ())]
                if params:
                    conn.execute(statement, params)


# The outcomes other than `sent`, each one UPDATE run over many rows (executemany).
_OUTCOME_UPDATES = {
    "retry": update(OUTBOX).where(OUTBOX.c.id == bindparam("row")).values(
        attempts=OUTBOX.c.attempts + 1, last_error=bindparam("error"),
        next_attempt_at=bindparam("at")),
    "failed": update(OUTBOX).where(OUTBOX.c.id == bindparam("row")).values(
        status="failed", attempts=OUTBOX.c.attempts + 1, last_error=bindparam("error"),
        next_attempt_at=None),
    "postponed": update(OUTBOX).where(OUTBOX.c.id == bindparam("row")).values(
        next_attempt_at=bindparam("at")),
}


def newest(conn: Connection, status: str | None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest rows, as stored (an item notice not sent yet has no text: see
    engine.app.outbox.list_rows for the listing that shows it)."""
    query = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
    if status:
        query = query.where(OUTBOX.c.status == status)
    return [dict(r._mapping) for r in conn.execute(query)]


def count_due(conn: Connection, now: datetime) -> int:
    """Pending rows due by `now` (what a dispatch has before it)."""
    return conn.execute(select(func.count()).select_from(OUTBOX).where(
        and_(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= now))).scalar_one()


def stranded(conn: Connection, channels: Collection[str], limit: int = 1000
             ) -> list[dict[str, Any]]:
    """Pending rows queued for a channel that is not among `channels` (settings changed since),
    with the path of their unit (None for a row without one), oldest first."""
    query = (select(OUTBOX, UNITS.c.path.label("unit_path"))
             .outerjoin(UNITS, UNITS.c.id == OUTBOX.c.unit_id)
             .where(and_(OUTBOX.c.status == "pending", OUTBOX.c.channel.not_in(list(channels))))
             .order_by(OUTBOX.c.id).limit(limit))
    return [dict(r._mapping) for r in conn.execute(query)]


def reroute(conn: Connection, row_id: int, copies: Sequence[Mapping[str, Any]],
            note: str) -> None:
    """Queue `copies` of a stranded row (one per channel that now takes it) and close the row
    as `rerouted`, or `failed` when there is no copy; `note` says why on the row."""
    enqueue(conn, copies)
    conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(
        status="rerouted" if copies else "failed", last_error=note[:2000],
        next_attempt_at=None))


def requeue(conn: Connection, status: str, ids: Sequence[int], now: datetime) -> list[int]:
    """Put the rows of `status` (only those of `ids`, when given) back in the queue, due at
    `now` with their attempts reset; returns the ids requeued."""
    where = OUTBOX.c.status == status
    if ids:
        where = and_(where, OUTBOX.c.id.in_(list(ids)))
    found = [r for (r,) in conn.execute(select(OUTBOX.c.id).where(where).order_by(OUTBOX.c.id))]
    for start in range(0, len(found), 500):
        conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(found[start:start + 500])).values(
            status="pending", attempts=0, next_attempt_at=now))
    return found
