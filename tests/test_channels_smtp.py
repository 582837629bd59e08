"""The SMTP channel against a real aiosmtpd server on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from rectify.engine.settings import load_settings
from rectify.notifications.delivery import PermanentFailure, TransientFailure
from rectify.notifications.message import Notification, Recipient
from rectify.notifications.settings import build_channels
from rectify.notifications.smtp import SmtpChannel
from structlog.testing import capture_logs

SUBJECT = "【整改提醒】#1 问题整改闭环 即将到期（期限 2024-05-10 18:00）"
NOTE = Notification(
    key="item:1:rectifying:0", template="reminder", subject=SUBJECT,
    text="王五：\n\n您负责的以下事项即将到达整改期限，请抓紧整改。", markdown="### 整改提醒",
    recipients=(
        Recipient("wang", "王五", "wang@example.org"),
        Recipient("li", "李四", None, "13800000001"),
        Recipient("zhao", "赵六", "zhao@example.org"),
    ),
    item_id=1,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler that keeps every mail; refuses scripted recipients and data."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.refuse_rcpt: dict[str, str] = {}
        self.refuse_data: str | None = None

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data
        self.envelopes.append(envelope)
        self.mails.append(message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 Message accepted"


def _authenticate(server: Any, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"ducha", b"s3cret")
    return AuthResult(success=ok, handled=False)


def _serve(mailbox: Mailbox, **options: Any) -> Iterator[tuple[Mailbox, int]]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def smtpd() -> Iterator[tuple[Mailbox, int]]:
    yield from _serve(Mailbox())


@pytest.fixture
def smtpd_auth() -> Iterator[tuple[Mailbox, int]]:
    yield from _serve(Mailbox(), authenticator=_authenticate, auth_required=True,
                      auth_require_tls=False)


def test_one_mail_per_addressed_recipient_with_chinese_subject(smtpd: tuple[Mailbox, int]) -> None:
    """Two recipients have addresses: two mails, once each, subject decoded intact."""
    mailbox, port = smtpd
    channel = SmtpChannel("mail", host="127.0.0.1", port=port, sender="督查办 <ducha@example.org>",
                          security="none", timeout=5)
    with capture_logs() as logs:
        channel.send(NOTE)
    assert [e.rcpt_tos for e in mailbox.envelopes] == [["wang@example.org"], ["zhao@example.org"]]
    assert all(e.mail_from == "ducha@example.org" for e in mailbox.envelopes)
    first = mailbox.mails[0]
    assert first["Subject"] == SUBJECT
    assert str(first["To"]) == "王五 <wang@example.org>"
    assert first.get_content().replace("\r\n", "\n").strip() == NOTE.text
    assert mailbox.mails[0]["Message-ID"] != mailbox.mails[1]["Message-ID"]
    assert first["Message-ID"].endswith("@example.org>")
    assert [e["person"] for e in logs if e["event"] == "smtp.no_address"] == ["li"]


def test_nobody_with_an_address_sends_nothing(smtpd: tuple[Mailbox, int]) -> None:
    """Recipients without email are skipped; with none left, no connection is needed."""
    mailbox, _ = smtpd
    lonely = Notification(key="k", template="t", subject="s", text="t", markdown="m",
                          recipients=(Recipient("li", "李四"),))
    SmtpChannel("mail", host="127.0.0.1", port=1, sender="a@b.c", security="none").send(lonely)
    assert mailbox.mails == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_password_from_the_environment(smtpd_auth: tuple[Mailbox, int],
                                                  tmp_path: Path) -> None:
    """Built from settings with password_env, the channel logs in and the mail is accepted."""
    mailbox, port = smtpd_auth
    settings_file = tmp_path / "rectify.toml"
    settings_file.write_text(f"""
[channels.mail]
type = "smtp"
host = "127.0.0.1"
port = {port}
sender = "ducha@example.org"
security = "none"
user = "ducha"
password_env = "RECTIFY_TEST_SMTP_PASSWORD"
timeout = 5
""", encoding="utf-8")
    settings = load_settings(settings_file)
    channel = build_channels(settings, env={"RECTIFY_TEST_SMTP_PASSWORD": "s3cret"})["mail"]
    channel.send(NOTE)
    assert len(mailbox.mails) == 2
    wrong = build_channels(settings, env={"RECTIFY_TEST_SMTP_PASSWORD": "guess"})["mail"]
    with pytest.raises(PermanentFailure, match="535"):
        wrong.send(NOTE)


def test_refused_address_is_permanent_but_others_are_delivered(smtpd: tuple[Mailbox, int]
                                                               ) -> None:
    """One bad address fails the row for good, naming it; the good one still got its mail."""
    mailbox, port = smtpd
    mailbox.refuse_rcpt["wang@example.org"] = "550 5.1.1 no such user"
    channel = SmtpChannel("mail", host="127.0.0.1", port=port, sender="a@example.org",
                          security="none")
    with pytest.raises(PermanentFailure, match=r"delivered to 1 of 2; refused: wang@example.org: "
                                               r"550 5\.1\.1 no such user"):
        channel.send(NOTE)
    assert [e.rcpt_tos for e in mailbox.envelopes] == [["zhao@example.org"]]


def test_temporary_refusals_are_transient(smtpd: tuple[Mailbox, int]) -> None:
    """4xx replies (greylisting, full queue) are retried."""
    mailbox, port = smtpd
    channel = SmtpChannel("mail", host="127.0.0.1", port=port, sender="a@example.org",
                          security="none")
    mailbox.refuse_data = "451 4.3.0 try again later"
    with pytest.raises(TransientFailure, match="451"):
        channel.send(NOTE)
    mailbox.refuse_data = None
    mailbox.refuse_rcpt["wang@example.org"] = "450 4.2.0 mailbox busy"
    with pytest.raises(TransientFailure, match="450"):
        channel.send(NOTE)


def test_server_down_is_transient() -> None:
    """Nothing listening: connection refused, retry later."""
    channel = SmtpChannel("mail", host="127.0.0.1", port=free_port(), sender="a@example.org",
                          security="none", timeout=2)
    with pytest.raises(TransientFailure, match=r"smtp 127\.0\.0\.1"):
        channel.send(NOTE)


def test_starttls_unsupported_is_permanent(smtpd: tuple[Mailbox, int]) -> None:
    """Asking for STARTTLS from a server without it is a configuration error, not a hiccup."""
    _, port = smtpd
    channel = SmtpChannel("mail", host="127.0.0.1", port=port, sender="a@example.org",
                          security="starttls")
    with pytest.raises(PermanentFailure, match="STARTTLS"):
        channel.send(NOTE)
