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
from .models import OUTBOX
from .prepared import Prepared

CLAIM_FOR = timedelta(minutes=5)


_COLUMNS = ("dedupe_key", "channel", "template", "item_id", "unit_id", "recipients", "subject",
            "body_text", "body_markdown", "templates_dir", "data", "status", "attempts",
            "next_attempt_at", "created_at")
_ENQUEUE = {name: Prepared(insert(OUTBOX).on_conflict_do_nothing(index_elements=["dedupe_key"]),
                           _COLUMNS)
            for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))}


def enqueue(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue rows (notifications.notices.outbox_row); a dedupe key already there is skipped."""
    _ENQUEUE[conn.dialect.name].run_many(conn, rows)


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
        from ...notifications.render import RenderError

        claimed = []
        for r in rows:  # rendered after the claim's transaction: it holds no lock meanwhile
            try:
                claimed.append(ClaimedRow(r.id, r.channel, r.attempts, to_notification(r)))
            except RenderError as exc:  # retrying cannot help; say why in `outbox list`
                self.mark_failed(r.id, f"template '{r.template}' does not render: {exc}", now,
                                 None)
        return claimed

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
    """The row as a notification; an item notice is rendered here (RenderError if it cannot)."""
    from ...notifications.message import Recipient

    recipients = tuple(Recipient(**r) for r in (row.recipients or {}).get("people", []))
    subject, text, markdown = _texts(row)
    return Notification(key=row.dedupe_key, template=row.template, subject=subject,
                        text=text, markdown=markdown, recipients=recipients,
                        item_id=row.item_id, unit=row.unit_id, data=row.data or {})


def _texts(row: Any) -> tuple[str, str, str]:
    if row.subject is not None:  # rendered when queued (digests, reports)
        return row.subject, row.body_text, row.body_markdown
    from ...notifications.render import render

    return render(row.template, row.data or {}, extra_dir=row.templates_dir)


def list_rows(conn: Connection, status: str | None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest rows; an item notice not sent yet shows the text it would be sent with."""
    query = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
    if status:
        query = query.where(OUTBOX.c.status == status)
    from ...notifications.render import RenderError

    listed = []
    for r in conn.execute(query):
        row = dict(r._mapping)
        try:
            row["subject"], row["body_text"], row["body_markdown"] = _texts(r)
        except RenderError as exc:
            row["subject"] = f"(template '{r.template}' does not render: {exc})"
        listed.append(row)
    return listed
