"""The outbox dispatcher against the in-memory reference store and scripted channels."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from rectify.notifications.delivery import PermanentFailure, RateLimited, TransientFailure
from rectify.notifications.dispatch import DispatchReport, backoff, dispatch
from rectify.notifications.memory import MemoryOutbox
from rectify.notifications.message import Notification, Recipient
from structlog.testing import capture_logs

T0 = datetime(2024, 5, 9, 9, 0, tzinfo=UTC)


def note(key: str) -> Notification:
    return Notification(key=key, template="reminder", subject=f"主题 {key}", text="正文",
                        markdown="### 主题", recipients=(Recipient("wang", "王五"),))


class Scripted:
    """A channel that raises the scripted outcomes in order, then succeeds; records sends."""

    units = None

    def __init__(self, name: str, *outcomes: Exception) -> None:
        self.name = name
        self.outcomes = deque(outcomes)
        self.sent: list[str] = []
        self.calls = 0

    def send(self, notification: Notification) -> None:
        self.calls += 1
        if self.outcomes:
            raise self.outcomes.popleft()
        self.sent.append(notification.key)


def test_sent_once_and_never_again() -> None:
    """A delivered row is marked sent; the next pass finds nothing to do."""
    store, channel = MemoryOutbox(), Scripted("log")
    store.enqueue("log", note("a"), T0)
    assert dispatch(store, {"log": channel}, T0) == DispatchReport(sent=1)
    assert dispatch(store, {"log": channel}, T0 + timedelta(hours=1)) == DispatchReport()
    assert channel.sent == ["a"]
    assert store.rows[1].status == "sent" and store.rows[1].sent_at == T0


def test_enqueue_dedupes_on_channel_and_key() -> None:
    """The same escalation step queued twice is one row."""
    store = MemoryOutbox()
    assert store.enqueue("log", note("a"), T0) == 1
    assert store.enqueue("log", note("a"), T0) is None
    assert store.enqueue("mail", note("a"), T0) == 2


def test_transient_failures_back_off_exponentially_then_succeed() -> None:
    """Retry at +30 s, then +60 s; nothing is sent early; the third try gets through."""
    store = MemoryOutbox()
    channel = Scripted("hook", TransientFailure("503"), TransientFailure("timeout"))
    store.enqueue("hook", note("a"), T0)
    assert dispatch(store, {"hook": channel}, T0).retried == 1
    assert store.rows[1].next_attempt == T0 + timedelta(seconds=30)
    assert dispatch(store, {"hook": channel}, T0 + timedelta(seconds=29)) == DispatchReport()
    assert dispatch(store, {"hook": channel}, T0 + timedelta(seconds=30)).retried == 1
    assert store.rows[1].next_attempt == T0 + timedelta(seconds=90)
    assert store.rows[1].last_error == "timeout"
    assert dispatch(store, {"hook": channel}, T0 + timedelta(seconds=90)).sent == 1
    assert channel.sent == ["a"] and channel.calls == 3


def test_gives_up_after_max_attempts() -> None:
    """The last allowed attempt failing transiently is a final failure, with the count in it."""
    store = MemoryOutbox()
    channel = Scripted("hook", *[TransientFailure("503")] * 3)
    store.enqueue("hook", note("a"), T0)
    now = T0
    reports = []
    for _ in range(3):
        reports.append(dispatch(store, {"hook": channel}, now, max_attempts=3))
        now += timedelta(hours=7)
    assert [r.retried for r in reports] == [1, 1, 0] and reports[-1].failed == 1
    row = store.rows[1]
    assert row.status == "failed" and row.attempts == 3
    assert row.last_error == "gave up after 3 attempts: 503"


def test_permanent_failure_is_final_at_once() -> None:
    """A 4xx-like failure is never retried."""
    store, channel = MemoryOutbox(), Scripted("hook", PermanentFailure("HTTP 400"))
    store.enqueue("hook", note("a"), T0)
    assert dispatch(store, {"hook": channel}, T0).failed == 1
    assert dispatch(store, {"hook": channel}, T0 + timedelta(days=1)) == DispatchReport()
    assert channel.calls == 1 and store.rows[1].last_error == "HTTP 400"


def test_unknown_channel_fails_with_the_configured_names() -> None:
    """A row for a channel removed from the settings fails clearly instead of waiting forever."""
    store = MemoryOutbox()
    store.enqueue("old-robot", note("a"), T0)
    assert dispatch(store, {"log": Scripted("log")}, T0).failed == 1
    assert store.rows[1].last_error == "unknown channel 'old-robot' (configured: log)"


def test_rate_limited_channel_is_paused_without_counting_attempts() -> None:
    """The limited row and the rest of that channel wait; other channels carry on."""
    store = MemoryOutbox()
    robot, mail = Scripted("robot", RateLimited(42)), Scripted("mail")
    for key in "abc":
        store.enqueue("robot", note(key), T0)
    store.enqueue("mail", note("m"), T0)
    report = dispatch(store, {"robot": robot, "mail": mail}, T0)
    assert report == DispatchReport(sent=1, paused_channels=("robot",), postponed=3)
    assert robot.calls == 1 and mail.sent == ["m"]
    resume = T0 + timedelta(seconds=42)
    assert all(store.rows[i].next_attempt == resume and store.rows[i].attempts == 0
               for i in (1, 2, 3))
    assert dispatch(store, {"robot": robot}, resume).sent == 3
    assert robot.sent == ["a", "b", "c"]


def test_a_crashing_channel_is_retried_and_logged() -> None:
    """A bug in one channel (any exception) is logged and retried, not fatal to the pass."""
    store = MemoryOutbox()
    broken, fine = Scripted("broken", KeyError("mobile")), Scripted("fine")
    store.enqueue("broken", note("a"), T0)
    store.enqueue("fine", note("b"), T0)
    with capture_logs() as logs:
        report = dispatch(store, {"broken": broken, "fine": fine}, T0)
    assert report == DispatchReport(sent=1, retried=1)
    assert store.rows[1].last_error == "KeyError: 'mobile'"
    assert any(e["event"] == "outbox.channel_error" and e["log_level"] == "error" for e in logs)


def test_limit_bounds_one_pass() -> None:
    """At most `limit` rows per pass, oldest first."""
    store, channel = MemoryOutbox(), Scripted("log")
    for key in "abcde":
        store.enqueue("log", note(key), T0)
    assert dispatch(store, {"log": channel}, T0, limit=2).sent == 2
    assert channel.sent == ["a", "b"]


class ClaimingOutbox(MemoryOutbox):
    """A store whose claims lapse after five minutes, like the SQL outbox."""

    claim_for = timedelta(minutes=5)


def test_a_slow_pass_hands_back_what_it_has_not_tried_by_half_its_claim() -> None:
    """Each send takes a minute: from 2.5 min on, untried rows go back due at once, untried,
    before another dispatcher could claim them again while this one still meant to send them."""
    elapsed = [0.0]
    channel = Scripted("hook")
    send = channel.send

    def slow_send(notification: Notification) -> None:
        send(notification)
        elapsed[0] += 60

    channel.send = slow_send  # type: ignore[method-assign]
    store = ClaimingOutbox()
    for key in "abcde":
        store.enqueue("hook", note(key), T0)
    report = dispatch(store, {"hook": channel}, T0, clock=lambda: elapsed[0])
    assert report == DispatchReport(sent=3, postponed=2)  # tried at 0, 1 and 2 min
    assert [(r.status, r.next_attempt, r.attempts) for r in store.rows.values()][3:] == [
        ("pending", T0, 0)] * 2
    assert dispatch(store, {"hook": channel}, T0, clock=lambda: elapsed[0]).sent == 2
    assert channel.sent == list("abcde")


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(0, timedelta(seconds=30)), (3, timedelta(seconds=240)), (10, timedelta(hours=6)),
     (500, timedelta(hours=6))],
)
def test_backoff_doubles_and_caps_at_six_hours(attempts: int, expected: timedelta) -> None:
    """base * 2**attempts, capped; huge attempt counts do not overflow."""
    assert backoff(attempts, timedelta(seconds=30)) == expected
