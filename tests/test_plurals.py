"""Counts in English read as English: one of a thing is singular ("1 workday", "1 provisional
deadline recomputed", "1 escalation"), any other number plural; Chinese, which has no plural,
says the same words for every number."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_inprocess import Rectify
from .conftest import FIXTURES

TINY = """
workflow: tiny
title: 小流程
roles: {inspector: 督查人员, rectifier: 整改责任人, leader: 分管领导}
initial: open
states:
  open:
    label: 待办
    deadline: 1 workdays
    escalate:
      - {at: -1 workdays, notify: [assignee]}
      - {at: 1 hours, notify: [leader]}
      - {at: 1 days, notify: [leader]}
  done: {label: 完成, final: true}
transitions:
  - {trigger: finish, source: open, dest: done, roles: [rectifier]}
extensions: {states: [open], approvers: [leader], limit: 1 workdays}
"""


@pytest.fixture
def rectify(tmp_path: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    """A database with the sample org and the one-workday workflow, on the last day of 2026
    (2027's holidays are not known yet, so a deadline in 2027 is provisional)."""
    run = Rectify(f"sqlite:///{tmp_path / 'r.db'}", capsys, monkeypatch,
                  now="2026-12-31T10:00:00+08:00")
    (tmp_path / "tiny.yaml").write_text(TINY, "utf-8")
    run.ok("init")
    run.ok("org", "load", str(FIXTURES / "org.yaml"))
    run.ok("workflow", "load", str(tmp_path / "tiny.yaml"))
    return run


def test_one_of_a_duration_is_singular_in_workflow_show(rectify: Rectify, tmp_path: Path) -> None:
    """`workflow show` says "1 workday", "1 hour after the deadline", "1 day after"; `validate`
    counts "1 transition"; Chinese keeps 1 个工作日 / 1 小时 / 1 天."""
    shown = rectify.ok("workflow", "show", "tiny").out
    for words in ("1 workday before the deadline", "1 hour after the deadline",
                  "1 day after the deadline"):
        assert words in shown
    assert "open   待办   1 workday\n" in shown  # the deadline column
    for wrong in ("1 workdays", "1 hours", "1 days"):
        assert wrong not in shown
    valid = rectify.ok("workflow", "validate", str(tmp_path / "tiny.yaml")).out
    assert valid.endswith("ok (tiny: 2 states, 1 transition)\n")
    chinese = rectify.ok("--lang", "zh", "workflow", "show", "tiny").out
    for words in ("时限前 1 个工作日", "时限后 1 小时", "时限后 1 天"):
        assert words in chinese


def test_one_of_a_count_is_singular_in_command_answers(rectify: Rectify, tmp_path: Path) -> None:
    """An extension limit, a bulk dry run, an export, a calendar load, a sweep and an org load,
    each counting one thing, say it in the singular (before: "1 workdays", "1 provisional
    deadlines recomputed", "1 escalations", "1 people changed")."""
    rectify.ok("item", "new", "--workflow", "tiny", "--unit", "village-a1", "--assignee", "zhang",
               actor="li")
    refused = rectify("item", "extend", "1", "--to", "2027-01-20", "--reason", "r", actor="zhang")
    assert (refused.code, refused.err) == (3, "rectify: an extension may add at most 1 workday\n")
    bulk = rectify.ok("item", "bulk", "finish", "--unit", "village-a1", "--dry-run", actor="zhang")
    assert "finish: would fire on 1 of 1 item\n" in bulk.out
    book = tmp_path / "x.xlsx"
    assert rectify.ok("ledger", "export", "--workflow", "tiny", "-o", str(book),
                      actor="li").out == f"exported 1 item to {book}\n"
    calendar = tmp_path / "cal.yaml"
    calendar.write_text("years:\n  2027:\n    holidays: [2027-01-01]\n", "utf-8")
    assert rectify.ok("calendar", "load", str(calendar)).out == (
        "calendar loaded for 2027; 1 provisional deadline recomputed\n")
    assert rectify.ok("sweep", now="2027-01-04T10:00:00+08:00").out == (
        "sweep: 1 escalation, 0 transitions fired, 0 errors\n")
    renamed = tmp_path / "org.yaml"
    renamed.write_text((FIXTURES / "org.yaml").read_text("utf-8").replace("王五", "王伍"), "utf-8")
    assert rectify.ok("org", "load", str(renamed)).out == (
        "org loaded: 0 units and 1 person changed, 0 roles granted, 0 withdrawn\n")
    assert rectify.ok("--lang", "zh", "org", "load", str(FIXTURES / "org.yaml")).out == (
        "组织已载入：0 个单位、1 名人员有变动，授予 0 个角色，撤销 0 个\n")


def test_one_more_signer_and_one_failed_notification_are_singular() -> None:
    """A 会签 of three with two signed awaits "1 more signer"; one notification failed for good
    says "1 notification failed" (before: "1 more signer(s)", "1 notification(s) failed");
    Chinese reads the same for any number."""
    from rectify.engine.core.countersign import Signature, awaited
    from rectify.engine.core.errors import DeliveryFailed
    from rectify.engine.core.i18n import in_language
    from rectify.engine.core.loader import load_workflow

    spec = load_workflow(TINY.replace("roles: [rectifier]}", "roles: [rectifier], "
                                      "countersign: 3}"), "tiny.yaml")
    [finish] = spec.transitions
    two = (Signature("zhang", ("rectifier",)), Signature("sun", ("rectifier",)))
    assert awaited(spec, finish, two) == "1 more signer"
    assert awaited(spec, finish, two[:1]) == "2 more signers"
    assert str(DeliveryFailed(1)).startswith("1 notification failed for good; ")
    assert str(DeliveryFailed(2)).startswith("2 notifications failed for good; ")
    with in_language("zh"):
        assert awaited(spec, finish, two) == "还需 1 人签署"
        assert str(DeliveryFailed(1)).startswith("1 条通知最终发送失败")
