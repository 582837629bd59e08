"""Three processes on one PostgreSQL database, at once, on the same 3,000 items: a rectifier
submitting items one by one, a leader bulk-closing, and a sweeper escalating and firing timers.

Afterwards every item is in a legal state that its history explains step by step, no
escalation step was applied twice in one state entry, no step is left pending for an entry the
item has left, and `rectify audit verify` passes.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.store import items as store
from rectify.engine.store.db import open_engine, read, upgrade, write
from sqlalchemy import select, text

from .conftest import FIXTURES
from .seeding import seed

SCRIPT = Path(__file__).parent / "scripts" / "contender.py"
NOW = datetime(2025, 11, 20, 2, tzinfo=UTC)
ITEMS = 3_000  # enough that the three overlap for seconds; each process runs its own way
ADVANCES = 800

CONTEST = """
workflow: contest
title: 并发测试
roles: {leader: 分管领导, rectifier: 整改责任人}
fields:
  description: {type: text, label: 问题描述}
  measures: {type: text, label: 整改措施}
initial: rectifying
states:
  rectifying:
    label: 整改中
    deadline: 10 workdays
    escalate:
      - {at: 0, level: 督办, notify: [assignee]}
      - {at: 1 days, fire: escalate_up}
  accepting:
    label: 待验收
    deadline: 3 workdays
    escalate: [{at: 0, level: 提醒, notify: [leader]}]
  escalated: {label: 已升级}
  closed: {label: 已销号, final: true}
transitions:
  - {trigger: submit, source: rectifying, dest: accepting, roles: [rectifier], actor: assignee,
     requires: [measures]}
  - {trigger: escalate_up, source: rectifying, dest: escalated, roles: [leader]}
  - {trigger: close, source: [accepting, escalated], dest: closed, roles: [leader]}
"""
NEXT = {"rectifying": {"accepting", "escalated"}, "accepting": {"closed"},
        "escalated": {"closed"}, "closed": set()}


def _prepare(url: str, tmp_path: Path) -> Service:
    engine = open_engine(url)
    upgrade(engine)
    service = Service(engine, FixedClock(NOW), files_dir=tmp_path / "files")
    service.load_org(FIXTURES / "org.yaml")
    (tmp_path / "contest.yaml").write_text(CONTEST, "utf-8")
    version = service.load_workflow(tmp_path / "contest.yaml")[0]
    due = NOW - timedelta(hours=2)
    seed(engine, version.id, "contest", "rectifying", "village-a1", ITEMS,
         entered=NOW - timedelta(days=20), due=due, step_at=due)
    with write(engine) as conn:  # every fifth item also has its timer (step 1) due
        conn.execute(text(
            "insert into escalation_steps (item_id, entry_no, step_index, state, due_at, "
            "planned_at, status, late, past_deadline) select item_id, 1, 1, state, due_at, "
            "planned_at, 'pending', false, true from escalation_steps where item_id % 5 = 0"))
    return service


@pytest.mark.slow
@pytest.mark.postgres
def test_three_processes_on_the_same_items(pg_url: str, tmp_path: Path) -> None:
    """Three processes advancing, bulk-firing and sweeping the same PostgreSQL items at
    once all succeed, leave consistent rows and a verifying audit chain."""
    service = _prepare(pg_url, tmp_path)
    go = tmp_path / "go"
    roles = [("advance", str(ADVANCES)), ("bulk",), ("sweep",)]
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), pg_url, NOW.isoformat(), role[0],
                               str(go), *role[1:]], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for role in roles]
    go.touch()
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    did = {role[0]: json.loads(out.strip().splitlines()[-1])
           for role, (out, _) in zip(roles, outputs, strict=True)}
    assert did["advance"].get("fired", 0) > 0 and did["bulk"]["fired"] > 0
    assert did["sweep"]["escalations"] > 0

    _assert_consistent(service)
    audit = subprocess.run([sys.executable, "-m", "rectify.cli", "--db", pg_url, "audit",
                            "verify"], capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0 and f"all {ITEMS} items verify" in audit.stdout, audit.stderr


def _assert_consistent(service: Service) -> None:
    with read(service.engine) as conn:
        items = {r.id: r for r in conn.execute(store.select_items())}
        history = collections.defaultdict(list)
        for row in store.iter_history(conn):
            history[row["item_id"]].append(row)
        steps = conn.execute(select(store.STEPS)).all()
    assert len(items) == ITEMS
    applied: collections.Counter[tuple[int, int, int]] = collections.Counter()
    for item_id, item in items.items():
        rows = history[item_id]
        assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
        assert item.last_seq == len(rows)
        state, entry = rows[0]["dest"], 1
        for row in rows[1:]:
            if row["kind"] == "transition":
                assert row["source"] == state and row["dest"] in NEXT[state], (item_id, rows)
                state, entry = row["dest"], entry + 1
            elif row["kind"] == "escalation":
                assert row["source"] == state, (item_id, row)  # applied in the state it was for
                applied[(item_id, entry, row["data"]["step"])] += 1
        assert (item.state, item.entry_no) == (state, entry), item_id
    assert max(applied.values()) == 1, "an escalation step was applied twice"
    done = {(s.item_id, s.entry_no, s.step_index) for s in steps if s.status == "applied"}
    assert set(applied) == done  # each applied step has its history row, and only those
    for s in steps:
        if s.status == "pending":
            assert s.entry_no == items[s.item_id].entry_no, s  # no step left for a past entry
