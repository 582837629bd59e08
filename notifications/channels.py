"""The channel types a settings file may name, how each is built, and the simple channels.

`CHANNEL_TYPES` is the one table of what `type = "..."` accepts and which keys go with it;
config.py validates settings against it and builds channels through it. The network channels
live in their own modules (smtp.py, robots.py); log, file and webhook are small enough here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.core.logs import get_logger
from .delivery import (
    Channel,
    DeliveryError,
    PermanentFailure,
    RateLimited,
    TransientFailure,
)
from .message import Notification
from .ratelimit import Clock
from .robots import DingTalkChannel, WeComChannel
from .smtp import SmtpChannel
from .transport import check_url, encode_json, post

__all__ = [
    "CHANNEL_TYPES",
    "Channel",
    "ChannelType",
    "DeliveryError",
    "DingTalkChannel",
    "FileChannel",
    "LogChannel",
    "PermanentFailure",
    "RateLimited",
    "SmtpChannel",
    "TransientFailure",
    "WeComChannel",
    "WebhookChannel",
]

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Rectify-Signature"


class LogChannel:
    """Writes each notification as a structlog `notification` event: the default, and for tests."""

    local = True  # written here, in microseconds: the dispatcher records its outcomes in batches

    def __init__(self, name: str, *, units: Sequence[str] | None = None) -> None:
        self.name = name
        self.units = tuple(units) if units is not None else None

    def send(self, notification: Notification) -> None:
        log.info(
            "notification",
            channel=self.name,
            key=notification.key,
            template=notification.template,
            subject=notification.subject,
            recipients=[r.name for r in notification.recipients],
            item_id=notification.item_id,
            text=notification.text,
        )


class FileChannel:
    """Appends one JSON line per notification to `path` (for audits and for other tools)."""

    local = True  # written here, in microseconds: the dispatcher records its outcomes in batches

    def __init__(self, name: str, *, path: str | Path, units: Sequence[str] | None = None) -> None:
        self.name = name
        self.units = tuple(units) if units is not None else None
        self.path = Path(path)

    def send(self, notification: Notification) -> None:
        line = _LINE.encode(notification.to_dict()) + "\n"
        try:
            _append(self.path, line.encode("utf-8"))
        except OSError as exc:
            raise TransientFailure(f"{self.path}: {exc.strerror or exc}") from exc


# json.dumps(..., ensure_ascii=False, default=str), made once (dumps builds an encoder per
# call) and without the check for circular references (a notification is JSON-ready data).
_LINE = json.JSONEncoder(ensure_ascii=False, default=str, check_circular=False)
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)


def _append(path: Path, data: bytes) -> None:
    """Append `data` in one write call, so appends from two processes do not interleave
    mid-line. A bare file descriptor: a Python file object (buffer, codec, the stat and seek
    it makes on opening) cost more than the write; the folder is made only when missing."""
    try:
        fd = os.open(path, _APPEND, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, _APPEND, 0o666)
    try:
        view = memoryview(data)
        while view:  # a regular file takes it all at once; a full disk may not
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


class WebhookChannel:
    """POSTs the notification as JSON; with a secret, signed `X-Rectify-Signature: sha256=<hex>`.

    Receivers should dedupe on `key`: delivery is at-least-once (see docs/notifications.md).
    """

    def __init__(
        self,
        name: str,
        *,
        url: str,
        secret: str | None = None,
        timeout: float = 10.0,
        units: Sequence[str] | None = None,
    ) -> None:
        check_url(url)
        self.name = name
        self.units = tuple(units) if units is not None else None
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def send(self, notification: Notification) -> None:
        body = encode_json(notification.to_dict())
        headers = {}
        if self.secret:
            headers[SIGNATURE_HEADER] = "sha256=" + sign_body(self.secret, body)
        post(self.url, body, timeout=self.timeout, headers=headers)


def sign_body(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of the exact body bytes, as a receiver recomputes it."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


Builder = Callable[[str, "tuple[str, ...] | None", Mapping[str, Any], Clock], Channel]


@dataclass(frozen=True)
class ChannelType:
    """What a `[channels.NAME]` table of this type may hold.

    `keys` are the allowed keys besides `type` and `units`; a key ending in `_env` names an
    environment variable whose value stands for the key without the suffix. `required` keys
    must be given, directly or through their `_env` form.
    """

    keys: frozenset[str]
    required: tuple[str, ...]
    build: Builder


def _robot(cls: type[WeComChannel] | type[DingTalkChannel]) -> Builder:
    return lambda name, units, options, clock: cls(name, units=units, clock=clock, **options)


CHANNEL_TYPES: Mapping[str, ChannelType] = {
    "smtp": ChannelType(
        frozenset({"host", "port", "sender", "security", "user", "password_env", "timeout"}),
        ("host", "sender"),
        lambda name, units, options, clock: SmtpChannel(name, units=units, **options),
    ),
    "wecom": ChannelType(
        frozenset({"url", "url_env", "msgtype", "timeout", "per_minute"}),
        ("url",),
        _robot(WeComChannel),
    ),
    "dingtalk": ChannelType(
        frozenset({"url", "url_env", "secret", "secret_env", "timeout", "per_minute"}),
        ("url",),
        _robot(DingTalkChannel),
    ),
    "webhook": ChannelType(
        frozenset({"url", "url_env", "secret", "secret_env", "timeout"}),
        ("url",),
        lambda name, units, options, clock: WebhookChannel(name, units=units, **options),
    ),
    "log": ChannelType(
        frozenset(), (), lambda name, units, options, clock: LogChannel(name, units=units)
    ),
    "file": ChannelType(
        frozenset({"path"}),
        ("path",),
        lambda name, units, options, clock: FileChannel(name, units=units, **options),
    ),
}
