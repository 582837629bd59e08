"""The outbox dispatcher: hand due rows to their channels and record what happened.

Written against the `OutboxStore` protocol; the SQL table behind it lives in engine/store.
Each row is one notification for one channel. The SQL store keeps an item notice as its
template's context; the dispatcher renders it (notifications/stored.py) once it has claimed
it. A row ends `sent` or, after a permanent failure or too many transient ones, `failed`; in
between it waits with exponential backoff.

The one duplicate window: a channel accepted a message and the process died before
`mark_sent` ran; the row is still pending and is sent again next time (at-least-once there,
exactly once everywhere else). Rows are sent one at a time and each is marked in its own
transaction, so that window holds at most the one row in flight. Receivers can dedupe on
`Notification.key`.

A store that claims its rows for a limited time (`claim_for`, as the SQL outbox does) must not
be outlived by the pass: after half that time the rows not yet tried are handed back, due at
once, rather than sent when another dispatcher may already have claimed them again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from .delivery import Channel, PermanentFailure, RateLimited, TransientFailure
from .message import Notification

log = structlog.get_logger(__name__)

MAX_DELAY = timedelta(hours=6)
MAX_ERROR = 1000  # characters of an error kept on the row


class OutboxRow(Protocol):
    id: int
    channel: str
    attempts: int  # failed attempts so far
    notification: Notification


class StoredOutboxRow(Protocol):
    """A row as the SQL store keeps it: the outbox's columns (notifications/stored.py)."""

    @property
    def id(self) -> int: ...

    @property
    def channel(self) -> str: ...

    @property
    def attempts(self) -> int: ...

    @property
    def template(self) -> str: ...


class OutboxStore(Protocol):
    """Where rows wait. A store may also have `claim_for: timedelta`: how long `claim_due`
    keeps the rows it returns from other dispatchers (the dispatcher stays well within it)."""

    def claim_due(self, now: datetime, limit: int) -> Sequence[OutboxRow | StoredOutboxRow]:
        """Pending rows with next_attempt <= now, oldest first: with their notification, or
        as stored (the dispatcher renders them)."""
        ...

    def mark_sent(self, row_id: int, now: datetime) -> None: ...

    def mark_failed(
        self, row_id: int, error: str, now: datetime, retry_at: datetime | None
    ) -> None:
        """Count one failed attempt; retry at `retry_at`, or fail for good when it is None."""
        ...

    def postpone(self, row_id: int, retry_at: datetime) -> None:
        """Move next_attempt to `retry_at` WITHOUT counting an attempt (a paused channel)."""
        ...


@dataclass(frozen=True)
class DispatchReport:
    sent: int = 0
    retried: int = 0  # failed transiently, scheduled again
    failed: int = 0  # failed for good
    paused_channels: tuple[str, ...] = ()  # over their rate limit; their rows were postponed
    postponed: int = 0  # put back without an attempt: paused channel, or handed back unsent


def backoff(attempts: int, base_delay: timedelta) -> timedelta:
    """base_delay * 2**attempts, at most six hours (the exponent is capped before overflow)."""
    return min(base_delay * 2 ** min(attempts, 30), MAX_DELAY)


def dispatch(
    store: OutboxStore,
    channels: Mapping[str, Channel],
    now: datetime,
    *,
    limit: int = 100,
    max_attempts: int = 8,
    base_delay: timedelta = timedelta(seconds=30),
    clock: Callable[[], float] = time.monotonic,
) -> DispatchReport:
    """One pass over the due rows; returns what happened to them.

    `clock` (seconds, monotonic) times the pass against the store's claim period.
    """
    counts = {"sent": 0, "retried": 0, "failed": 0, "postponed": 0}
    paused: dict[str, datetime] = {}  # channel -> when it may send again
    claim_for: timedelta | None = getattr(store, "claim_for", None)
    hand_back_at = None if claim_for is None else clock() + claim_for.total_seconds() / 2
    claimed = _ready(store, store.claim_due(now, limit), now)
    for index, row in enumerate(claimed):
        if hand_back_at is not None and clock() >= hand_back_at:
            counts["postponed"] += _hand_back(store, claimed[index:], now, paused)
            break
        if row.channel in paused:
            store.postpone(row.id, paused[row.channel])
            counts["postponed"] += 1
            continue
        counts[_deliver(store, channels, row, now, paused, max_attempts, base_delay)] += 1
    return DispatchReport(
        sent=counts["sent"], retried=counts["retried"], failed=counts["failed"],
        paused_channels=tuple(sorted(paused)), postponed=counts["postponed"],
    )


@dataclass
class _Ready:
    id: int
    channel: str
    attempts: int
    notification: Notification


def _ready(store: OutboxStore, rows: Sequence[Any], now: datetime) -> list[OutboxRow]:
    """The claimed rows with their notifications. A stored row is rendered here, after the
    claim's transaction (it holds no lock meanwhile); one whose template no longer renders
    fails for good (retrying cannot help), and `outbox list` says why."""
    ready: list[OutboxRow] = []
    for row in rows:
        if hasattr(row, "notification"):
            ready.append(row)
            continue
        from .render import RenderError
        from .stored import failure, to_notification

        try:
            ready.append(_Ready(row.id, row.channel, row.attempts, to_notification(row)))
        except RenderError as exc:
            store.mark_failed(row.id, failure(row, exc), now, None)
    return ready


def _hand_back(
    store: OutboxStore, rows: Sequence[OutboxRow], now: datetime, paused: Mapping[str, datetime]
) -> int:
    """Put untried rows back without counting an attempt, due when their channel may send."""
    for row in rows:
        store.postpone(row.id, paused.get(row.channel, now))
    log.warning("outbox.handed_back", rows=len(rows), reason="half the claim period is over")
    return len(rows)


def _deliver(
    store: OutboxStore,
    channels: Mapping[str, Channel],
    row: OutboxRow,
    now: datetime,
    paused: dict[str, datetime],
    max_attempts: int,
    base_delay: timedelta,
) -> str:
    """Send one row and record the outcome; returns the counter to bump.

    A rate-limited channel goes into `paused` with the time it may send again.
    """
    channel = channels.get(row.channel)
    context = {"row": row.id, "channel": row.channel, "key": row.notification.key}
    if channel is None:
        known = ", ".join(sorted(channels)) or "none"
        error = f"unknown channel {row.channel!r} (configured: {known})"
        return _fail(store, row, error, now, context)
    try:
        channel.send(row.notification)
    except RateLimited as exc:
        resume = now + timedelta(seconds=exc.retry_after)
        store.postpone(row.id, resume)
        paused[row.channel] = resume
        log.info("outbox.paused", until=resume.isoformat(), **context)
        return "postponed"
    except PermanentFailure as exc:
        return _fail(store, row, str(exc), now, context)
    except TransientFailure as exc:
        return _retry(store, row, str(exc), now, max_attempts, base_delay, context)
    except Exception as exc:  # a bug in one channel must not stop the others: retry, then fail
        log.exception("outbox.channel_error", **context)
        error = f"{type(exc).__name__}: {exc}"
        return _retry(store, row, error, now, max_attempts, base_delay, context)
    store.mark_sent(row.id, now)
    log.info("outbox.sent", **context)
    return "sent"


def _retry(
    store: OutboxStore,
    row: OutboxRow,
    error: str,
    now: datetime,
    max_attempts: int,
    base_delay: timedelta,
    context: dict[str, object],
) -> str:
    if row.attempts + 1 >= max_attempts:
        error = f"gave up after {row.attempts + 1} attempts: {error}"
        return _fail(store, row, error, now, context)
    retry_at = now + backoff(row.attempts, base_delay)
    store.mark_failed(row.id, error[:MAX_ERROR], now, retry_at)
    log.warning("outbox.retry", error=error, retry_at=retry_at.isoformat(), **context)
    return "retried"


def _fail(
    store: OutboxStore, row: OutboxRow, error: str, now: datetime, context: dict[str, object]
) -> str:
    store.mark_failed(row.id, error[:MAX_ERROR], now, None)
    log.error("outbox.failed", error=error, **context)
    return "failed"
