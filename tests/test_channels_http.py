"""WeCom, DingTalk and webhook channels against a real HTTP server on loopback.

The server plays each robot: it records what arrives, answers as scripted, and verifies
DingTalk's signature and the webhook's HMAC header the way the real receivers do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rectify.notifications.channels import WebhookChannel, sign_body
from rectify.notifications.delivery import PermanentFailure, RateLimited, TransientFailure
from rectify.notifications.dispatch import DispatchReport, dispatch
from rectify.notifications.memory import MemoryOutbox
from rectify.notifications.message import Notification, Recipient
from rectify.notifications.robots import DingTalkChannel, WeComChannel

T0 = datetime(2024, 5, 9, 9, 0, tzinfo=UTC)
OK = {"errcode": 0, "errmsg": "ok"}
PEOPLE = (
    Recipient("wang", "王五", mobile="13800000001"),
    Recipient("zhao", "赵六", mobile="13800000002"),
    Recipient("li", "李四"),
)


def note(key: str = "item:1:overdue", markdown: str = "### 督办：#1 已超期\n\n请立即整改。",
         text: str = "请立即整改。") -> Notification:
    return Notification(key=key, template="overdue", subject="【督办】#1 已超期", text=text,
                        markdown=markdown, recipients=PEOPLE, item_id=1, unit="village-a1",
                        data={"item": {"id": 1, "unit_name": "张庄村"}})


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Robot:
    """What the fake server does: records requests, answers from a script or with OK."""

    received: list[Received] = field(default_factory=list)
    script: deque[tuple[int, Any]] = field(default_factory=deque)
    verify: Callable[[Received], tuple[int, Any] | None] | None = None
    hang: threading.Event | None = None  # set: the handler waits on it before answering
    url: str = ""

    def answer(self, request: Received) -> tuple[int, Any]:
        if self.verify and (refusal := self.verify(request)):
            return refusal
        self.received.append(request)
        return self.script.popleft() if self.script else (200, OK)


def _handler(robot: Robot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            parts = urlsplit(self.path)
            request = Received(parts.path, parse_qs(parts.query), dict(self.headers), raw)
            if robot.hang is not None:
                robot.hang.wait(5)
            status, body = robot.answer(request)
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 429:
                self.send_header("Retry-After", "7")
            try:
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the hang test's client gave up waiting, as it should

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

    return Handler


@pytest.fixture
def robot() -> Iterator[Robot]:
    """A live HTTP server on 127.0.0.1 at a free port, for one test."""
    state = Robot()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=K"
    try:
        yield state
    finally:
        if state.hang is not None:
            state.hang.set()
        server.shutdown()
        server.server_close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


# --- WeCom -------------------------------------------------------------------------------


def test_wecom_markdown_arrives_once_naming_everyone(robot: Robot) -> None:
    """One markdown message per notification, recipients named at the end."""
    WeComChannel("town", robot.url).send(note())
    [request] = robot.received
    assert request.query == {"key": ["K"]}
    assert request.headers["Content-Type"].startswith("application/json")
    body = request.json
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["content"].startswith("### 督办：#1 已超期")
    assert body["markdown"]["content"].endswith("接收人：王五、赵六、李四")


def test_wecom_text_mentions_mobiles(robot: Robot) -> None:
    """Text messages carry the subject, body and a mention list of those with a mobile."""
    WeComChannel("town", robot.url, msgtype="text").send(note())
    body = robot.received[0].json
    assert body["msgtype"] == "text"
    assert body["text"]["content"].startswith("【督办】#1 已超期\n\n请立即整改。")
    assert body["text"]["mentioned_mobile_list"] == ["13800000001", "13800000002"]


@pytest.mark.parametrize(("msgtype", "limit"), [("markdown", 4096), ("text", 2048)])
def test_wecom_long_message_is_split_under_the_byte_limit(
    robot: Robot, msgtype: str, limit: int
) -> None:
    """A long digest goes out in marked parts, each within WeCom's byte limit."""
    long = "\n".join(f"- #{n} 问题整改闭环｜张庄村第{n}组｜期限 2024-05-10" for n in range(400))
    WeComChannel("town", robot.url, msgtype=msgtype).send(note(markdown=long, text=long))
    contents = [r.json[msgtype]["content"] for r in robot.received]
    assert len(contents) > 3
    assert all(_utf8(c) <= limit for c in contents)
    assert contents[0].startswith(f"(1/{len(contents)})\n")
    if msgtype == "text":  # mention once, on the last part
        assert ["mentioned_mobile_list" in r.json["text"] for r in robot.received][-2:] == [
            False, True]


def test_wecom_errcodes(robot: Robot) -> None:
    """45009 is WeCom's rate limit (transient); -1 is busy; anything else is permanent."""
    channel = WeComChannel("town", robot.url)
    robot.script.extend([
        (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        (200, {"errcode": -1, "errmsg": "system busy"}),
        (200, {"errcode": 93000, "errmsg": "invalid webhook url"}),
        (200, b"<html>proxy error</html>"),
    ])
    with pytest.raises(RateLimited):
        channel.send(note())
    with pytest.raises(TransientFailure, match="errcode -1"):
        channel.send(note())
    with pytest.raises(PermanentFailure, match="errcode 93000: invalid webhook url"):
        channel.send(note())
    with pytest.raises(TransientFailure, match="not JSON"):
        channel.send(note())


# --- DingTalk ------------------------------------------------------------------------------


def _dingtalk_verifier(secret: str) -> Callable[[Received], tuple[int, Any] | None]:
    """Check `sign` the way DingTalk does: HMAC of "timestamp\\nsecret", within an hour."""

    def verify(request: Received) -> tuple[int, Any] | None:
        timestamp = request.query.get("timestamp", [""])[0]
        sign = request.query.get("sign", [""])[0]  # parse_qs has undone the urlencoding
        digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
        expected = base64.b64encode(digest.digest()).decode()
        fresh = timestamp.isdigit() and abs(time.time() * 1000 - int(timestamp)) < 3_600_000
        if not (fresh and hmac.compare_digest(sign, expected)):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        return None

    return verify


def test_dingtalk_signed_markdown_arrives_with_mentions(robot: Robot) -> None:
    """The server verifies the signature; title, markdown and @mobiles are as DingTalk wants."""
    robot.verify = _dingtalk_verifier("SECret+/=")
    robot.url = robot.url.replace("key=K", "access_token=T")
    DingTalkChannel("county", robot.url, secret="SECret+/=").send(note())
    [request] = robot.received
    assert request.query["access_token"] == ["T"]
    body = request.json
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "【督办】#1 已超期"
    assert body["markdown"]["text"].endswith("接收人：王五、赵六、李四 @13800000001 @13800000002")
    assert body["at"] == {"atMobiles": ["13800000001", "13800000002"], "isAtAll": False}


def test_dingtalk_wrong_secret_is_permanent(robot: Robot) -> None:
    """A signature the robot rejects will not get better by retrying."""
    robot.verify = _dingtalk_verifier("right")
    with pytest.raises(PermanentFailure, match="errcode 310000"):
        DingTalkChannel("county", robot.url, secret="wrong").send(note())
    assert robot.received == []


def test_dingtalk_rate_errcode_is_rate_limited(robot: Robot) -> None:
    """130101 ("send too fast") pauses the channel."""
    robot.script.append((200, {"errcode": 130101, "errmsg": "send too fast"}))
    with pytest.raises(RateLimited):
        DingTalkChannel("county", robot.url).send(note())


# --- webhook -------------------------------------------------------------------------------


def test_webhook_posts_the_notification_signed(robot: Robot) -> None:
    """The JSON carries the notification; the header is the HMAC of the exact body."""
    def verify(request: Received) -> tuple[int, Any] | None:
        expected = "sha256=" + hmac.new(b"hook-secret", request.raw, hashlib.sha256).hexdigest()
        given = request.headers.get("X-Rectify-Signature", "")
        return None if hmac.compare_digest(given, expected) else (401, {"error": "bad signature"})

    robot.verify = verify
    WebhookChannel("hook", url=robot.url, secret="hook-secret").send(note())
    [request] = robot.received
    body = request.json
    assert {"key", "template", "subject", "text", "item_id", "unit", "recipients", "data"} <= set(
        body)
    assert body["key"] == "item:1:overdue" and body["item_id"] == 1
    assert body["recipients"][0] == {"person_id": "wang", "name": "王五", "email": None,
                                     "mobile": "13800000001"}
    with pytest.raises(PermanentFailure, match="HTTP 401"):
        WebhookChannel("hook", url=robot.url, secret="other").send(note())
    assert sign_body("k", b"{}") == hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()


def test_webhook_unsigned_without_secret(robot: Robot) -> None:
    """No secret, no signature header."""
    WebhookChannel("hook", url=robot.url).send(note())
    assert "X-Rectify-Signature" not in robot.received[0].headers


# --- HTTP failure kinds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, TransientFailure), (503, TransientFailure), (400, PermanentFailure),
     (404, PermanentFailure), (301, PermanentFailure)],
)
def test_http_status_kinds(robot: Robot, status: int, kind: type[Exception]) -> None:
    """5xx is transient, 4xx permanent, and a redirect is not followed."""
    robot.script.append((status, {"error": "x"}))
    with pytest.raises(kind, match=f"HTTP {status}") as caught:
        WebhookChannel("hook", url=robot.url).send(note())
    assert "key=K" not in str(caught.value)  # robot keys never reach logs or the outbox
    assert not isinstance(caught.value, RateLimited)


def test_http_429_is_rate_limited_with_retry_after(robot: Robot) -> None:
    """429 is the one 4xx that is transient; Retry-After is honoured."""
    robot.script.append((429, {"error": "slow down"}))
    with pytest.raises(RateLimited) as caught:
        WebhookChannel("hook", url=robot.url).send(note())
    assert caught.value.retry_after == 7


def test_server_down_is_transient() -> None:
    """Connection refused on a closed port: retry later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientFailure, match="refused"):
        WebhookChannel("hook", url=f"http://127.0.0.1:{port}/hook").send(note())


def test_slow_server_times_out_as_transient(robot: Robot) -> None:
    """A server that does not answer within the timeout is a transient failure."""
    robot.hang = threading.Event()
    with pytest.raises(TransientFailure, match=r"[Tt]imed? ?out"):
        WebhookChannel("hook", url=robot.url, timeout=0.2).send(note())


# --- through the dispatcher ----------------------------------------------------------------


def test_500_then_200_delivers_exactly_once_through_dispatch(robot: Robot) -> None:
    """A failing server is retried after the backoff; the message arrives once, none lost."""
    robot.script.append((500, {"error": "down"}))
    store = MemoryOutbox()
    for n in range(3):
        store.enqueue("town", note(key=f"k{n}"), T0)
    channels = {"town": WeComChannel("town", robot.url)}
    assert dispatch(store, channels, T0) == DispatchReport(sent=2, retried=1)
    assert dispatch(store, channels, T0 + timedelta(seconds=29)) == DispatchReport()
    assert dispatch(store, channels, T0 + timedelta(seconds=30)) == DispatchReport(sent=1)
    assert dispatch(store, channels, T0 + timedelta(hours=1)) == DispatchReport()
    assert len(robot.received) == 4  # the refused attempt, then each message once
    assert sorted(r.json["markdown"]["content"] for r in robot.received[1:]) == [
        note().markdown + "\n\n接收人：王五、赵六、李四"] * 3
    assert {r.status for r in store.rows.values()} == {"sent"}


def test_400_is_not_retried_through_dispatch(robot: Robot) -> None:
    """A permanent failure is recorded once and never sent again."""
    robot.script.append((400, {"error": "bad request"}))
    store = MemoryOutbox()
    store.enqueue("hook", note(), T0)
    channels = {"hook": WebhookChannel("hook", url=robot.url)}
    assert dispatch(store, channels, T0).failed == 1
    assert dispatch(store, channels, T0 + timedelta(days=1)) == DispatchReport()
    assert len(robot.received) == 1 and store.rows[1].status == "failed"
    assert "HTTP 400" in (store.rows[1].last_error or "")


def test_rate_limited_robot_is_paused_then_resumes(robot: Robot) -> None:
    """The 21st message in a minute is not sent; 60 s later (injected clock) it is."""
    clock = FakeClock()
    store = MemoryOutbox()
    for n in range(21):
        store.enqueue("town", note(key=f"k{n}"), T0)
    channels = {"town": WeComChannel("town", robot.url, clock=clock)}
    report = dispatch(store, channels, T0)
    assert report == DispatchReport(sent=20, paused_channels=("town",), postponed=1)
    assert len(robot.received) == 20
    row = store.rows[21]
    assert row.attempts == 0 and row.next_attempt == T0 + timedelta(seconds=60)
    assert dispatch(store, channels, T0 + timedelta(seconds=59)) == DispatchReport()
    clock.now += 60
    assert dispatch(store, channels, T0 + timedelta(seconds=60)) == DispatchReport(sent=1)
    assert len(robot.received) == 21
