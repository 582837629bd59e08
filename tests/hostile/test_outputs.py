"""Outputs never clobber what is not theirs (commands/support.py `check_output`), and a robot
message longer than a minute's parts is folded, not failed for good (notifications/robots.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rectify.engine.core.clock import FixedClock
from rectify.notifications.robots import DingTalkChannel, WeComChannel

from ..cli_inprocess import Rectify, prepared_service
from ..conftest import START
from ..test_channels_http import Robot, note, robot  # noqa: F401 - `robot` is a fixture

NOW = "2025-09-26T10:00+08:00"


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Rectify:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    prepared_service(url, FixedClock(START), tmp_path / "files").engine.dispose()
    return Rectify(url, capsys, monkeypatch, now=NOW)


def test_force_replaces_only_regular_files(cli: Rectify, tmp_path: Path) -> None:
    """`-o` naming a fifo (a stand-in for /dev/full: a device is never risked in a test) or a
    symlink is exit 2 even with --force, and the thing stays; a regular file is replaced."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link.xlsx"
    link.symlink_to(tmp_path / "elsewhere.xlsx")
    for target in (fifo, link):
        result = cli("ledger", "export", "-o", str(target), "--force", "--format", "xlsx",
                     actor="li")
        assert result.code == 2, result
        assert "not a regular file" in result.err
    assert fifo.is_fifo() and link.is_symlink()
    for args in (("report", "weekly", "-o", str(fifo), "--format", "md"),
                 ("audit", "anchor", "-o", str(fifo)), ("workflow", "graph", "rectification",
                                                       "-o", str(fifo))):
        other = cli(*args, actor="li")
        assert other.code == 2 and "not a regular file" in other.err, (args, other)
    regular = tmp_path / "ledger.xlsx"
    regular.write_text("old", "utf-8")
    cli.ok("ledger", "export", "-o", str(regular), "--force", actor="li")
    assert regular.read_bytes()[:2] == b"PK"


@pytest.mark.parametrize("make", [
    lambda url: WeComChannel("town", url, per_minute=3),
    lambda url: DingTalkChannel("town", url, per_minute=3),
])
def test_message_over_the_parts_limit_is_folded(robot: Robot, make: object) -> None:  # noqa: F811
    """A message needing more parts than the robot takes a minute goes out cut to fit, saying
    where the rest is, instead of failing permanently."""
    long = "\n".join(f"- #{n} 问题整改闭环｜张庄村第{n}组｜期限 2024-05-10" for n in range(2000))
    make(robot.url).send(note(markdown=long, text=long))  # type: ignore[operator]
    assert 1 <= len(robot.received) <= 3
    last = robot.received[-1].json["markdown"]
    assert "内容过长" in last.get("content", last.get("text", ""))
    assert "item show 1" in last.get("content", last.get("text", ""))
