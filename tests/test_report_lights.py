"""The weekly report's lights as of now, counted as index ranges (store/bands.py), are the lights
of judging every open item one by one (store/judging.py), on SQLite and PostgreSQL: per unit
path and for the red list at every length, in every scope, with the items whose light `due_at`
alone does not tell — a granted 延期, a deadline moved by `item assign --due`, items moved into
追责问责, items that entered their state after the report's instant — and an item filed under a unit
path no unit has any more, beside items red, yellow, green, without a deadline and closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rectify.engine.app.extensions import decide_extension, request_extension
from rectify.engine.app.integrity import anchor_digest_now
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.core.audit import anchor_digest_of_lines, head_lines
from rectify.engine.core.calendar import shift
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.escalation import DEFAULT_LIGHTS
from rectify.engine.core.spec import Duration
from rectify.engine.reports.figures import ladders
from rectify.engine.store import integrity
from rectify.engine.store.db import read, write
from rectify.engine.store.figures import Lights, Scope
from rectify.engine.store.models import ITEMS
from sqlalchemy import func, select, update

from .conftest import FIXTURES, make_service

TZ = "Asia/Shanghai"


@pytest.fixture
def svc(db_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Service]:
    """Items of every kind the lights tell apart, over three weeks (see the module's doc)."""
    service = make_service(db_url, clock, tmp_path)
    service.load_workflow(FIXTURES / "helpcheck.yaml")
    start = clock.now()
    for unit, days in (("village-a1", (1, 3, 8, 20)), ("village-a2", (2, 9)),
                       ("village-b1", (1, 4, 30))):
        for n in days:
            _assigned(service, unit, (start + timedelta(days=n)).date().isoformat())
    service.new_item("li", "rectification", "village-a1", values={"description": "未派"})
    closed = _assigned(service, "village-a1", (start + timedelta(days=5)).date().isoformat())
    photo = tmp_path / "照片.jpg"
    photo.write_bytes(b"evidence")
    service.advance(closed, "zhang", "submit", values={"measures": "已整改"}, attach=[photo])
    service.advance(closed, "zhao", "accept")
    moved = _assigned(service, "village-a1", (start + timedelta(days=2)).date().isoformat())
    service.assign(moved, "li", "sun", due=(start + timedelta(days=25)).date().isoformat(),
                   comment="换人")
    extended = _fixing(service)
    _fixing(service)
    clock.advance(timedelta(days=11))
    with read(service.engine) as conn:
        due = conn.execute(select(ITEMS.c.due_at).where(ITEMS.c.id == extended)).scalar_one()
    request_extension(service, extended, "zhang", (due + timedelta(days=3)).date().isoformat(),
                      "农忙")
    decide_extension(service, extended, "wang", "grant")
    sweep(service)  # 督办 on the overdue; 问责 moves the longest overdue into 追责问责
    clock.advance(timedelta(days=8))
    sweep(service)
    _assigned(service, "village-b1", (clock.now() + timedelta(days=3)).date().isoformat())
    stale = _assigned(service, "village-a2", (clock.now() + timedelta(days=1)).date()
                      .isoformat())
    with write(service.engine) as conn:  # its unit moved away since (units keep no old path)
        conn.execute(update(ITEMS).where(ITEMS.c.id == stale)
                     .values(unit_path="/county/town-a/gone/"))
    clock.advance(timedelta(days=1))
    yield service
    service.engine.dispose()


def _assigned(svc: Service, unit: str, due: str) -> int:
    inspector = "li" if unit.startswith("village-a") else "qian"
    assignee = "zhou" if unit == "village-b1" else "zhang"
    item = svc.new_item(inspector, "rectification", unit, assignee=assignee, due=due,
                        values={"description": f"问题 {unit} {due}"})
    svc.advance(item, inspector, "assign")
    return item


def _fixing(svc: Service) -> int:
    item = svc.new_item("li", "helpcheck", "village-a1", assignee="zhang",
                        values={"description": "帮扶手册未更新"})
    svc.advance(item, "li", "start")
    return item


def _both(svc: Service, conn: Any, scope: Scope, as_of: datetime) -> tuple[Lights, Lights]:
    """The lights as of `as_of` (taken as now) counted by ranges, and judged item by item."""
    yellow_until = shift(as_of, Duration(DEFAULT_LIGHTS.yellow_workdays, "workdays"), TZ,
                         svc.calendar()).at
    rule = ladders(svc, conn).red
    fast = Lights(conn, scope, as_of, as_of, yellow_until, rule)
    slow = Lights(conn, scope, as_of, as_of, yellow_until, rule)
    slow.counted = None
    assert fast.counted is not None
    return fast, slow


def test_the_ranges_count_what_judging_each_item_counts(svc: Service, clock: FixedClock
                                                        ) -> None:
    """At instants from before the first deadline to after the last item entered its state
    (so some entered after the instant), in the whole org, a township, a village, a moved
    unit's old path and one workflow: the same bands per unit path and the same red list (ids
    and deadlines, in order) for every length; the seeded set has every kind of item apart."""
    scopes = [Scope(), Scope("/county/"), Scope("/county/town-a/"),
              Scope("/county/town-b/village-b1/"), Scope("/county/town-a/gone/"),
              Scope("/county/town-c/"),
              Scope(workflow="helpcheck"), Scope("/county/town-a/", "rectification")]
    now = clock.now()
    instants = [now - timedelta(days=d) for d in (0, 1, 5, 9, 14, 19)] + [now + timedelta(days=3)]
    kinds: set[str] = set()
    paths: set[str] = set()
    with read(svc.engine) as conn:
        for as_of in instants:
            for scope in scopes:
                fast, slow = _both(svc, conn, scope, as_of)
                assert fast.by_path() == slow.by_path(), (as_of, scope)
                for limit in (1, 2, 3, 5, 50):
                    assert _ids(fast.red(limit)) == _ids(slow.red(limit)), (as_of, scope, limit)
                assert fast.counted is not None
                kinds |= {_kind(conn, a, as_of) for a in fast.counted.apart.values()}
                paths |= set(fast.counted.paths)
        undated = conn.execute(select(func.count()).where(
            ITEMS.c.final.is_(False), ITEMS.c.due_at.is_(None))).scalar_one()
        closed = conn.execute(select(func.count()).where(ITEMS.c.final.is_(True))).scalar_one()
    assert kinds == {"extended", "moved", "accountable", "later"}, kinds
    assert undated and closed
    assert "/county/town-a/gone/" in paths  # counted by its range like any other path


def _ids(red: list[tuple[Any, datetime | None]]) -> list[tuple[int, datetime | None]]:
    return [(record.id, due) for record, due in red]


def _kind(conn: Any, apart: Any, as_of: datetime) -> str:
    """Why an item was judged apart (to show the seeded set covers every reason)."""
    row = conn.execute(select(ITEMS).where(ITEMS.c.id == apart.id)).one()
    if row.entered_at > as_of:
        return "later"
    if row.state == "accountable":
        return "accountable"
    return "extended" if row.workflow == "helpcheck" else "moved"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_lights_as_of_now_read_indexes_only(svc: Service, clock: FixedClock) -> None:
    """SQLite's plans: the ranges seek ix_items_open per unit path, the items apart are one pass
    over ix_items_open reading no table row, and the red list walks ix_items_open_state in
    deadline order (no sort of every red item)."""
    from sqlalchemy import event

    caught: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        caught.append((statement, parameters))

    with read(svc.engine) as conn:
        fast, _ = _both(svc, conn, Scope("/county/"), clock.now())
        event.listen(svc.engine, "before_cursor_execute", grab)
        try:
            fast.by_path()
            fast.red(3)
        finally:
            event.remove(svc.engine, "before_cursor_execute", grab)
        raw = conn.connection.dbapi_connection
        assert raw is not None
        plans = {" ".join(s.split()): " | ".join(r[3] for r in raw.execute(
            "explain query plan " + s, p).fetchall()) for s, p in caught}
    counts = [p for s, p in plans.items() if s.startswith("SELECT ? AS anon_1")]
    assert counts and all("COVERING INDEX ix_items_open (unit_path=?" in p for p in counts)
    apart = [p for s, p in plans.items() if "original_due_at !=" in s]
    assert len(apart) == 1 and "COVERING INDEX ix_items_open" in apart[0], apart
    walks = [p for s, p in plans.items() if "ORDER BY items.due_at, items.id" in s]
    assert walks and all("ix_items_open_state" in p and "TEMP B-TREE" not in p for p in walks)


def test_the_anchor_lines_come_in_chunks_of_any_size(svc: Service) -> None:
    """The database writes the heads' lines as Python writes them (`head_lines`), in id order,
    whatever the chunk size (chunk edges inside and at the end), and the report's anchor is
    the digest of those lines and the admin log's head."""
    with read(svc.engine) as conn:
        heads = list(conn.execute(select(ITEMS.c.id, ITEMS.c.last_seq, ITEMS.c.last_hash)
                                  .order_by(ITEMS.c.id)))
        expected = head_lines(heads)
        for batch in (1, 2, 7, len(heads), len(heads) + 1):
            assert "".join(integrity.head_line_chunks(conn, batch)) == expected, batch
        admin = integrity.admin_log(conn)
    assert len(heads) > 10
    foot = [head_lines([("admin", admin[-1]["seq"], admin[-1]["hash"])])] if admin else []
    assert anchor_digest_now(svc) == anchor_digest_of_lines([expected, *foot])
