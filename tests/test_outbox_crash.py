"""`rectify outbox dispatch` killed mid-batch, and a receiver that is down, with real parts.

Real outbox table (a SQLite file, and PostgreSQL), real `rectify outbox dispatch` processes
configured by a real rectify.toml, and a webhook receiver on loopback that checks the signature
and records the key of every request it gets. The receiver holds one chosen request until the
test has SIGKILLed the dispatcher, so the kill lands at the same point of the same batch every
run, while that message is in flight: no sleeps, no timing.

The window these tests pin down is the one docs/notifications.md documents ("Exactly once,
with one window"): the row whose message a channel had accepted when the process died is sent
again; every other row is sent exactly once; none is lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rectify.engine.store.db import open_engine, read, upgrade, write
from rectify.engine.store.outbox import CLAIM_FOR, OUTBOX, enqueue
from rectify.notifications.dispatch import dispatch
from rectify.notifications.message import Notification, Recipient
from rectify.notifications.notices import outbox_row
from sqlalchemy import Engine, select

NOW = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)
BATCH: int = dispatch.__kwdefaults__["limit"]  # rows claimed per pass by `outbox dispatch`
WAIT = 60.0  # seconds: the most any process or server event may take; a bound, never a sleep
SECRET_VAR = "RECTIFY_TEST_HOOK_SECRET"
SECRET = "hook-secret"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every signed request in arrival order.

    Bound at construction, listening only after `up()`: until then connections are refused,
    which is how a receiver that is down looks to the dispatcher.
    """

    def __init__(self) -> None:
        self.keys: list[str] = []  # the notification key of each request, in arrival order
        self.bodies: list[bytes] = []
        self.status: dict[str, int] = {}  # key -> the status to answer instead of 200
        self.hold_at: int | None = None  # the request number (1-based) to hold ...
        self.held = threading.Event()  # ... has arrived
        self.release = threading.Event()  # ... may be answered now
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self),
                                          bind_and_activate=False)
        self.server.server_bind()
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.01,),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def up(self) -> None:
        self.server.server_activate()
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def receive(self, raw: bytes) -> int:
        key = json.loads(raw)["key"]
        with self._lock:
            self.keys.append(key)
            self.bodies.append(raw)
            number = len(self.keys)
        if number == self.hold_at:
            self.held.set()
            self.release.wait(WAIT)
        return self.status.get(key, 200)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
            signed = hmac.compare_digest(self.headers.get("X-Rectify-Signature", ""), expected)
            status = receiver.receive(raw) if signed else 401
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender was killed while we held its request

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    try:
        yield state
    finally:
        state.close()


def _outbox(url: str, n: int) -> tuple[Engine, list[str]]:
    """A migrated database with n pending webhook rows due at NOW; their keys, oldest first."""
    engine = open_engine(url)
    upgrade(engine)
    people = (Recipient("zhang", "张三", mobile="13800000003"),)
    rows = [outbox_row(Notification(
        key=f"item:{i}:e1:s1", template="overdue", subject=f"【督办】#{i} 已超期",
        text=f"#{i} 已超期，请立即整改。", markdown=f"### 督办：#{i} 已超期",
        recipients=people, unit="village-a1"), "hook", NOW) for i in range(1, n + 1)]
    with write(engine) as conn:
        enqueue(conn, rows)
    return engine, [r["dedupe_key"] for r in rows]


def _settings(tmp_path: Path, receiver: Receiver) -> Path:
    path = tmp_path / "rectify.toml"
    path.write_text(f"""
[channels.hook]
type = "webhook"
url = "{receiver.url}"
secret_env = "{SECRET_VAR}"
timeout = {WAIT}
""", encoding="utf-8")
    return path


def _dispatch(url: str, config: Path, now: datetime) -> list[str]:
    return [sys.executable, "-m", "rectify.cli", "--db", url, "--config", str(config),
            "--now", now.isoformat(), "--json", "outbox", "dispatch"]


def _env() -> dict[str, str]:
    return {**os.environ, SECRET_VAR: SECRET}


def _run(command: list[str], cwd: Path, code: int = 0) -> dict[str, Any]:
    """Run a dispatch; its exit code must be `code` (1 when a row failed for good)."""
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=_env(),
                          timeout=WAIT)
    assert done.returncode == code, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _rows(engine: Engine) -> dict[str, Any]:
    """The outbox as it stands, by dedupe key (which is the key the receiver sees)."""
    with read(engine) as conn:
        return {r.dedupe_key: r for r in conn.execute(select(
            OUTBOX.c.dedupe_key, OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.next_attempt_at,
            OUTBOX.c.last_error))}


def _kill_when_held(command: list[str], tmp_path: Path, receiver: Receiver) -> None:
    """Start the dispatcher; SIGKILL it while the receiver holds its request; let that go."""
    with (tmp_path / "dispatch.log").open("w") as log:  # not a pipe: nobody reads it meanwhile
        proc = subprocess.Popen(command, stdout=log, stderr=log, cwd=tmp_path, env=_env())
        deadline = time.monotonic() + WAIT
        try:
            while not receiver.held.wait(0.05):  # polling the two events, not waiting for time
                assert proc.poll() is None, "dispatch ended before the held request"
                assert time.monotonic() < deadline, "the held request never arrived"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(WAIT)
    receiver.release.set()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "dispatch.log").read_text()


def test_killed_mid_batch_then_rerun_resends_only_the_message_in_flight(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """300 rows; kill -9 while request 150 (row 50 of batch 2) is in flight; rerun twice.

    Rows are marked one by one right after their send, so the kill leaves exactly one row in
    the window (accepted, not marked); the rest of its batch stays claimed until the claim
    lapses (CLAIM_FOR), then goes out. Every row ends sent, each message arrives once, except
    the one in flight, which arrives twice with the same key and body.
    """
    engine, keys = _outbox(db_url, 3 * BATCH)
    config = _settings(tmp_path, receiver)
    kill_at = BATCH + BATCH // 2
    receiver.hold_at = kill_at
    receiver.up()
    _kill_when_held(_dispatch(db_url, config, NOW), tmp_path, receiver)

    assert len(receiver.keys) == kill_at  # one row at a time: nothing after the held one
    in_flight = receiver.keys[-1]
    rows = _rows(engine)
    assert {k for k, r in rows.items() if r.status == "sent"} == set(receiver.keys[:-1])
    assert (rows[in_flight].status, rows[in_flight].attempts) == ("pending", 0)  # the window
    claimed = {k for k, r in rows.items() if r.next_attempt_at == NOW + CLAIM_FOR}
    due = {k for k, r in rows.items() if r.next_attempt_at == NOW}
    assert in_flight in claimed and len(claimed) == BATCH - kill_at % BATCH + 1  # mid-batch
    assert len(due) == BATCH and all(rows[k].status == "pending" for k in claimed | due)

    # A rerun at once sends the rows nobody claimed; the dead process's claim still holds.
    assert _run(_dispatch(db_url, config, NOW), tmp_path)["sent"] == BATCH
    assert set(receiver.keys[kill_at:]) == due
    # Once the claim lapses, the rest of the killed batch goes out, the one in flight again.
    rerun = _run(_dispatch(db_url, config, NOW + CLAIM_FOR), tmp_path)
    assert (rerun["sent"], rerun["retried"], rerun["failed"]) == (len(claimed), 0, 0)

    counts = Counter(receiver.keys)
    assert set(counts) == set(keys), "a message was lost"
    assert {k: n for k, n in counts.items() if n > 1} == {in_flight: 2}
    first, second = (b for k, b in zip(receiver.keys, receiver.bodies, strict=True)
                     if k == in_flight)
    assert first == second  # the same message: a receiver deduping on `key` sees it once
    assert {(r.status, r.attempts) for r in _rows(engine).values()} == {("sent", 1)}
    engine.dispose()


def test_receiver_down_then_back_each_row_once_and_400_not_retried(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """Connection refused: every row waits 30 s with the error; back up, each arrives once.

    The row the receiver answers 400 fails for good and is never sent again.
    """
    engine, keys = _outbox(db_url, 20)
    rejected = keys[7]
    receiver.status[rejected] = 400
    config = _settings(tmp_path, receiver)

    down = _run(_dispatch(db_url, config, NOW), tmp_path)
    assert (down["sent"], down["retried"], down["failed"]) == (0, 20, 0)
    retry_at = NOW + timedelta(seconds=30)
    for row in _rows(engine).values():
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, retry_at)
        assert "refused" in row.last_error

    receiver.up()
    back = _run(_dispatch(db_url, config, retry_at), tmp_path, code=1)
    assert (back["sent"], back["retried"], back["failed"]) == (19, 0, 1)
    assert sorted(receiver.keys) == sorted(keys)  # each once, none lost
    later = _run(_dispatch(db_url, config, NOW + timedelta(days=1)), tmp_path)
    assert (later["sent"], later["retried"], later["failed"]) == (0, 0, 0)
    assert len(receiver.keys) == 20

    rows = _rows(engine)
    assert (rows[rejected].status, rows[rejected].attempts) == ("failed", 2)
    assert "HTTP 400" in rows[rejected].last_error
    assert {r.status for k, r in rows.items() if k != rejected} == {"sent"}
    engine.dispose()


def _folded_outbox(url: str, normal: int, folds: dict[str, int]) -> Engine:
    """`normal` rows as `_outbox` makes them, then for each person in `folds` that many late
    step notices sharing one fold key (as one late sweep queues them); all due at NOW."""
    from rectify.notifications.context import sample_context
    from rectify.notifications.notices import fold_key

    engine, _ = _outbox(url, normal)
    rows = []
    for person, count in folds.items():
        people = (Recipient(person, person),)
        for n in range(count):
            context = sample_context("overdue")
            context["item"] = {**context["item"], "id": 1000 + n}
            note = Notification(key=f"item:{person}{n}:e1:s1", template="overdue",
                                subject="s", text="t", markdown="m", recipients=people,
                                unit="village-a1", data=context)
            row = outbox_row(note, "hook", NOW)
            rows.append({**row, "subject": None, "body_text": None, "body_markdown": None,
                         "fold_key": fold_key(NOW, row["recipients"])})
    with write(engine) as conn:
        enqueue(conn, rows)
    return engine


def test_killed_while_a_folded_message_is_in_flight_resends_that_fold_only(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """20 single rows, then two folds of 40 late notices (张三's, 李四's). Kill -9 while the
    first fold's message is in flight: its 40 rows stay pending together (none marked sent
    without the others), the second fold's stay claimed. After the claim lapses the first fold
    goes out again whole, with the same key, and the second once; every row ends sent once
    (attempts 1), nothing else arrives twice, nothing is lost."""
    engine = _folded_outbox(db_url, 20, {"zhang": 40, "li": 40})
    config = _settings(tmp_path, receiver)
    receiver.hold_at = 21  # the first folded message
    receiver.up()
    _kill_when_held(_dispatch(db_url, config, NOW), tmp_path, receiver)

    in_flight = receiver.keys[-1]
    assert in_flight.startswith("late:") and len(receiver.keys) == 21
    rows = _rows(engine)
    assert sum(r.status == "sent" for r in rows.values()) == 20
    assert {r.status for r in rows.values() if r.dedupe_key.startswith("item:zhang")} \
        == {"pending"}

    assert _run(_dispatch(db_url, config, NOW), tmp_path)["sent"] == 0  # still claimed
    rerun = _run(_dispatch(db_url, config, NOW + CLAIM_FOR), tmp_path)
    assert (rerun["sent"], rerun["failed"]) == (80, 0)
    counts = Counter(receiver.keys)
    assert len(counts) == 22 and {k: n for k, n in counts.items() if n > 1} == {in_flight: 2}
    folds = [json.loads(b) for k, b in zip(receiver.keys, receiver.bodies, strict=True)
             if k.startswith("late:")]
    assert [f["template"] for f in folds] == ["late_steps"] * 3
    assert folds[0] == folds[1]  # the resent fold is the same message
    assert {(r.status, r.attempts) for r in _rows(engine).values()} == {("sent", 1)}
    engine.dispose()
