"""The outbox table: notifications written with the event that caused them, sent later.

`enqueue` ignores a row whose dedupe key is already there, so an event applied twice (it cannot
be, but a digest job rerun can) never queues twice. `OutboxTable` is what the dispatcher in
`notifications/dispatch.py` claims rows from: claiming pushes `next_attempt_at` forward by a
claim period, so a second dispatcher running at once does not take the same rows. The rows a
dispatcher claimed and never reached (it died) become due again when the claim lapses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ...notifications.message import Notification
from .db import write
from .models import OutboxRow, table

OUTBOX = table(OutboxRow)
CLAIM_FOR = timedelta(minutes=5)


def enqueue(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(dialect_insert(OUTBOX).on_conflict_do_nothing(index_elements=["dedupe_key"]),
                 [dict(r) for r in rows])


@dataclass
class ClaimedRow:
    id: int
    channel: str
    attempts: int
    notification: Notification


class OutboxTable:
    """The dispatcher's view of the outbox (notifications.dispatch.OutboxStore)."""

    claim_for = CLAIM_FOR  # the dispatcher hands back what it has not tried by half of this

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim_due(self, now: datetime, limit: int) -> list[ClaimedRow]:
        query = (select(OUTBOX).where(and_(OUTBOX.c.status == "pending",
                                           OUTBOX.c.next_attempt_at <= now))
                 .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(limit))
        with write(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if rows:
                conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows]))
                             .values(next_attempt_at=now + CLAIM_FOR))
        return [ClaimedRow(r.id, r.channel, r.attempts, to_notification(r)) for r in rows]

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


def to_notification(row: Any) -> Notification:
    from ...notifications.message import Recipient

    recipients = tuple(Recipient(**r) for r in (row.recipients or {}).get("people", []))
    return Notification(key=row.dedupe_key, template=row.template, subject=row.subject,
                        text=row.body_text, markdown=row.body_markdown, recipients=recipients,
                        item_id=row.item_id, unit=row.unit_id, data=row.data or {})


def list_rows(conn: Connection, status: str | None, limit: int = 200) -> list[dict[str, Any]]:
    query = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
    if status:
        query = query.where(OUTBOX.c.status == status)
    return [dict(r._mapping) for r in conn.execute(query)]
