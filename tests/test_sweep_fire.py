"""Escalation steps that fire a transition, applied in the sweep's batch.

A step that fires (问责, 公示期满) is decided with the batch's other steps: its item read whole
once for all of them, its transition written with the batch's events, its new state's deadline
and ladder planned once. These tests hold the batch to what the one-at-a-time path did: each
fired item moved with its escalation row then its transition row, a valid chain, the new
state's ladder and notices; a refused fire still applies its escalation and is reported.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path

from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.core.audit import verify_chain
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.escalation import schedule
from rectify.engine.store import items as store
from rectify.engine.store.db import read, write

GUARDED = """
workflow: guarded
title: 到期自动
timezone: Asia/Shanghai
roles: {leader: 分管领导}
fields:
  ok: {type: choice, label: 可否, choices: ["yes", "no"]}
initial: waiting
states:
  waiting:
    label: 等待
    deadline: 1 workdays
    escalate:
      - {at: 0, level: 提示}
      - {at: 2 hours, fire: go, level: 到期}
  next:
    label: 下一步
    deadline: 5 workdays
    escalate:
      - {at: -2 workdays, level: 提醒}
      - {at: 0, level: 督办}
      - {at: 3 workdays, fire: close, level: 约谈}
  done: {label: 完成, final: true}
transitions:
  - {trigger: go, source: waiting, dest: next, roles: [leader], when: "ok == 'yes'"}
  - {trigger: close, source: next, dest: done, roles: [leader]}
"""


def _chains_ok(service: Service) -> None:
    with read(service.engine) as conn:
        history = list(store.iter_history(conn))
    for item_id, rows in itertools.groupby(history, key=lambda r: r["item_id"]):
        assert verify_chain(item_id, rows) is None


def test_fire_steps_due_together_move_every_item_with_its_new_ladder(service: Service) -> None:
    """Six items whose only due step is 问责 (`fire: hold_accountable`) are all moved by one
    sweep: each gets the escalation row then the transition row, the `accountable` state's
    deadline and ladder as schedule() plans it, its accountability notices, a valid chain."""
    clock: FixedClock = service.clock  # type: ignore[assignment]
    ids = [service.new_item("qian", "rectification", "village-a1", assignee="zhang",
                            values={"description": "户籍信息与实际不符"}) for _ in range(6)]
    for item_id in ids:
        service.advance(item_id, "li", "assign")
    with read(service.engine) as conn:
        planned = {s["step_index"]: s["planned_at"] for s in store.steps_of(conn, ids[0])}
    clock.set(planned[2] + timedelta(minutes=1))  # 约谈 due, 问责 not yet
    applied, fired = 0, 0
    while (first := sweep(service)).escalations:  # one rung per item and sweep when late
        applied, fired = applied + len(first.escalations), fired + len(first.fired)
    assert (applied, fired) == (18, 0)
    clock.set(planned[3] + timedelta(minutes=1))
    second = sweep(service)
    assert sorted(f["item"] for f in second.fired) == ids
    assert {f["dest"] for f in second.fired} == {"accountable"} and not second.errors
    with read(service.engine) as conn:
        spec = service.latest(conn, "rectification").spec
        plan = schedule(spec, "accountable", clock.now(), service.calendar())
        for item_id in ids:
            item = store.get_item(conn, item_id)
            assert (item.state, item.due_at, item.entry_no) == ("accountable", plan.due_at, 3)
            rows = store.history(conn, item_id)
            assert [(r["kind"], r["trigger"]) for r in rows[-2:]] == [
                ("escalation", "escalate:问责"), ("transition", "hold_accountable")]
            pending = [(s["state"], s["due_at"]) for s in store.steps_of(conn, item_id)
                       if s["status"] == "pending"]
            assert pending == [("accountable", p.at) for p in plan.steps]
        outbox = conn.exec_driver_sql(
            "select count(*) from outbox where template = 'accountability'").scalar()
    assert outbox and outbox % len(ids) == 0  # the same notices for every item
    _chains_ok(service)


def _guarded(service: Service, folder: Path) -> None:
    (folder / "guarded.yaml").write_text(GUARDED, "utf-8")
    service.load_workflow(folder / "guarded.yaml")


def _planned(service: Service, item_id: int) -> dict[int, datetime]:
    with read(service.engine) as conn:
        return {s["step_index"]: s["planned_at"] for s in store.steps_of(conn, item_id)}


def test_a_refused_fire_in_a_batch_applies_its_escalation_and_is_reported(
        service: Service, tmp_path: Path) -> None:
    """In one batch of fire steps, items whose `when:` allows the fired transition move into
    `next` (its deadline and three steps planned); the others keep their state, get the
    escalation row, and the sweep reports why each was not moved."""
    clock: FixedClock = service.clock  # type: ignore[assignment]
    _guarded(service, tmp_path)
    answers = ["yes", "no", "yes", "no", "yes"]
    ids = [service.new_item("li", "guarded", "village-a1", values={"ok": ok})
           for ok in answers]
    planned = _planned(service, ids[0])
    clock.set(planned[0] + timedelta(minutes=1))
    assert len(sweep(service).escalations) == len(ids)  # 提示 only
    clock.set(planned[1] + timedelta(minutes=1))
    report = sweep(service)
    moved = [i for i, ok in zip(ids, answers, strict=True) if ok == "yes"]
    kept = [i for i in ids if i not in moved]
    assert sorted(f["item"] for f in report.fired) == moved
    assert sorted(e["item"] for e in report.errors) == kept
    assert len(report.escalations) == len(ids)
    with read(service.engine) as conn:
        for item_id in moved:
            assert store.get_item(conn, item_id).state == "next"
            assert len([s for s in store.steps_of(conn, item_id)
                        if s["status"] == "pending" and s["state"] == "next"]) == 3
        for item_id in kept:
            item = store.get_item(conn, item_id)
            assert (item.state, item.last_seq) == ("waiting", 3)
            assert store.history(conn, item_id)[-1]["kind"] == "escalation"
    assert sweep(service).escalations == []  # each step applied exactly once
    _chains_ok(service)


def test_the_batch_writes_what_the_careful_path_writes(service: Service, tmp_path: Path
                                                       ) -> None:
    """The same fire at the same instant, taken in the batch (its item's only due step) and
    on the one-at-a-time path (its item's two steps due at once), writes the same: history
    rows (kind, trigger, states, data, comment), state, entry, deadline and new ladder."""
    clock: FixedClock = service.clock  # type: ignore[assignment]
    _guarded(service, tmp_path)
    in_batch, careful = (service.new_item("li", "guarded", "village-a1", values={"ok": "yes"})
                         for _ in range(2))
    planned = _planned(service, in_batch)
    steps_of_careful = store.STEPS.update().where(store.STEPS.c.item_id == careful)
    with write(service.engine) as conn:  # held back: its 提示 and fire come due together
        conn.execute(steps_of_careful.values(due_at=planned[1] + timedelta(days=1)))
    clock.set(planned[0] + timedelta(minutes=1))
    assert [e["item"] for e in sweep(service).escalations] == [in_batch]
    with write(service.engine) as conn:
        conn.execute(steps_of_careful.values(due_at=store.STEPS.c.planned_at))
    clock.set(planned[1] + timedelta(minutes=1))
    report = sweep(service)
    assert sorted(f["item"] for f in report.fired) == [in_batch, careful]
    with read(service.engine) as conn:
        written = []
        for item_id in (in_batch, careful):
            item = store.get_item(conn, item_id)
            rows = [(r["kind"], r["trigger"], r["source"], r["dest"], r["data"], r["comment"])
                    for r in store.history(conn, item_id)]
            ladder = [(s["step_index"], s["state"], s["due_at"])
                      for s in store.steps_of(conn, item_id) if s["status"] == "pending"]
            written.append((item.state, item.entry_no, item.due_at, rows[-2:], ladder))
    assert written[0] == written[1]
    _chains_ok(service)
