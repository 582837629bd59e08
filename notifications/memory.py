"""An in-memory outbox: the reference behaviour of the `OutboxStore` protocol.

Used by tests and dry runs; the SQL store must behave the same (one row per channel and key,
`mark_failed` counts an attempt, `postpone` does not, `claim_due` returns snapshots).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .message import Notification


@dataclass
class MemoryRow:
    id: int
    channel: str
    notification: Notification
    next_attempt: datetime
    attempts: int = 0
    status: str = "pending"  # pending | sent | failed
    last_error: str | None = None
    sent_at: datetime | None = None


class MemoryOutbox:
    def __init__(self) -> None:
        self.rows: dict[int, MemoryRow] = {}
        self._by_key: dict[tuple[str, str], int] = {}

    def enqueue(self, channel: str, notification: Notification, now: datetime) -> int | None:
        """Add a row due now; None if this channel already has the notification's key."""
        if (channel, notification.key) in self._by_key:
            return None
        row_id = len(self.rows) + 1
        self.rows[row_id] = MemoryRow(row_id, channel, notification, next_attempt=now)
        self._by_key[(channel, notification.key)] = row_id
        return row_id

    def claim_due(self, now: datetime, limit: int) -> list[MemoryRow]:
        due = [r for r in self.rows.values() if r.status == "pending" and r.next_attempt <= now]
        return [replace(r) for r in sorted(due, key=lambda r: r.id)[:limit]]

    def mark_sent(self, row_id: int, now: datetime) -> None:
        row = self.rows[row_id]
        row.status, row.sent_at, row.last_error = "sent", now, None

    def mark_failed(
        self, row_id: int, error: str, now: datetime, retry_at: datetime | None
    ) -> None:
        row = self.rows[row_id]
        row.attempts += 1
        row.last_error = error
        if retry_at is None:
            row.status = "failed"
        else:
            row.next_attempt = retry_at

    def postpone(self, row_id: int, retry_at: datetime) -> None:
        self.rows[row_id].next_attempt = retry_at

    def record(self, outcomes: Sequence[Any], now: datetime) -> None:
        """The dispatcher's outcomes (dispatch.Outcome), as the SQL store writes them."""
        for o in outcomes:
            if o.status == "sent":
                self.mark_sent(o.row_id, now)
            elif o.status == "postponed":
                self.postpone(o.row_id, o.at)
            else:
                retry_at = o.at if o.status == "retry" else None
                self.mark_failed(o.row_id, o.error or "", now, retry_at)

    def with_status(self, status: str) -> list[MemoryRow]:
        return [r for r in self.rows.values() if r.status == status]
