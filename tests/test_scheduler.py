"""`rectify scheduler`: one leader per database through the lease; a follower takes over when
the leader dies; the digest is queued once however many schedulers run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rectify.engine.store.db import open_engine, read
from rectify.engine.store.outbox import OUTBOX
from sqlalchemy import func, select

from .conftest import FIXTURES

NOW = "2025-10-21T19:30:00+08:00"  # a Tuesday, after the digest time (19:00)


def rectify(db: str, *args: str, config: Path | None = None, now: str = NOW) -> list[str]:
    extra = ["--config", str(config)] if config else []
    return [sys.executable, "-m", "rectify.cli", "--db", db, "--now", now, *extra, *args]


CREATED = "2025-10-14T10:00:00+08:00"  # the item is made a week before, due on the 20th


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    subprocess.run(rectify(url, "init"), check=True, capture_output=True)
    subprocess.run(rectify(url, "org", "load", str(FIXTURES / "org.yaml")), check=True,
                   capture_output=True)
    item = subprocess.run(rectify(url, "--as", "li", "item", "new", "--workflow",
                                  "rectification", "--unit", "village-a1", "--assignee",
                                  "zhang", "--due", "2025-10-20", "--field", "description=d",
                                  now=CREATED),
                          check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run(rectify(url, "--as", "li", "item", "advance", item, "assign", now=CREATED),
                   check=True, capture_output=True)
    return url


class Watcher:
    """Collects a scheduler's JSON log lines from stderr in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.events = proc, []  # type: ignore[var-annotated]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.events.append(json.loads(line)["event"])
            except (ValueError, KeyError):
                self.events.append(line.strip())

    def wait_for(self, event: str, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # polling another process's output, not a clock
            if event in self.events:
                return True
            time.sleep(0.05)
        return False


@pytest.mark.slow
def test_follower_takes_over_when_leader_dies(db: str, tmp_path: Path) -> None:
    """Two schedulers: one leads; kill -9 it and the other leads within the lease time."""
    config = tmp_path / "rectify.toml"
    config.write_text("[scheduler]\nlease_seconds = 2\n", "utf-8")
    start = lambda name: Watcher(subprocess.Popen(  # noqa: E731
        rectify(db, "scheduler", "--id", name, config=config), stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL, text=True))
    first = start("first")
    assert first.wait_for("scheduler.leader", 10), first.events
    second = start("second")
    assert second.wait_for("scheduler.start", 10), second.events
    assert not second.wait_for("scheduler.leader", 2.5), "two leaders at once"
    os.kill(first.proc.pid, signal.SIGKILL)
    assert second.wait_for("scheduler.leader", 2 + 2 + 1), second.events
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(timeout=10) == 0
    assert "scheduler.stopped" in second.events


def test_digest_is_queued_once_by_two_schedulers(db: str) -> None:
    """Two `scheduler --once` runs for the same day queue one digest per person."""
    procs = [subprocess.Popen(rectify(db, "scheduler", "--once", "--id", f"s{i}"),
                              stderr=subprocess.DEVNULL) for i in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    subprocess.run(rectify(db, "scheduler", "--once"), check=True, capture_output=True)
    with read(open_engine(db)) as conn:
        digests = conn.execute(select(OUTBOX.c.dedupe_key, func.count())
                               .where(OUTBOX.c.template == "daily_digest")
                               .group_by(OUTBOX.c.dedupe_key)).all()
    assert [n for _, n in digests] == [1]
    assert digests[0][0].startswith("digest:2025-10-21:zhang:")
