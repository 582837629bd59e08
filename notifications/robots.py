"""Group-chat robots: 企业微信 (WeCom) and 钉钉 (DingTalk) custom robots.

A robot posts into one group chat, so it is a group channel: one message per notification that
names every recipient and @-mentions those with a mobile number. Both robots answer HTTP 200
with `{"errcode": 0}` on success and a nonzero errcode otherwise; both throttle at about 20
messages a minute, which we enforce on our side before sending (see ratelimit.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from ..engine.core.i18n import _
from ..engine.core.logs import get_logger
from .delivery import PermanentFailure, RateLimited, TransientFailure
from .message import Notification, Recipient, Texts
from .ratelimit import Clock, SlidingWindow
from .split import split_message
from .transport import DEFAULT_RETRY_AFTER, check_url, encode_json, json_answer, post, redact

log = get_logger(__name__)

Payload = dict[str, Any]
SYSTEM_BUSY = -1  # both platforms' "系统繁忙, 请稍后再试"


class _Robot:
    """What both robots share: the limiter, splitting into parts, posting and reading errcode."""

    rate_errcodes: frozenset[int] = frozenset()

    def __init__(
        self,
        name: str,
        url: str,
        *,
        units: Sequence[str] | None = None,
        timeout: float = 10.0,
        per_minute: int = 20,
        clock: Clock = time.monotonic,
    ) -> None:
        check_url(url)
        self.name = name
        self.units = tuple(units) if units is not None else None
        self.url = url
        self.timeout = timeout
        self._limiter = SlidingWindow(per_minute, 60.0, clock)

    def send(self, notification: Notification) -> None:
        payloads = self._payloads(notification)
        for _round in range(8):  # each fold keeps a share of the text; a few rounds always fit
            if len(payloads) <= self._limiter.limit:
                break
            notification = fold(notification, len(payloads), self._limiter.limit)
            payloads = self._payloads(notification)
        if len(payloads) > self._limiter.limit:  # only a pathological recipient list is left
            raise PermanentFailure(_("message needs {parts} parts, more than {limit} a minute")
                                   .format(parts=len(payloads), limit=self._limiter.limit))
        self._limiter.acquire(len(payloads))  # raises RateLimited before anything is sent
        for payload in payloads:
            self._post(payload)
        log.debug("robot.sent", channel=self.name, key=notification.key, parts=len(payloads))

    def _payloads(self, notification: Notification) -> list[Payload]:
        raise NotImplementedError

    def _target(self) -> str:
        return self.url

    def _post(self, payload: Payload) -> None:
        where = redact(self.url)
        body = post(self._target(), encode_json(payload), timeout=self.timeout)
        answer = json_answer(body, where)
        errcode = answer.get("errcode", 0)
        if errcode == 0:
            return
        message = f"{where}: errcode {errcode}: {answer.get('errmsg', '')}"
        if errcode in self.rate_errcodes:
            raise RateLimited(DEFAULT_RETRY_AFTER, message)
        if errcode == SYSTEM_BUSY:
            raise TransientFailure(message)
        raise PermanentFailure(message)


class WeComChannel(_Robot):
    """企业微信群机器人. `markdown` (default, 4096 bytes) or `text` (2048 bytes, real @-mentions).

    WeCom markdown cannot mention by mobile, so in markdown mode recipients are named only.
    """

    rate_errcodes = frozenset({45009})
    limits: ClassVar[Mapping[str, int]] = {"markdown": 4096, "text": 2048}  # content bytes

    def __init__(self, name: str, url: str, *, msgtype: str = "markdown", **options: Any) -> None:
        if msgtype not in self.limits:
            raise ValueError(_("msgtype must be markdown or text, got {value!r}").format(
                value=msgtype))
        super().__init__(name, url, **options)
        self.msgtype = msgtype

    def _payloads(self, notification: Notification) -> list[Payload]:
        names = names_line(notification.recipients)
        if self.msgtype == "markdown":
            parts = split_message(_join(notification.markdown, names), self.limits["markdown"])
            return [{"msgtype": "markdown", "markdown": {"content": p}} for p in parts]
        body = _join(f"{notification.subject}\n\n{notification.text}", names)
        payloads: list[Payload] = [
            {"msgtype": "text", "text": {"content": p}}
            for p in split_message(body, self.limits["text"])
        ]
        mobiles = mobiles_of(notification.recipients)
        if mobiles:  # ping once, with the last part, when the whole message is there
            payloads[-1]["text"]["mentioned_mobile_list"] = mobiles
        return payloads


class DingTalkChannel(_Robot):
    """钉钉自定义机器人, markdown messages, signed when a secret is configured ("加签")."""

    rate_errcodes = frozenset({130101})
    limit = 20000  # bytes of markdown per message: a cautious cap, DingTalk refuses very long ones

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        wall_clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        super().__init__(name, url, **options)
        self.secret = secret
        self._wall_clock = wall_clock  # the signature carries real time; the robot checks it

    def _payloads(self, notification: Notification) -> list[Payload]:
        mobiles = mobiles_of(notification.recipients)
        # DingTalk highlights a mention only if "@mobile" also appears in the text.
        mentions = " ".join(f"@{m}" for m in mobiles)
        names = " ".join(x for x in (names_line(notification.recipients), mentions) if x)
        parts = split_message(_join(notification.markdown, names), self.limit)
        payloads: list[Payload] = []
        for index, part in enumerate(parts, start=1):
            title = notification.subject
            if len(parts) > 1:
                title = f"{title} ({index}/{len(parts)})"
            last = index == len(parts)
            payloads.append({
                "msgtype": "markdown",
                "markdown": {"title": title, "text": part},
                "at": {"atMobiles": mobiles if last else [], "isAtAll": False},
            })
        return payloads

    def _target(self) -> str:
        if not self.secret:
            return self.url
        timestamp, sign = dingtalk_sign(self.secret, int(self._wall_clock() * 1000))
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}timestamp={timestamp}&sign={sign}"


def dingtalk_sign(secret: str, timestamp_ms: int) -> tuple[str, str]:
    """DingTalk's 加签: urlencode(base64(hmac_sha256(secret, f"{timestamp}\\n{secret}")))."""
    timestamp = str(timestamp_ms)
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return timestamp, urllib.parse.quote_plus(base64.b64encode(digest).decode("ascii"))


FOLDED = "……（内容过长，此处从略{where}）"


def fold(notification: Notification, parts: int, limit: int) -> Notification:
    """The notification cut to about `limit` of its `parts`, saying so at the cut.

    A message longer than a robot takes in a minute used to fail for good; the group is better
    served by its beginning and a pointer to the whole (`item show` has every field)."""
    keep = max(limit - 1, 1) / parts * 0.9
    where = f"；完整内容见 rectify item show {notification.item_id}" if notification.item_id else ""
    note = FOLDED.format(where=where)

    def cut(text: str) -> str:
        return text[: int(len(text) * keep)].rstrip("\\") + "\n\n" + note

    return replace(notification, forms=Texts(notification.subject, cut(notification.text),
                                             cut(notification.markdown)))


def names_line(recipients: Sequence[Recipient]) -> str:
    return "接收人：" + "、".join(r.name for r in recipients) if recipients else ""


def mobiles_of(recipients: Sequence[Recipient]) -> list[str]:
    return list(dict.fromkeys(r.mobile for r in recipients if r.mobile))


def _join(body: str, tail: str) -> str:
    return f"{body.rstrip()}\n\n{tail}" if tail else body
