"""The outbox dispatcher: hand due rows to their channels and record what happened.

Written against the `OutboxStore` protocol; the SQL table behind it lives in engine/store.
Each row is one notification for one channel. The SQL store keeps an item notice as its
template's context; the dispatcher renders it (notifications/stored.py) once it has claimed
it. A row ends `sent` or, after a permanent failure or too many transient ones, `failed`; in
between it waits with exponential backoff.

The one duplicate window: a channel accepted a message and the process died before its
outcome was written; the row is still pending and is sent again next time (at-least-once
there, exactly once everywhere else). Outcomes are written in batches (`OutboxStore.record`,
one transaction each), but a row sent over the network is written at once, with whatever
waited before it: for those channels the window holds at most the one row in flight. A local
channel (`local = True`: a file, the log) costs microseconds a row, so its outcomes wait for
up to MARK_BATCH rows or MARK_SECONDS; a crash may repeat those lines, never lose one.
Receivers can dedupe on `Notification.key`.

A store that claims its rows for a limited time (`claim_for`, as the SQL outbox does) must not
be outlived by the pass: after half that time the rows not yet tried are handed back, due at
once, rather than sent when another dispatcher may already have claimed them again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from ..engine.core.i18n import _, ngettext
from ..engine.core.logs import get_logger
from .delivery import Channel, PermanentFailure, RateLimited, TransientFailure
from .message import Notification
from .render import RenderError, rendering
from .stored import failure, to_notification

log = get_logger(__name__)

MAX_DELAY = timedelta(hours=6)
MAX_ERROR = 1000  # characters of an error kept on the row
MARK_BATCH = 500  # outcomes of local sends written in one transaction, at most ...
MARK_SECONDS = 0.5  # ... and waiting no longer than this
SENT, RETRY, FAILED, POSTPONED = "sent", "retry", "failed", "postponed"


class OutboxRow(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def channel(self) -> str: ...

    @property
    def attempts(self) -> int:  # failed attempts so far
        ...

    @property
    def notification(self) -> Notification: ...


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


class Outcome(NamedTuple):
    """What happened to one row: SENT; RETRY (an attempt counted, due again at `at`); FAILED
    for good; POSTPONED (no attempt counted, due again at `at`: a paused channel, a hand-back)."""

    row_id: int
    status: str
    at: datetime | None = None
    error: str | None = None


class OutboxStore(Protocol):
    """Where rows wait. A store may also have `claim_for: timedelta`: how long `claim_due`
    keeps the rows it returns from other dispatchers (the dispatcher stays well within it)."""

    def claim_due(self, now: datetime, limit: int) -> Sequence[OutboxRow | StoredOutboxRow]:
        """Pending rows with next_attempt <= now, oldest first: with their notification, or
        as stored (the dispatcher renders them)."""
        ...

    def record(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Write these outcomes, all or none (one transaction in the SQL store)."""
        ...


@dataclass(frozen=True)
class DispatchReport:
    sent: int = 0
    retried: int = 0  # failed transiently, scheduled again
    failed: int = 0  # failed for good
    paused_channels: tuple[str, ...] = ()  # over their rate limit; their rows were postponed
    postponed: int = 0  # put back without an attempt: paused channel, or handed back unsent

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            sent=self.sent + other.sent, retried=self.retried + other.retried,
            failed=self.failed + other.failed, postponed=self.postponed + other.postponed,
            paused_channels=tuple(sorted({*self.paused_channels, *other.paused_channels})))

    @property
    def handled(self) -> int:
        """Rows tried in the pass (sent, to retry or failed)."""
        return self.sent + self.retried + self.failed


def backoff(attempts: int, base_delay: timedelta) -> timedelta:
    """base_delay * 2**attempts, at most six hours (the exponent is capped before overflow)."""
    return min(base_delay * 2 ** min(attempts, 30), MAX_DELAY)


class _Marks:
    """Outcomes not written yet. A remote send's outcome is written at once (with all that
    waited before it); others wait for MARK_BATCH rows or MARK_SECONDS, whichever comes first."""

    def __init__(self, store: OutboxStore, now: datetime, clock: Callable[[], float]) -> None:
        self.store, self.now, self.clock = store, now, clock
        self.waiting: list[Outcome] = []
        self.since = 0.0
        self.counts = {SENT: 0, RETRY: 0, FAILED: 0, POSTPONED: 0}

    def add_row(self, row: OutboxRow, status: str, at: datetime | None = None,
                error: str | None = None, *, at_once: bool) -> None:
        """The outcome of `row`, or of every row it stands for when it is a folded message:
        those are written together, in one transaction."""
        self.add(*(Outcome(row_id, status, at, error)
                   for row_id in getattr(row, "ids", ()) or (row.id,)), at_once=at_once)

    def add(self, *outcomes: Outcome, at_once: bool) -> None:
        if not self.waiting:
            self.since = self.clock()
        self.waiting += outcomes
        for outcome in outcomes:
            self.counts[outcome.status] += 1
        if (at_once or len(self.waiting) >= MARK_BATCH
                or self.clock() - self.since >= MARK_SECONDS):
            self.flush()

    def flush(self) -> None:
        if self.waiting:
            self.store.record(self.waiting, self.now)
            self.waiting = []


def dispatch(
    store: OutboxStore,
    channels: Mapping[str, Channel],
    now: datetime,
    *,
    limit: int = 500,
    max_attempts: int = 8,
    base_delay: timedelta = timedelta(seconds=30),
    clock: Callable[[], float] = time.monotonic,
) -> DispatchReport:
    """One pass over up to `limit` due rows; returns what happened to them.

    `clock` (seconds, monotonic) times the pass against the store's claim period.
    """
    paused: dict[str, datetime] = {}  # channel -> when it may send again
    claim_for: timedelta | None = getattr(store, "claim_for", None)
    hand_back_at = None if claim_for is None else clock() + claim_for.total_seconds() / 2
    marks = _Marks(store, now, clock)
    # Notices are rendered as their channels read them, each form in a time budget: the
    # budgets of the whole pass share one alarm handler instead of installing one each.
    with rendering():
        try:
            claimed = _ready(marks, store, store.claim_due(now, limit))
            for index, row in enumerate(claimed):
                if hand_back_at is not None and clock() >= hand_back_at:
                    _hand_back(marks, claimed[index:], now, paused)
                    break
                if row.channel in paused:
                    marks.add_row(row, POSTPONED, paused[row.channel], at_once=False)
                    continue
                _deliver(marks, channels, row, now, paused, max_attempts, base_delay)
        finally:
            marks.flush()  # what was done is written, even when a channel raised past us
    counts = marks.counts
    return DispatchReport(
        sent=counts[SENT], retried=counts[RETRY], failed=counts[FAILED],
        paused_channels=tuple(sorted(paused)), postponed=counts[POSTPONED],
    )


class _Ready(NamedTuple):
    id: int
    channel: str
    attempts: int
    notification: Notification
    ids: tuple[int, ...] = ()  # a folded message: every row it stands for (notifications/fold)


def _ready(marks: _Marks, store: OutboxStore, rows: Sequence[Any]) -> list[OutboxRow]:
    """The claimed rows with their notifications. A stored row's notification renders its
    forms when its channel reads them, after the claim's transaction (it holds no lock
    meanwhile); one whose template no longer renders fails for good (retrying cannot help),
    and `outbox list` says why. Late step notices that share a fold key go out as one message
    per channel (notifications/fold.py)."""
    ready: list[OutboxRow] = []
    folds: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        key = getattr(row, "fold_key", None)
        if key and hasattr(store, "claim_fold"):
            folds.setdefault((key, row.channel), []).append(row)
        elif hasattr(row, "notification"):
            ready.append(row)
        else:
            ready.append(_Ready(row.id, row.channel, row.attempts, to_notification(row)))
    for (key, channel), group in folds.items():
        ready += _folded(marks, store, key, channel, group, marks.now)
    return ready


def _folded(marks: _Marks, store: Any, key: str, channel: str, group: list[Any],
            now: datetime) -> list[OutboxRow]:
    """The rows of one fold claimed in this batch, with the rest of the fold claimed now: one
    message, or the row itself when the fold holds only it."""
    from . import fold

    more, more_ids = store.claim_fold(key, channel, now, max(0, fold.FOLD_LIST - len(group)))
    ids = tuple(r.id for r in group) + tuple(more_ids)
    shown = [*group, *more]
    try:
        if len(ids) == 1:
            return [_Ready(group[0].id, channel, group[0].attempts, to_notification(group[0]))]
        note = fold.notification(key, shown, len(ids))
    except RenderError as exc:
        _unrenderable(marks, ids, shown[0], failure(shown[0], exc))
        return []
    return [_Ready(ids[0], channel, max(r.attempts for r in shown), note, ids)]


def _unrenderable(marks: _Marks, ids: Sequence[int], row: Any, error: str) -> None:
    marks.add(*(Outcome(row_id, FAILED, None, error[:MAX_ERROR]) for row_id in ids),
              at_once=False)
    log.error("outbox.failed", row=row.id, channel=row.channel, error=error)


def _hand_back(marks: _Marks, rows: Sequence[OutboxRow], now: datetime,
               paused: Mapping[str, datetime]) -> None:
    """Put untried rows back without counting an attempt, due when their channel may send."""
    for row in rows:
        marks.add_row(row, POSTPONED, paused.get(row.channel, now), at_once=False)
    log.warning("outbox.handed_back", rows=len(rows), reason="half the claim period is over")


def _deliver(
    marks: _Marks,
    channels: Mapping[str, Channel],
    row: OutboxRow,
    now: datetime,
    paused: dict[str, datetime],
    max_attempts: int,
    base_delay: timedelta,
) -> None:
    """Send one row and record the outcome. A rate-limited channel goes into `paused` with the
    time it may send again."""
    channel = channels.get(row.channel)
    context = {"row": row.id, "channel": row.channel, "key": row.notification.key}
    if channel is None:
        known = ", ".join(sorted(channels)) or _("none")
        error = _("unknown channel {name!r} (configured: {known})").format(name=row.channel,
                                                                           known=known)
        return _fail(marks, row, error, context, at_once=False)
    at_once = not getattr(channel, "local", False)
    try:
        channel.send(row.notification)
    except RateLimited as exc:
        resume = now + timedelta(seconds=exc.retry_after)
        marks.add_row(row, POSTPONED, resume, at_once=at_once)
        paused[row.channel] = resume
        log.info("outbox.paused", until=resume.isoformat(), **context)
        return None
    except PermanentFailure as exc:
        return _fail(marks, row, str(exc), context, at_once=at_once)
    except RenderError as exc:  # a form the channel read: the template will not render later
        return _fail(marks, row, failure(row.notification, exc), context, at_once=at_once)
    except TransientFailure as exc:
        return _retry(marks, row, str(exc), now, max_attempts, base_delay, context, at_once)
    except Exception as exc:  # a bug in one channel must not stop the others: retry, then fail
        log.exception("outbox.channel_error", **context)
        error = f"{type(exc).__name__}: {exc}"
        return _retry(marks, row, error, now, max_attempts, base_delay, context, at_once)
    # Not logged: a dispatch ends with one summary line (`outbox list --status sent` lists
    # each), and a log line per notice cost more than writing the notice to a file channel.
    # Failures, retries and pauses are logged as they happen.
    marks.add_row(row, SENT, at_once=at_once)
    return None


def _retry(marks: _Marks, row: OutboxRow, error: str, now: datetime, max_attempts: int,
           base_delay: timedelta, context: dict[str, object], at_once: bool) -> None:
    if row.attempts + 1 >= max_attempts:
        error = ngettext("gave up after {attempts} attempt: {error}",
                         "gave up after {attempts} attempts: {error}", row.attempts + 1).format(
            attempts=row.attempts + 1, error=error)
        return _fail(marks, row, error, context, at_once=at_once)
    retry_at = now + backoff(row.attempts, base_delay)
    marks.add_row(row, RETRY, retry_at, error[:MAX_ERROR], at_once=at_once)
    log.warning("outbox.retry", error=error, retry_at=retry_at.isoformat(), **context)
    return None


def _fail(marks: _Marks, row: OutboxRow, error: str, context: dict[str, object], *,
          at_once: bool) -> None:
    marks.add_row(row, FAILED, None, error[:MAX_ERROR], at_once=at_once)
    log.error("outbox.failed", error=error, **context)
