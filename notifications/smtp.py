"""Mail through an SMTP relay: one message per recipient that has an address.

One message each (not one with many To:) so nobody sees the others' addresses and one bad
address does not hold back the rest. The Message-ID is derived from the notification key and
the recipient, so the rare re-send after a crash (see dispatch.py) shows as the same mail.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from ..engine.core.i18n import _
from ..engine.core.logs import get_logger
from .delivery import DeliveryError, PermanentFailure, TransientFailure
from .message import Notification, Recipient

log = get_logger(__name__)

SECURITY_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class SmtpChannel:
    def __init__(
        self,
        name: str,
        *,
        host: str,
        sender: str,
        port: int | None = None,
        security: str = "starttls",
        user: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        units: Sequence[str] | None = None,
    ) -> None:
        if security not in SECURITY_PORTS:
            raise ValueError(_("security must be one of {choices}").format(
                choices=", ".join(SECURITY_PORTS)))
        self.name = name
        self.units = tuple(units) if units is not None else None
        self.host = host
        self.port = port or SECURITY_PORTS[security]
        self.sender = sender
        self.security = security
        self.user = user
        self._password = password
        self.timeout = timeout

    def send(self, notification: Notification) -> None:
        addressed = [r for r in notification.recipients if r.email]
        for skipped in (r for r in notification.recipients if not r.email):
            log.info("smtp.no_address", channel=self.name, key=notification.key,
                     person=skipped.person_id)
        if not addressed:
            return
        try:
            with self._connect() as client:
                refused = [self._deliver(client, notification, r) for r in addressed]
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise _failure(exc, f"smtp {self.host}:{self.port}") from exc
        refused = [r for r in refused if r]
        if refused:
            delivered = len(addressed) - len(refused)
            raise PermanentFailure(_("delivered to {delivered} of {count}; refused: {refused}")
                                   .format(delivered=delivered, count=len(addressed),
                                           refused="; ".join(refused)))

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            context = ssl.create_default_context()
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if self.user:
                client.login(self.user, self._password or "")
        except BaseException:
            client.close()
            raise
        return client

    def _deliver(self, client: smtplib.SMTP, notification: Notification, to: Recipient) -> str:
        """Send one mail; return "" or, for an address the server refuses for good, why."""
        message = compose_mail(notification, to, self.sender)
        try:
            client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()))
            if 400 <= code < 500:
                raise TransientFailure(f"{to.email}: {code} {_text(reason)}") from exc
            return f"{to.email}: {code} {_text(reason)}"
        return ""


def compose_mail(notification: Notification, to: Recipient, sender: str) -> EmailMessage:
    """A plain-text UTF-8 mail; the Chinese subject is encoded by the email package (RFC 2047)."""
    message = EmailMessage()
    message["Subject"] = notification.subject
    message["From"] = sender
    message["To"] = Address(display_name=to.name, addr_spec=to.email or "")
    message["Message-ID"] = _message_id(notification.key, to.person_id, sender)
    # When it was sent (RFC 5322 requires it; without one, mail clients sort it anywhere).
    message["Date"] = formatdate(localtime=True)
    message.set_content(notification.text)
    return message


def _message_id(key: str, person_id: str, sender: str) -> str:
    digest = hashlib.sha256(f"{key}\0{person_id}".encode()).hexdigest()[:32]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "rectify.invalid"
    return f"<{digest}@{domain}>"


def _failure(exc: BaseException, where: str) -> DeliveryError:
    """4xx replies and network trouble are transient; 5xx replies (auth, sender) are permanent."""
    code = getattr(exc, "smtp_code", None)
    message = f"{where}: {type(exc).__name__}: {exc}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentFailure(message)  # e.g. no STARTTLS: a configuration matter
    if isinstance(code, int) and code >= 500:
        return PermanentFailure(message)
    return TransientFailure(message)


def _text(reason: bytes | str) -> str:
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else reason
