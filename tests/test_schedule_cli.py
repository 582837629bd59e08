"""The daily digest and weekly report as cron drives them, and mail that says when it was sent
(issue 17, point 4), through the real CLI.

`rectify scheduler --once` is what an office runs from cron every few minutes: the digest and
the report must go out once their time has come, once per day or week, and no digest on a day
that is not a working day. Mail goes to a real SMTP server on loopback (aiosmtpd).
"""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from .cli_inprocess import Rectify
from .conftest import FIXTURES
from .test_channels_smtp import free_port

START = "2025-11-03T09:00:00+08:00"  # Monday; the item's deadline is Monday 11-17


@pytest.fixture
def cli(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Rectify:
    """One item of 张三's at 张庄村, assigned at START; default scheduler settings (digest
    19:00, weekly report Friday 17:00)."""
    monkeypatch.chdir(tmp_path)
    rectify = Rectify(db_url, capsys, monkeypatch, now=START)
    rectify.ok("init")
    rectify.ok("org", "load", str(FIXTURES / "org.yaml"))
    rectify.ok("item", "new", "--workflow", "rectification", "--unit", "village-a1",
               "--assignee", "zhang", "--field", "description=户籍信息与实际不符", actor="li")
    rectify.ok("item", "advance", "1", "assign", actor="li")
    return rectify


def _queued(cli: Rectify, template: str) -> list[dict[str, Any]]:
    rows = cli.ok("outbox", "list", "--limit", "500", as_json=True).json()
    return [r for r in rows if r["template"] == template]


def test_digest_only_once_its_time_has_come_and_once_a_day(cli: Rectify) -> None:
    """At 18:00 (before digest_time) no digest; at 19:30 张三's digest, naming the item by
    unit and description; at 20:00 nothing more, and the scheduler says it was done. (main:
    queued at 18:00, at every call.)"""
    cli.ok("scheduler", "--once", now="2025-11-03T18:00:00+08:00")
    assert _queued(cli, "daily_digest") == []
    cli.ok("scheduler", "--once", now="2025-11-03T19:30:00+08:00")
    digests = _queued(cli, "daily_digest")
    assert len(digests) == 1 and "2025-11-03" in digests[0]["subject"]
    assert "#1 张庄村 户籍信息与实际不符" in digests[0]["body_text"]
    later = cli.ok("scheduler", "--once", now="2025-11-03T20:00:00+08:00")
    assert len(_queued(cli, "daily_digest")) == 1
    assert "already done for 2025-11-03" in later.err


def test_no_digest_on_a_day_that_is_not_a_working_day(cli: Rectify) -> None:
    """Saturday 11-22, the item overdue: no digest, even after 19:00; Monday 11-24 it goes out.
    (main: a digest on Saturday.)"""
    cli.ok("scheduler", "--once", now="2025-11-22T19:30:00+08:00")
    assert _queued(cli, "daily_digest") == []
    cli.ok("scheduler", "--once", now="2025-11-24T19:30:00+08:00")
    assert [r["subject"].split()[1] for r in _queued(cli, "daily_digest")] == ["2025-11-24"]


def test_weekly_report_once_its_day_and_time_have_come(cli: Rectify) -> None:
    """Thursday evening: no report; Friday 17:30: the report, once; Friday 18:00 and Saturday:
    nothing more for that week. (main: a report on every call.)"""
    cli.ok("scheduler", "--once", now="2025-11-06T20:00:00+08:00")
    assert _queued(cli, "weekly_report") == []
    cli.ok("scheduler", "--once", now="2025-11-07T17:30:00+08:00")
    first = [r["id"] for r in _queued(cli, "weekly_report")]
    assert first
    for now in ("2025-11-07T18:00:00+08:00", "2025-11-08T10:00:00+08:00"):
        cli.ok("scheduler", "--once", now=now)
    assert [r["id"] for r in _queued(cli, "weekly_report")] == first


class Mailbox:
    """Keeps every mail the server accepts."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 Message accepted"


@pytest.fixture
def smtpd() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def test_mail_has_a_date_header(cli: Rectify, tmp_path: Path,
                                smtpd: tuple[Mailbox, int]) -> None:
    """`outbox dispatch` through an smtp channel: the 交办 mail to 张三 carries a valid Date
    header (main: none)."""
    mailbox, port = smtpd
    (tmp_path / "rectify.toml").write_text(
        f'[channels.mail]\ntype = "smtp"\nhost = "127.0.0.1"\nport = {port}\n'
        'sender = "督查办 <ducha@example.org>"\nsecurity = "none"\n', "utf-8")
    cli.ok("outbox", "dispatch")
    assert mailbox.mails and all(m["Date"] for m in mailbox.mails)
    assert parsedate_to_datetime(str(mailbox.mails[0]["Date"])).tzinfo is not None


def test_digest_due_soon_follows_lights_yellow_workdays(cli: Rectify, tmp_path: Path) -> None:
    """With `[lights] yellow_workdays = 4` in rectify.toml, Wednesday 11-12's digest lists as
    due soon the item due Monday 11-17 (three working days on), not the one due 11-25; with
    the default 2 it would list none (the rectifying item goes yellow by its own -2 workdays
    reminder step, so it is not due soon either)."""
    for due, text in (("2025-11-17", "三个工作日后到期"), ("2025-11-25", "下周到期")):
        cli.ok("item", "new", "--workflow", "rectification", "--unit", "张庄村", "--assignee",
               "张三", "--due", due, "--field", f"description={text}", actor="li")
    settings = tmp_path / "rectify.toml"
    settings.write_text("[lights]\nyellow_workdays = 4\n", "utf-8")
    cli.ok("--config", str(settings), "scheduler", "--once", now="2025-11-12T19:30:00+08:00")
    [digest] = _queued(cli, "daily_digest")
    assert "即将到期 1 项" in digest["subject"]
    soon = digest["body_text"].split("即将到期（1 项）")[1]
    assert "三个工作日后到期" in soon and "下周到期" not in digest["body_text"]
