"""Deadlines in working days, ladders that fire once per state entry, timers, and the sweep's
exactly-once guarantee under a crash and under concurrent sweepers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rectify.engine.app import outbox
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.app.views import item_detail
from rectify.engine.core.clock import FixedClock
from rectify.engine.store import items as store
from rectify.engine.store.db import open_engine, read, upgrade
from sqlalchemy import func, select

from .conftest import FIXTURES
from .seeding import LADDER_WORKFLOW, seed

SH = "+08:00"
NOTICE_WORKFLOW = """
workflow: notice
title: 公示
roles: {cadre: 村干部}
initial: draft
states:
  draft: {label: 拟定, deadline: 3 workdays}
  notice:
    label: 公示中
    public: true
    deadline: 7 days
    escalate:
      - {at: 0, fire: pass_notice, level: 公示期满, notify: [cadre], template: notice_end}
  passed: {label: 公示通过, final: true}
transitions:
  - {trigger: publish, source: draft, dest: notice, roles: [cadre]}
  - {trigger: object, source: notice, dest: draft, roles: [cadre], comment: required}
  - {trigger: pass_notice, source: notice, dest: passed, roles: [cadre]}
"""
QUICK_WORKFLOW = """
workflow: quick
roles: {inspector: 督查人员, rectifier: 整改责任人}
initial: rectifying
states:
  rectifying: {label: 整改中, deadline: 3 workdays}
  closed: {label: 已销号, final: true}
transitions:
  - {trigger: close, source: rectifying, dest: closed, roles: [inspector]}
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def load(service: Service, tmp_path: Path, name: str, text: str) -> int:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, "utf-8")
    return service.load_workflow(path)[0].id


def test_deadline_spans_national_day_and_makeup_saturday(sqlite_service: Service,
                                                         tmp_path: Path) -> None:
    """3 workdays from 2025-09-30 end at the end of Saturday 2025-10-11 (a make-up workday)."""
    load(sqlite_service, tmp_path, "quick", QUICK_WORKFLOW)
    sqlite_service.clock.set(at(f"2025-09-30T15:00:00{SH}"))  # type: ignore[attr-defined]
    item_id = sqlite_service.new_item("li", "quick", "village-a1", values={})
    detail = item_detail(sqlite_service, item_id, None)
    assert detail["due_at"] == f"2025-10-11T23:59:59{SH}"
    assert detail["due_provisional"] is False


def test_uncovered_year_is_provisional_until_calendar_loaded(sqlite_service: Service,
                                                             tmp_path: Path) -> None:
    """A deadline in 2027 is counted by weekends alone and marked provisional, then recomputed."""
    load(sqlite_service, tmp_path, "quick", QUICK_WORKFLOW)
    sqlite_service.clock.set(at(f"2026-12-30T10:00:00{SH}"))  # type: ignore[attr-defined]
    item_id = sqlite_service.new_item("li", "quick", "village-a1", values={})
    before = item_detail(sqlite_service, item_id, None)
    assert before["due_provisional"] is True
    assert before["due_at"] == f"2027-01-04T23:59:59{SH}"  # Dec 31, Jan 1 (Fri), Jan 4 (Mon)
    calendar = tmp_path / "cal2027.yaml"
    calendar.write_text("years:\n  2027:\n    holidays: [2027-01-01]\n", "utf-8")
    years, recomputed = sqlite_service.load_calendar(calendar)
    assert (years, recomputed) == ([2027], 1)
    after = item_detail(sqlite_service, item_id, None)
    assert after["due_provisional"] is False
    assert after["due_at"] == f"2027-01-05T23:59:59{SH}"  # Jan 1 is now a holiday


def test_reject_reenters_rectifying_and_restarts_ladder(service: Service, tmp_path: Path) -> None:
    """Reminder fires once per entry: after a rejection the ladder starts again."""
    item_id = service.new_item("li", "rectification", "village-a1", assignee="zhang",
                               values={"description": "d"})
    service.advance(item_id, "li", "assign")
    clock: FixedClock = service.clock  # type: ignore[assignment]
    clock.set(at(f"2025-10-15T09:00:00{SH}"))  # past the -2 workdays reminder
    assert [e["level"] for e in sweep(service).escalations] == ["提醒"]
    assert sweep(service).escalations == []  # once only
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"x")
    service.advance(item_id, "zhang", "submit", values={"measures": "m"}, attach=[photo])
    service.advance(item_id, "zhao", "reject", comment="不合格")
    detail = item_detail(service, item_id, None)
    assert detail["due_at"] == f"2025-10-29T23:59:59{SH}"  # 10 workdays from Oct 15
    clock.set(at(f"2025-10-28T09:00:00{SH}"))
    assert [e["level"] for e in sweep(service).escalations] == ["提醒"]
    with read(service.engine) as conn:
        applied = [(s["entry_no"], s["step_index"]) for s in store.steps_of(conn, item_id)
                   if s["status"] == "applied"]
    assert applied == [(2, 0), (4, 0)]


def test_reassigned_with_new_due_moves_the_reminder(sqlite_service: Service) -> None:
    """`item assign --due` later than planned: the reminder waits for the new deadline."""
    s = sqlite_service
    item_id = s.new_item("li", "rectification", "village-a1", assignee="zhang",
                         values={"description": "d"})
    s.advance(item_id, "li", "assign")
    s.assign(item_id, "wang", "sun", due="2025-11-28", comment="延期")
    s.clock.set(at(f"2025-10-15T09:00:00{SH}"))  # type: ignore[attr-defined]
    assert sweep(s).escalations == []
    s.clock.set(at(f"2025-11-27T09:00:00{SH}"))  # type: ignore[attr-defined]
    assert [e["level"] for e in sweep(s).escalations] == ["提醒"]


def test_timer_passes_by_itself_and_objection_preempts(service: Service, tmp_path: Path) -> None:
    """A 7-day public notice passes unless an objection moves the item first."""
    load(service, tmp_path, "notice", NOTICE_WORKFLOW)
    passing = service.new_item("li", "notice", "village-a1", values={})
    objected = service.new_item("li", "notice", "village-a1", values={})
    with pytest.raises(Exception, match="村干部"):
        service.advance(passing, "li", "publish")
    _grant_cadre(service, tmp_path)
    for item_id in (passing, objected):
        service.advance(item_id, "li", "publish")
    clock: FixedClock = service.clock  # type: ignore[assignment]
    clock.advance(days=3)
    service.advance(objected, "li", "object", comment="有群众反映收入不实")
    clock.advance(days=5)
    report = sweep(service)
    assert report.fired == [{"item": passing, "trigger": "pass_notice", "dest": "passed"}]
    assert item_detail(service, objected, None)["state"] == "draft"
    last = item_detail(service, passing, None)["history"][-1]
    # The sweep ran days after the notice ended: applied late, and it says so.
    assert (last["actor"], last["comment"]) == ("system", "系统自动：公示期满（补办）")
    # The step's notice is made after the transition it fires: it names where the item went,
    # and when the notice period ended (not when the sweep ran).
    with read(service.engine) as conn:
        [notice] = [r for r in outbox.list_rows(conn, None) if r["template"] == "notice_end"]
    assert "当前状态：公示通过" in notice["body_text"]
    assert f"已于 {notice['data']['step']['at']} 届满" in notice["body_text"]
    assert notice["data"]["step"]["at"] != notice["data"]["now"]


def _grant_cadre(service: Service, tmp_path: Path) -> None:
    org = (FIXTURES / "org.yaml").read_text("utf-8").replace(
        "roles: {inspector: town-a}", "roles: {inspector: town-a, cadre: village-a1}")
    (tmp_path / "org2.yaml").write_text(org, "utf-8")
    service.load_org(tmp_path / "org2.yaml")


def test_dry_run_writes_nothing(sqlite_service: Service) -> None:
    """--dry-run reports the due steps and leaves them pending."""
    s = sqlite_service
    item_id = s.new_item("li", "rectification", "village-a1", assignee="zhang",
                         values={"description": "d"})
    s.advance(item_id, "li", "assign")
    s.clock.set(at(f"2025-10-30T09:00:00{SH}"))  # type: ignore[attr-defined]
    preview = sweep(s, dry_run=True)
    assert len(preview.escalations) == 4 and preview.fired[0]["trigger"] == "hold_accountable"
    assert item_detail(s, item_id, None)["escalations"] == []
    applied = sweep(s)
    assert len(applied.escalations) == 4 and all(e["late"] for e in applied.escalations)
    assert item_detail(s, item_id, None)["state"] == "accountable"


def test_one_batch_of_many_rungs_describes_each_step_as_its_own(service: Service,
                                                                  tmp_path: Path) -> None:
    """Steps of two workflow versions, some due on time and some late, applied in one batch:
    each history row and report line tells its own step (level, planned time, late)."""
    now = service.clock.now()
    on_time, late = now - timedelta(minutes=5), now - timedelta(hours=3)
    old = load(service, tmp_path, "ladder", LADDER_WORKFLOW)
    new = load(service, tmp_path, "ladder", LADDER_WORKFLOW.replace("level: 督办", "level: 约谈"))
    for version in (old, new):
        for planned in (on_time, late):
            seed(service.engine, version, "ladder", "rectifying", "village-a1", 3,
                 entered=now - timedelta(days=20), due=planned, step_at=planned)
    report = sweep(service)
    assert len(report.escalations) == 12 and report.errors == []
    h, items = store.HISTORY, store.ITEMS
    with read(service.engine) as conn:
        rows = conn.execute(select(items.c.workflow_version_id, h.c.data, h.c.comment,
                                   h.c.item_id).join(items, items.c.id == h.c.item_id)
                            .where(h.c.kind == "escalation")).all()
        steps = conn.execute(select(store.STEPS.c.item_id, store.STEPS.c.planned_at)).all()
    planned_of = {i: p if p.tzinfo else p.replace(tzinfo=UTC) for i, p in steps}
    seen = set()
    for version, data, comment, item_id in rows:
        was_late = planned_of[item_id] == late
        assert data["level"] == ("督办" if version == old else "约谈")
        assert data["planned_at"] == planned_of[item_id].isoformat()
        assert data["late"] is was_late and (comment is not None) is was_late
        seen.add((version, was_late))
    assert seen == {(old, False), (old, True), (new, False), (new, True)}
    lines = {(e["level"], e["late"]) for e in report.escalations}
    assert lines == {("督办", False), ("督办", True), ("约谈", False), ("约谈", True)}


def _volume(url: str, tmp_path: Path, n: int) -> tuple[Service, str]:
    engine = open_engine(url)
    upgrade(engine)
    clock = FixedClock(at(f"2025-09-26T10:00:00{SH}"))
    service = Service(engine, clock, files_dir=tmp_path / "files")
    service.load_org(FIXTURES / "org.yaml")
    version = load(service, tmp_path, "ladder", LADDER_WORKFLOW)
    due = clock.now() + timedelta(days=1)
    seed(engine, version, "ladder", "rectifying", "village-a1", n, entered=clock.now(),
         due=due, step_at=due)
    return service, (clock.now() + timedelta(days=2)).isoformat()


def _escalation_counts(service: Service) -> tuple[int, int, int]:
    h, steps = store.HISTORY, store.STEPS
    with read(service.engine) as conn:
        rows = conn.execute(select(h.c.item_id, func.count()).where(h.c.kind == "escalation")
                            .group_by(h.c.item_id)).all()
        pending = conn.execute(select(func.count()).where(steps.c.status == "pending")).scalar()
    return len(rows), max((c for _, c in rows), default=0), int(pending or 0)


def _rectify(url: str, now: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "rectify.cli", "--db", url, "--now", now, *args]


@pytest.mark.slow
def test_kill_9_mid_sweep_then_rerun_applies_each_step_once(tmp_path: Path) -> None:
    """20,000 due steps; the sweeper is killed mid-way; the rerun applies exactly the rest."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    service, now = _volume(url, tmp_path, 20_000)
    proc = subprocess.Popen(_rectify(url, now, "sweep"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _escalation_counts(service)[0] < 1000 and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for the other process to make progress, not for a clock
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _escalation_counts(service)
    assert 0 < partial[0] < 20_000, "the sweeper must be killed mid-way"
    rerun = subprocess.run(_rectify(url, now, "--json", "sweep"), capture_output=True,
                           text=True, check=True)
    assert '"errors": []' in rerun.stdout
    assert _escalation_counts(service) == (20_000, 1, 0)


@pytest.mark.slow
@pytest.mark.postgres
def test_four_concurrent_sweeps_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """Four sweep processes over 20,000 due steps: every step applied exactly once."""
    service, now = _volume(pg_url, tmp_path, 20_000)
    procs = [subprocess.Popen(_rectify(pg_url, now, "sweep"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert _escalation_counts(service) == (20_000, 1, 0)
