"""Faults of the database (engine/store/db.py `write` and `fault`): a SQLite lock held past the
busy timeout, a read-only database, a PostgreSQL connection killed under the command. Each is
one line, nothing half-written, and the rerun completes."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rectify.engine.app.sweep import sweep
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import DatabaseError
from sqlalchemy import create_engine, text

from ..cli_inprocess import Rectify, prepared_service
from ..conftest import PG_URL, START

NOW = "2025-09-26T10:00+08:00"
NEW = ("item", "new", "--workflow", "rectification", "--unit", "village-a1",
       "--field", "description=户籍信息与实际不符")


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "rectify.db"
    prepared_service(f"sqlite:///{path}", FixedClock(START), tmp_path / "files").engine.dispose()
    return path


def test_lock_held_past_the_busy_timeout(sqlite_file: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """While another program holds the write lock, `item new` waits out the busy timeout
    (shortened here) and says so in one line with retry advice; afterwards it succeeds."""
    cli = Rectify(f"sqlite:///{sqlite_file}", capsys, monkeypatch, now=NOW)
    monkeypatch.setenv("RECTIFY_SQLITE_BUSY_MS", "200")
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = cli(*NEW, actor="li")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.code == 1, result
    assert "is busy" in result.err and "run the command again" in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert cli.ok(*NEW, actor="li").out.strip() == "1"


def test_read_only_database(sqlite_file: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened read-only, `item list`, `item show` and `audit verify` work; `item new` says the
    database is read-only, in one line without SQL or parameters."""
    writer = Rectify(f"sqlite:///{sqlite_file}", capsys, monkeypatch, now=NOW)
    item = writer.ok(*NEW, actor="li").out.strip()
    cli = Rectify(f"sqlite:///file:{sqlite_file}?mode=ro&uri=true", capsys, monkeypatch,
                  now=NOW)
    cli.ok("item", "list", actor="li")
    cli.ok("item", "show", item, actor="li")
    cli.ok("audit", "verify")
    result = cli(*NEW, actor="li")
    assert result.code == 1 and "is read-only: nothing was written" in result.err, result
    assert "INSERT" not in result.err and len(result.err.strip().splitlines()) == 1


def _kill_pooled(service: Any) -> None:
    """pg_terminate_backend on every connection in the service's pool (and no other)."""
    pooled = [service.engine.connect() for _ in range(service.engine.pool.checkedin())]
    pids = [conn.execute(text("SELECT pg_backend_pid()")).scalar() for conn in pooled]
    for conn in pooled:
        conn.close()
    admin = create_engine(PG_URL)
    with admin.begin() as conn:  # only this test's own backends: others share the server
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


@pytest.mark.postgres
def test_postgres_connection_killed_then_rerun(pg_url: str, tmp_path: Path) -> None:
    """The backends of the service's pooled connections are terminated: the next write is one
    DatabaseError line, nothing half-written, and the rerun completes."""
    service = prepared_service(pg_url, FixedClock(START), tmp_path / "files")
    first = service.new_item("li", "rectification", "village-a1", values={"description": "一"})
    _kill_pooled(service)
    with pytest.raises(DatabaseError) as info:
        service.new_item("li", "rectification", "village-a1", values={"description": "二"})
    message = str(info.value)
    assert "lost the connection" in message and "run it again" in message
    assert "\n" not in message and "INSERT" not in message
    second = service.new_item("li", "rectification", "village-a1", values={"description": "二"})
    assert second == first + 1
    service.engine.dispose()


@pytest.mark.postgres
def test_postgres_connection_killed_under_a_sweep(pg_url: str, tmp_path: Path) -> None:
    """A sweep whose connections were terminated fails with one line; run again, it applies
    every escalation once (nothing was half-applied by the failed run)."""
    clock = FixedClock(START)
    service = prepared_service(pg_url, clock, tmp_path / "files")
    for n in range(3):
        item = service.new_item("li", "rectification", "village-a1", assignee="zhang",
                                values={"description": f"问题{n}"})
        service.advance(item, "wang", "assign")
    clock.advance(timedelta(days=30))
    _kill_pooled(service)
    with pytest.raises(DatabaseError, match="lost the connection") as info:
        sweep(service)
    assert "\n" not in str(info.value)
    assert len(sweep(service).escalations) > 0
    assert sweep(service).escalations == []
    service.engine.dispose()
