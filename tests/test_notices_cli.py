"""Notices say the right thing, through the real CLI (issue 17, points 1 and 3).

A workflow the project did not write, whose ladder names no templates: each step's notice must
follow what the step is (a reminder before the deadline, an overdue notice naming the step's
level at or after it, the notice of what a `fire` step fired), and every subject names the item
by unit and description, as staff search their mail for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .cli_inprocess import Rectify
from .conftest import FIXTURES

LADDER = """\
workflow: checkup
title: 入户核查整改
fields:
  note: {type: text, label: 核查问题}
  amount: {type: number, label: 金额}
roles: {inspector: 督查人员, rectifier: 整改责任人, leader: 分管领导}
initial: found
states:
  found: {label: 发现问题}
  fixing:
    label: 整改中
    deadline: 10 workdays
    escalate:
      - {at: -2 workdays, notify: [assignee]}
      - {at: 0, notify: [assignee, leader], level: 督办}
      - {at: 3 workdays, notify: [leader], level: 约谈}
      - {at: 5 workdays, fire: escalate_up, notify: [leader], level: 问责}
  accountable: {label: 追责问责}
  done: {label: 已销号, final: true}
transitions:
  - {trigger: start, source: found, dest: fixing, roles: [inspector], requires: [note]}
  - {trigger: finish, source: fixing, dest: done, roles: [rectifier]}
  - {trigger: escalate_up, label: 转入追责问责, source: fixing, dest: accountable, roles: [leader]}
  - {trigger: close, source: accountable, dest: done, roles: [leader]}
"""
# Monday 2025-11-03 09:00 in Shanghai; ten working days later is Monday 2025-11-17 end of day.
START = "2025-11-03T09:00:00+08:00"


@pytest.fixture
def cli(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Rectify:
    """A database with the fixture org and the `checkup` workflow; one item at 张庄村 started."""
    monkeypatch.chdir(tmp_path)
    workflow = tmp_path / "checkup.yaml"
    workflow.write_text(LADDER, "utf-8")
    rectify = Rectify(db_url, capsys, monkeypatch, now=START)
    rectify.ok("init")
    rectify.ok("org", "load", str(FIXTURES / "org.yaml"))
    rectify.ok("workflow", "load", str(workflow))
    item = rectify.ok("item", "new", "--workflow", "checkup", "--unit", "village-a1",
                      "--assignee", "zhang", "--field",
                      "note=户籍信息与实际不符，  需入户核实后更正", actor="li").out.strip()
    assert item == "1"
    rectify.ok("item", "advance", "1", "start", actor="li")
    return rectify


def _subjects(cli: Rectify) -> list[tuple[str, str]]:
    """(template, subject) of every queued notice, oldest first."""
    rows: list[dict[str, Any]] = cli.ok("outbox", "list", "--limit", "100", as_json=True).json()
    return [(r["template"], r["subject"]) for r in reversed(rows)]


def test_steps_without_template_say_what_the_step_is(cli: Rectify) -> None:
    """Walk the ladder step by step: 提醒 says 即将到期; 督办 and 约谈 (after the deadline) say
    已超过整改期限 with their own level; the `fire` step tells what it fired. None of the
    after-deadline notices says 即将到期 (on main all four used `reminder`)."""
    seen: list[tuple[str, str]] = []
    for now in ("2025-11-13T09:00:00+08:00", "2025-11-18T09:00:00+08:00",
                "2025-11-21T09:00:00+08:00", "2025-11-25T09:00:00+08:00"):
        cli.ok("sweep", now=now)
        seen = _subjects(cli)
    templates = [t for t, _ in seen]
    assert templates == ["reminder", "overdue", "overdue", "escalation_fired"]
    reminder, supervise, interview, fired = (s for _, s in seen)
    assert "即将到期" in reminder
    assert supervise.startswith("【督办】") and "已超过整改期限" in supervise
    assert interview.startswith("【约谈】") and "已超过整改期限" in interview
    assert fired.startswith("【问责】") and "自动处理" in fired
    assert not any("即将到期" in s for s in (supervise, interview, fired))
    body = cli.ok("outbox", "list", as_json=True).json()[0]["body_text"]
    assert "转入追责问责" in body and "追责问责" in body  # what was fired, and where it went


def test_subjects_name_unit_and_description(cli: Rectify) -> None:
    """Subjects read "#1 张庄村 户籍信息与实际不符， 需入户核实后更正" (the first text field, spaces
    folded, cut at 20 characters), not "#1 入户核查整改" (main: the workflow's title only)."""
    cli.ok("sweep", now="2025-11-18T09:00:00+08:00")
    subjects = [s for _, s in _subjects(cli)]
    title = "#1 张庄村 户籍信息与实际不符， 需入户核实后更正"
    assert subjects and all(title in s for s in subjects)
    assert not any("入户核查整改" in s for s in subjects)


def test_a_refused_fire_step_says_it_could_not_act_and_who_must(cli: Rectify,
                                                                tmp_path: Path) -> None:
    """When a `fire` step's transition is refused (here its guard `amount > 0` over an empty
    金额), the item stays where it is, and the step's notice says so — 未能自动处理, why, in
    Chinese, and that 分管领导 must act — never 已按期限规定自动处理 (main sent the
    escalation_fired notice as if the transition had been made). The history row keeps why."""
    guarded = tmp_path / "guarded.yaml"
    guarded.write_text(LADDER.replace("workflow: checkup", "workflow: guarded").replace(
        "dest: accountable, roles: [leader]}",
        "dest: accountable, roles: [leader], when: \"amount > 0\"}"), "utf-8")
    cli.ok("workflow", "load", str(guarded))
    item = cli.ok("item", "new", "--workflow", "guarded", "--unit", "张庄村", "--assignee", "张三",
                  "--field", "note=低保金额未核实", actor="li").out.strip()
    cli.ok("item", "advance", item, "start", actor="li")
    for now in ("2025-11-13T09:00:00+08:00", "2025-11-18T09:00:00+08:00",
                "2025-11-21T09:00:00+08:00"):
        cli.ok("sweep", now=now)
    swept = cli.ok("sweep", now="2025-11-25T09:00:00+08:00", as_json=True).json()
    assert [e["item"] for e in swept["errors"]] == [int(item)]  # the fixture's item 1 fires
    rows = [r for r in cli.ok("outbox", "list", "--limit", "100", as_json=True).json()
            if r["item_id"] == int(item)]
    last = rows[0]
    assert last["template"] == "escalation_refused"
    assert last["subject"].startswith("【问责】") and "未能自动处理" in last["subject"]
    body = last["body_text"]
    assert "未能执行" in body and "金额 (amount) 为空" in body and "请分管领导" in body
    assert "「转入追责问责」" in body and "「整改中」，没有变动" in body
    assert "已按期限规定自动处理" not in body + last["subject"]
    shown = cli.ok("item", "show", item, actor="li", as_json=True).json()
    assert shown["state"] == "fixing"
    assert "金额 (amount) 为空" in (shown["history"][-1]["comment"] or "")
