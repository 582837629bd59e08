"""Who may change what (contract section 6), at the use-case level on SQLite and PostgreSQL:
field authority (`editable_by`, `sets`), assigners and the deadline rules, `via` on history
rows, the validator's checks of the new keys, and admin commands that need an admin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rectify.engine.app import admin
from rectify.engine.app.integrity import verify
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import InvalidInput, Refusal, Refused
from rectify.engine.core.loader import load_workflow
from rectify.engine.store import items as store
from rectify.engine.store.db import read

from .conftest import FIXTURES, make_service

HELPCHECK = FIXTURES / "helpcheck.yaml"


@pytest.fixture
def svc(db_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Service]:
    service = make_service(db_url, clock, tmp_path)
    service.load_workflow(HELPCHECK)
    yield service
    service.engine.dispose()


def _fixing(svc: Service, assignee: str = "zhang") -> int:
    item = svc.new_item("li", "helpcheck", "village-a1", assignee=assignee,
                        values={"description": "帮扶手册未更新"})
    svc.advance(item, "li", "start")
    return item


def _item(svc: Service, item_id: int) -> store.ItemRecord:
    with read(svc.engine) as conn:
        return store.get_item(conn, item_id)


def _check(exc: pytest.ExceptionInfo[Refused], kind: Refusal, *fragments: str) -> None:
    assert exc.value.reason == kind, exc.value
    for fragment in fragments:
        assert fragment in str(exc.value), str(exc.value)


def test_a_field_only_its_roles_may_set_is_refused_on_advance(svc: Service) -> None:
    """The assignee cannot fill the reviewer's 批改意见 or the leader's 抽查评分, whatever the
    transition; nothing is written; the message names the field's label and who may."""
    item = _fixing(svc)
    before = _item(svc, item)
    with pytest.raises(Refused) as exc:
        svc.advance(item, "zhang", "complete", values={"fix_note": "已更新", "score": "95"})
    _check(exc, Refusal.FIELD, "抽查评分 (score)")
    svc.advance(item, "zhang", "complete", values={"fix_note": "已更新"})
    with pytest.raises(Refused) as exc:
        svc.advance(item, "sun", "fast_pass", values={"score": "95"})
    _check(exc, Refusal.FIELD, "孙七 may not set 抽查评分 (score)", "分管领导 (leader)")
    assert _item(svc, item).fields.get("score") is None
    assert _item(svc, item).version == before.version + 1


def test_sets_limits_what_a_transition_may_set(svc: Service) -> None:
    """`sets: [fix_note, photos]`: `complete` may not set the description, though its actor
    could set that field on another transition."""
    item = _fixing(svc)
    with pytest.raises(Refused) as exc:
        svc.advance(item, "zhang", "complete", values={"fix_note": "x", "description": "改"})
    _check(exc, Refusal.FIELD, "'complete' may not set 问题描述 (description)",
           "整改说明 (fix_note)")


def test_the_holder_of_the_role_may_set_the_field(svc: Service) -> None:
    """The acceptor fills 批改意见 and the review goes through: the rule is not a blanket ban."""
    item = _fixing(svc)
    svc.advance(item, "zhang", "complete", values={"fix_note": "x"})
    outcome = svc.advance(item, "zhao", "review", values={"findings": "整改到位"})
    assert outcome.dest == "approved"


def test_item_new_refuses_fields_the_creator_may_not_set(svc: Service) -> None:
    """`item new` applies `editable_by` before anything is written."""
    with pytest.raises(Refused) as exc:
        svc.new_item("li", "helpcheck", "village-a1", values={"description": "d",
                                                              "findings": "好"})
    _check(exc, Refusal.FIELD, "批改意见 (findings)", "验收人 (acceptor)")
    with read(svc.engine) as conn:
        assert conn.execute(store.select_items()).first() is None


def test_only_assigners_assign(svc: Service) -> None:
    """`assigners: [inspector, leader]`: the rectifier cannot hand the item on."""
    item = _fixing(svc)
    with pytest.raises(Refused) as exc:
        svc.assign(item, "zhang", "sun")
    _check(exc, Refusal.ROLE, "张三 may not assign", "督查人员 (inspector)")
    assert _item(svc, item).assignee_id == "zhang"


def test_default_assigners_are_the_roles_leaving_initial() -> None:
    """Without `assigners:`, those who may fire a transition out of `initial` may assign."""
    text = HELPCHECK.read_text("utf-8").replace("assigners: [inspector, leader]\n", "")
    assert load_workflow(text, "h.yaml").assigners == ("inspector", "leader")


def test_nobody_moves_their_own_deadline(svc: Service) -> None:
    """A leader holding an item cannot give it a new deadline, nor assign it to themselves
    with one; a deadline from someone else needs a reason, which the history keeps."""
    item = _fixing(svc, assignee="wang")
    due = _item(svc, item).due_at
    with pytest.raises(Refused) as exc:
        svc.assign(item, "wang", "wang", due="2027-12-31", comment="忙")
    _check(exc, Refusal.SEPARATION, "王五 may not set the deadline of an item assigned to "
                                    "themselves")
    with pytest.raises(Refused) as exc:
        svc.assign(item, "li", "li", due="2027-12-31", comment="我来")
    _check(exc, Refusal.SEPARATION, "李四")
    with pytest.raises(Refused) as exc:
        svc.assign(item, "li", "zhang", due="2027-12-31")
    _check(exc, Refusal.COMMENT, "--comment")
    assert _item(svc, item).due_at == due
    svc.assign(item, "li", "zhang", due="2025-12-31", comment="任务重，延至年底")
    with read(svc.engine) as conn:
        last = store.history(conn, item)[-1]
    assert last["comment"] == "任务重，延至年底" and last["via"] == "cli"
    record = _item(svc, item)
    assert record.due_at != due and record.original_due_at == due


def test_item_new_refuses_a_deadline_of_ones_own(svc: Service) -> None:
    """Creating an item assigned to oneself with --due is setting one's own deadline."""
    with pytest.raises(Refused) as exc:
        svc.new_item("li", "helpcheck", "village-a1", assignee="li", due="2027-12-31",
                     values={"description": "d"})
    _check(exc, Refusal.SEPARATION, "李四")


def test_assigning_outside_the_items_units_is_refused(svc: Service) -> None:
    """Handing the item to someone in another township is a 转办, not an assignment."""
    item = _fixing(svc)
    with pytest.raises(Refused) as exc:
        svc.assign(item, "li", "zhou")
    _check(exc, Refusal.ROLE, "周九 (zhou)", "item transfer")


def test_via_is_recorded_on_every_row(svc: Service, clock: FixedClock) -> None:
    """Rows say how the actor came: the caller's `via`, `system` for the sweep's."""
    from datetime import timedelta

    from rectify.engine.app.sweep import sweep

    item = svc.new_item("li", "helpcheck", "village-a1", assignee="zhang",
                        values={"description": "d"}, via="web")
    svc.advance(item, "li", "start", via="api")
    clock.advance(timedelta(days=30))
    sweep(svc)
    with read(svc.engine) as conn:
        rows = store.history(conn, item)
    assert [r["via"] for r in rows[:2]] == ["web", "api"]
    assert {r["via"] for r in rows[2:]} == {"system"} and len(rows) > 2
    assert verify(svc).ok


@pytest.mark.parametrize(("change", "message"), [
    (("  findings: {type: text, label: 批改意见, editable_by: [acceptor]}",
      "  findings: {type: text, label: 批改意见, editable_by: [acceptr]}"),
     "field 'findings': editable_by names unknown role 'acceptr' (did you mean 'acceptor'?)"),
    (("sets: [fix_note, photos]", "sets: [fix_note, photoz]"),
     "transition 'complete': sets names unknown field 'photoz'"),
    (("roles: [acceptor],\n     requires: [findings]",
      "roles: [rectifier],\n     requires: [findings]"),
     "transition 'review' requires field 'findings', which none of its roles"),
    (("assigners: [inspector, leader]", "assigners: [inspector, boss]"),
     "assigners names unknown role 'boss'"),
    (("approvers: [leader]", "approvers: [leadr]"),
     "extensions: approvers names unknown role 'leadr'"),
    (("states: [fixing]", "states: [marked]"),
     "extensions: state 'marked' has no deadline"),
    (("     when: \"score >= 90\"}", "     when: \"score >= 90\", countersign: 1}"),
     "countersign needs at least 2 signers"),
])
def test_the_validator_checks_the_new_keys(change: tuple[str, str], message: str) -> None:
    """Each mistake in a section 6 key is an error at its FILE:LINE:COL."""
    text = HELPCHECK.read_text("utf-8")
    assert change[0] in text
    with pytest.raises(InvalidInput) as exc:
        load_workflow(text.replace(*change), "h.yaml")
    lines = [str(p) for p in exc.value.problems]
    assert any(message in line and line.startswith("h.yaml:") for line in lines), lines


# --- admin commands ------------------------------------------------------------------------------

def _org_with_admin(tmp_path: Path) -> Path:
    path = tmp_path / "org-admin.yaml"
    path.write_text((FIXTURES / "org.yaml").read_text("utf-8").replace(
        "{id: qian, name: 钱八,", "{id: qian, name: 钱八, admin: true,"), "utf-8")
    return path


def test_admin_commands_need_an_admin_once_one_is_loaded(svc: Service, tmp_path: Path) -> None:
    """Before any admin, the holder bootstraps; after, only an admin loads files, and a
    rectifier's org granting himself roles is refused whole; each action is in the log."""
    org = _org_with_admin(tmp_path)
    admin.load_org(svc, org, None)  # bootstrap: nobody is admin yet
    grab = tmp_path / "grab.yaml"
    grab.write_text(org.read_text("utf-8").replace(
        "roles: {rectifier: village-a1}}", "roles: {rectifier: village-a1, leader: county}}"),
        "utf-8")
    for actor in ("zhang", None):
        with pytest.raises(Refused) as exc:
            admin.load_org(svc, grab, actor)
        _check(exc, Refusal.ROLE, "load the org file", "admin: true")
    with pytest.raises(Refused):
        admin.load_workflow(svc, HELPCHECK, "wang")
    with pytest.raises(Refused):
        admin.allow_migration(svc, "li", "helpcheck", 1, {})
    admin.load_org(svc, grab, "qian")
    log = admin.admin_log(svc)
    assert [(r["actor"], r["action"]) for r in log] == [("-", "org load"), ("qian", "org load")]
    assert all(len(r["digest"]) == 64 for r in log)
    assert verify(svc).ok


def test_item_import_applies_field_authority_to_every_row(svc: Service, tmp_path: Path) -> None:
    """A ledger row setting a field its importer may not set is listed with its row number and
    the field's label; nothing is imported (all or nothing)."""
    from rectify.engine.app.ledger_import import import_ledger

    from .cli_inprocess import write_csv

    ledger = write_csv(tmp_path / "台账.csv", [
        ["问题编号", "村", "责任人", "问题描述", "批改意见"],
        ["H-1", "张庄村", "张三", "手册未更新", None],
        ["H-2", "张庄村", "张三", "手册缺页", "已阅"],
    ])
    with pytest.raises(InvalidInput) as exc:
        import_ledger(svc, ledger, "helpcheck", "li")
    problems = [str(p) for p in exc.value.problems]
    assert any("row 3" in p and "批改意见 (findings)" in p for p in problems), problems
    with read(svc.engine) as conn:
        assert conn.execute(store.select_items()).first() is None
