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

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, and_, select, update

from .db import write
from .models import OUTBOX
from .prepared import Prepared

CLAIM_FOR = timedelta(minutes=5)


_COLUMNS = ("dedupe_key", "channel", "template", "item_id", "unit_id", "recipients", "subject",
            "body_text", "body_markdown", "templates_dir", "data", "status", "attempts",
            "next_attempt_at", "created_at")


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
    return Prepared(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]), _COLUMNS)


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


_STORED = [OUTBOX.c[name] for name in StoredRow._fields]


class OutboxTable:
    """The dispatcher's view of the outbox (notifications.dispatch.OutboxStore)."""

    claim_for = CLAIM_FOR  # the dispatcher hands back what it has not tried by half of this

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim_due(self, now: datetime, limit: int) -> list[StoredRow]:
        query = (select(*_STORED).where(and_(OUTBOX.c.status == "pending",
                                             OUTBOX.c.next_attempt_at <= now))
                 .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(limit))
        with write(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = [StoredRow(*r) for r in conn.execute(query)]
            if rows:
                conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows]))
                             .values(next_attempt_at=now + CLAIM_FOR))
        return rows

    def mark_sent(self, row_id: int, now: datetime) -> None:
        with write(self.engine) as conn:
            conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(
                status="sent", sent_at=now, attempts=OUTBOX.c.attempts + 1, last_error=None,
                next_attempt_at=None))

    def mark_failed(self, row_id: int, error: str, now: datetime,
                    retry_at: datetime | None) -> None:
        with write(self.engine) as conn:
            conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(
                status="pending" if retry_at else "failed", attempts=OUTBOX.c.attempts + 1,
                last_error=error[:2000], next_attempt_at=retry_at))

    def postpone(self, row_id: int, retry_at: datetime) -> None:
        """Put a row back without counting an attempt (its channel was rate-limited)."""
        with write(self.engine) as conn:
            conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id)
                         .values(next_attempt_at=retry_at))


def newest(conn: Connection, status: str | None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest rows, as stored (an item notice not sent yet has no text: see
    engine.app.outbox.list_rows for the listing that shows it)."""
    query = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
    if status:
        query = query.where(OUTBOX.c.status == status)
    return [dict(r._mapping) for r in conn.execute(query)]
