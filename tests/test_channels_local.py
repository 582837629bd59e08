"""The local channels (log, file) and the sliding-window limiter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rectify.notifications.channels import FileChannel, LogChannel
from rectify.notifications.delivery import RateLimited, TransientFailure
from rectify.notifications.message import Notification, Recipient
from rectify.notifications.ratelimit import SlidingWindow
from structlog.testing import capture_logs

NOTE = Notification(
    key="item:1:rectifying:0", template="reminder", subject="【整改提醒】#1", text="请抓紧整改",
    markdown="### 整改提醒", recipients=(Recipient("wang", "王五", "w@example.org"),),
    item_id=1, unit="village-a1", data={"item": {"id": 1}},
)


class FakeClock:
    """Monotonic seconds that only move when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_log_channel_emits_a_notification_event() -> None:
    """One structlog event named `notification` with the subject and recipients."""
    with capture_logs() as logs:
        LogChannel("console").send(NOTE)
    [event] = logs
    assert event["event"] == "notification" and event["channel"] == "console"
    assert event["subject"] == "【整改提醒】#1" and event["recipients"] == ["王五"]


def test_file_channel_appends_json_lines_and_creates_folders(tmp_path: Path) -> None:
    """Each send is one JSON line that reads back into the same notification."""
    channel = FileChannel("audit", path=tmp_path / "a" / "b" / "out.jsonl")
    channel.send(NOTE)
    channel.send(NOTE)
    lines = channel.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert Notification.from_dict(json.loads(lines[0])) == NOTE
    assert "【整改提醒】" in lines[0]  # kept readable, not \\u-escaped


def test_file_channel_unwritable_is_transient(tmp_path: Path) -> None:
    """A full disk or a missing mount may heal; retry rather than drop."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TransientFailure):
        FileChannel("audit", path=blocker / "out.jsonl").send(NOTE)


def test_window_allows_the_limit_then_says_how_long_to_wait() -> None:
    """20 in a minute pass; the 21st is refused with the time until the oldest leaves."""
    clock = FakeClock()
    window = SlidingWindow(20, 60.0, clock)
    for _ in range(20):
        window.acquire()
        clock.advance(1)
    with pytest.raises(RateLimited) as caught:
        window.acquire()
    assert caught.value.retry_after == pytest.approx(40.0)
    clock.advance(40)
    window.acquire()


def test_window_takes_several_slots_all_or_nothing() -> None:
    """A message in three parts needs three free slots; with two free, nothing is taken."""
    clock = FakeClock()
    window = SlidingWindow(5, 60.0, clock)
    window.acquire(3)
    with pytest.raises(RateLimited):
        window.acquire(3)
    window.acquire(2)
    clock.advance(60)
    window.acquire(5)
    with pytest.raises(ValueError, match="can never fit"):
        window.acquire(6)
