"""延期申请, 转办, 催办 and 会签 at the use-case level on SQLite and PostgreSQL, and two
approvers granting one request at once in real processes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from rectify.engine.app.extensions import decide_extension, request_extension
from rectify.engine.app.integrity import verify
from rectify.engine.app.outbox import list_rows
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.app.transfers import transfer, urge
from rectify.engine.app.views import item_detail
from rectify.engine.app.worklist import my_items
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import Refusal, Refused
from rectify.engine.store import items as store
from rectify.engine.store.db import read
from sqlalchemy import text

from .conftest import FIXTURES, make_service
from .test_races import clean, cli_args, race

HELPCHECK = FIXTURES / "helpcheck.yaml"


@pytest.fixture
def svc(db_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Service]:
    service = make_service(db_url, clock, tmp_path)
    service.load_workflow(HELPCHECK)
    yield service
    service.engine.dispose()


def _fixing(svc: Service, assignee: str = "zhang", unit: str = "village-a1") -> int:
    item = svc.new_item("li" if unit.startswith("village-a") else "qian", "helpcheck", unit,
                        assignee=assignee, values={"description": "帮扶手册未更新"})
    svc.advance(item, "li" if unit.startswith("village-a") else "qian", "start")
    return item


def _item(svc: Service, item_id: int) -> store.ItemRecord:
    with read(svc.engine) as conn:
        return store.get_item(conn, item_id)


def _steps(svc: Service, item_id: int) -> list[tuple[int, str, object]]:
    with read(svc.engine) as conn:
        return [(s["step_index"], s["status"], s["planned_at"])
                for s in store.steps_of(conn, item_id)]


def _refused(call: object, kind: Refusal, *words: str) -> None:
    with pytest.raises(Refused) as exc:
        call()  # type: ignore[operator]
    assert exc.value.reason == kind, exc.value
    for word in words:
        assert word in str(exc.value), str(exc.value)


def test_a_granted_extension_moves_the_deadline_and_only_pending_steps(
        svc: Service, clock: FixedClock) -> None:
    """The assignee asks before the deadline; an approver grants; the deadline and the steps
    not yet applied move by the same span; the reminder already applied is not applied again;
    a second request in the same entry is refused (max 1); the chain still verifies."""
    item = _fixing(svc)
    due = _item(svc, item).due_at
    assert due is not None
    clock.advance(due - clock.now() - timedelta(days=1))
    sweep(svc)  # the reminder (-2 workdays) is applied
    assert [s[1] for s in _steps(svc, item)] == ["applied", "pending", "pending"]
    _refused(lambda: request_extension(svc, item, "li", "2025-10-24", "忙"), Refusal.ASSIGNEE)
    _refused(lambda: request_extension(svc, item, "zhang", "2025-10-24", " "), Refusal.COMMENT)
    _refused(lambda: request_extension(svc, item, "zhang", "2026-03-01", "忙"), Refusal.VALUE,
             "at most 10 workdays")
    asked = request_extension(svc, item, "zhang", "2025-10-24", "农忙，户主外出务工")
    assert asked["due_requested"].startswith("2025-10-24")
    detail = item_detail(svc, item, "wang")
    assert detail["extension"]["reason"] == "农忙，户主外出务工"
    _refused(lambda: request_extension(svc, item, "zhang", "2025-10-23", "再"), Refusal.STATE,
             "already waiting")
    _refused(lambda: decide_extension(svc, item, "li", "grant"), Refusal.ROLE, "分管领导")
    before = _steps(svc, item)
    decide_extension(svc, item, "wang", "grant", "同意")
    after = _item(svc, item)
    assert after.due_at is not None and after.due_at > due and after.original_due_at == due
    moved = _steps(svc, item)
    assert moved[0] == before[0]  # applied: untouched
    assert all(m[2] > b[2] for m, b in zip(moved[1:], before[1:], strict=True))
    clock.advance(timedelta(days=2))
    report = sweep(svc)
    assert not [e for e in report.escalations if e["item"] == item]  # 督办 moved with it
    _refused(lambda: request_extension(svc, item, "zhang", "2025-10-27", "再延"), Refusal.STATE,
             "at most 1")
    assert item_detail(svc, item, "wang")["extension"] is None
    assert verify(svc).ok


def test_the_requester_never_decides_and_a_refusal_leaves_the_deadline(svc: Service) -> None:
    """A leader holding the item asks; he may not decide his own request; another leader
    refuses it; the deadline stays; the history has both rows with their words."""
    item = _fixing(svc, assignee="wang")
    due = _item(svc, item).due_at
    request_extension(svc, item, "wang", "2025-10-20", "材料未到")
    _refused(lambda: decide_extension(svc, item, "wang", "grant"), Refusal.SEPARATION)
    decide_extension(svc, item, "qian", "refuse", "理由不充分")
    assert _item(svc, item).due_at == due
    _refused(lambda: decide_extension(svc, item, "qian", "grant"), Refusal.STATE,
             "refused by 钱八")
    with read(svc.engine) as conn:
        rows = store.history(conn, item)
    assert [(r["trigger"], r["comment"]) for r in rows[-2:]] == [
        ("extend", "材料未到"), ("extension:refused", "理由不充分")]


def test_no_extension_after_the_deadline(svc: Service, clock: FixedClock) -> None:
    """延期 must be asked before the deadline passes."""
    item = _fixing(svc)
    due = _item(svc, item).due_at
    assert due is not None
    clock.advance(due - clock.now() + timedelta(minutes=1))
    _refused(lambda: request_extension(svc, item, "zhang", "2025-12-01", "晚了"), Refusal.STATE,
             "has passed")


def test_requests_and_decisions_notify(svc: Service) -> None:
    """A request tells the approvers, a decision the assignee (outbox rows with templates);
    the request's notice says the date asked for in local time, as every notice says times
    (2025-10-20 23:59), not as an ISO-8601 string with seconds and offset."""
    item = _fixing(svc)
    request_extension(svc, item, "zhang", "2025-10-20", "忙")
    decide_extension(svc, item, "wang", "grant")
    with svc.engine.connect() as conn:
        rows = conn.execute(text("select template, recipients from outbox where item_id = :i "
                                 "order by id"), {"i": item}).all()
        listed = [r for r in list_rows(conn, None) if r["template"] == "extension_request"]
    templates = [r[0] for r in rows]
    assert "extension_request" in templates and "extension_decision" in templates
    for row in listed:
        for body in (row["body_text"], row["body_markdown"]):
            assert "申请延期至 2025-10-20 23:59：忙" in body and "T23:59" not in body, body


def test_transfer_moves_the_item_by_an_assigner_above_both_units(svc: Service) -> None:
    """转办 from 大杨集镇's village to 城关镇's: a town-level inspector may not (not above both),
    the county leader may; the new assignee must work there; the row records both units."""
    item = _fixing(svc)
    _refused(lambda: transfer(svc, item, "li", "village-b1", "zhou", "属地"), Refusal.ROLE,
             "may not transfer")
    _refused(lambda: transfer(svc, item, "qian", "village-b1", "zhang", "属地"), Refusal.ROLE,
             "hold no role at 东关村")
    transfer(svc, item, "qian", "village-b1", "zhou", "属地管理")
    moved = _item(svc, item)
    assert (moved.unit_id, moved.unit_path, moved.assignee_id) == (
        "village-b1", "/county/town-b/village-b1/", "zhou")
    assert verify(svc).ok


def test_urge_needs_a_role_above_the_unit(svc: Service) -> None:
    """催办 by the town's leader is recorded and sent; the village rectifier may not urge."""
    item = _fixing(svc)
    _refused(lambda: urge(svc, item, "zhang", "快"), Refusal.ROLE, "above 张庄村")
    urge(svc, item, "wang", "请本周内完成")
    with read(svc.engine) as conn:
        last = store.history(conn, item)[-1]
    assert (last["kind"], last["actor"], last["comment"]) == ("urge", "wang", "请本周内完成")


COUNTERSIGN = HELPCHECK.read_text("utf-8").replace(
    "  - {trigger: send_back,",
    "  - {trigger: joint_pass, source: rechecking, dest: approved, roles: [acceptor, leader],\n"
    "     countersign: all}\n  - {trigger: send_back,")


def test_countersign_waits_for_every_role(svc: Service, tmp_path: Path) -> None:
    """会签 `all`: the acceptor's signature leaves the state; item show lists it (its time at the
    workflow's offset) and awaits the leader; a second signature by the same person is refused;
    the leader's completes it."""
    path = tmp_path / "helpcheck.yaml"
    path.write_text(COUNTERSIGN, "utf-8")
    svc.load_workflow(path)
    item = _fixing(svc)
    svc.advance(item, "zhang", "complete", values={"fix_note": "已改"})
    assert svc.advance(item, "zhao", "joint_pass", comment="同意").dest == "rechecking"
    detail = item_detail(svc, item, "wang")
    assert [(s["actor"], s["roles"]) for s in detail["signatures"]] == [("zhao", ["acceptor"])]
    assert detail["signatures"][0]["at"].endswith("+08:00")  # the workflow's offset, as elsewhere
    assert detail["awaited"] == {"joint_pass": "分管领导 (leader)"}
    _refused(lambda: svc.advance(item, "zhao", "joint_pass"), Refusal.SEPARATION, "once")
    assert svc.advance(item, "wang", "joint_pass").dest == "approved"
    assert item_detail(svc, item, "wang")["signatures"] == []
    assert verify(svc).ok


@pytest.mark.slow
def test_a_signer_is_not_offered_the_signature_again(svc: Service, tmp_path: Path) -> None:
    """After signing a 会签, the signer's `item show` triggers and their worklist (the home
    page's 可办理 and 等我办理) no longer offer it — before, both did, and pressing it on the page
    was refused with "has already signed"; the leader still awaited is offered it."""
    path = tmp_path / "helpcheck.yaml"
    path.write_text(COUNTERSIGN, "utf-8")
    svc.load_workflow(path)
    item = _fixing(svc)
    svc.advance(item, "zhang", "complete", values={"fix_note": "已改"})
    svc.advance(item, "zhao", "joint_pass", comment="同意")
    mine = my_items(svc, "zhao")
    line = next(w for w in [*mine.assigned, *mine.waiting] if w.id == item)
    assert "joint_pass" not in item_detail(svc, item, "zhao")["triggers"]
    assert "joint_pass" not in line.actions and line.actions  # review, send_back remain
    assert "joint_pass" in item_detail(svc, item, "wang")["triggers"]


def test_two_approvers_granting_at_once(svc: Service, db_url: str, tmp_path: Path) -> None:
    """Two leaders grant the same request in two processes: one wins, the other is told
    (exit 5 or 3, one line); the deadline moved once; the chain verifies."""
    items = [_fixing(svc) for _ in range(3)]
    for item in items:
        request_extension(svc, item, "zhang", "2025-10-24", "农忙")
    results = race(tmp_path, {
        "wang": [cli_args(db_url, "wang", "item", "extension", str(i), "grant") for i in items],
        "qian": [cli_args(db_url, "qian", "item", "extension", str(i), "grant") for i in items],
    })
    for k, item in enumerate(items):
        pair = [results["wang"][k], results["qian"][k]]
        for result in pair:
            clean(result)
        assert sorted(r["code"] for r in pair)[0] == 0, pair
        assert sorted(r["code"] for r in pair)[1] in (3, 5), pair
        with read(svc.engine) as conn:
            rows = store.history(conn, item)
        assert [r["trigger"] for r in rows].count("extension:granted") == 1
    assert verify(svc).ok


def test_a_sample_is_reproducible_and_recorded(svc: Service) -> None:
    """The same seed and filters draw the same items; anyone re-derives the draw from the
    seed on the history rows; --fire goes through the normal checks (a rectifier may not
    `start`, the inspector may)."""
    from rectify.engine.app.sampling import candidates_of, sample
    from rectify.engine.app.views import ItemFilter
    from rectify.engine.core.sampling import draw, sample_key

    ids = [svc.new_item("li", "helpcheck", "village-a1", assignee="zhang",
                        values={"description": f"问题{i}"}) for i in range(9)]
    only = ItemFilter(workflow="helpcheck", state="marked")
    first = sample(svc, "li", only, 3, "2025-W40 县纪委回头看")
    assert first["items"] == draw(ids, "2025-W40 县纪委回头看", 3) and first["candidates"] == 9
    assert first["items"] == sorted(ids, key=lambda i: sample_key("2025-W40 县纪委回头看", i))[:3]
    assert sample(svc, "li", only, 3, "2025-W40 县纪委回头看")["items"] == first["items"]
    assert candidates_of(svc, only) == ids
    with read(svc.engine) as conn:
        row = store.history(conn, first["items"][0])[-1]
    assert row["kind"] == "sample" and row["data"]["seed"] == "2025-W40 县纪委回头看"
    assert row["data"]["rank"] == 1 and row["data"]["candidates"] == 9
    refused = sample(svc, "zhang", only, 2, "x", fire="start")
    assert [f["fired"] for f in refused["fired"]] == [False, False]
    fired = sample(svc, "li", only, 2, "x", fire="start")
    assert [f["dest"] for f in fired["fired"]] == ["fixing", "fixing"]
    assert verify(svc).ok


def test_the_weekly_report_judges_by_the_original_deadline(svc: Service,
                                                           clock: FixedClock) -> None:
    """An item whose deadline an assigner pushed out (no 延期) is overdue against the original;
    one with a granted extension is judged by the new date; the week's extensions and 催办 are
    counted per unit; the foot carries the anchor digest of that moment."""
    from rectify.engine.app.integrity import make_anchor
    from rectify.engine.reports.render import render_markdown
    from rectify.engine.reports.weekly import build_weekly_report

    pushed, extended = _fixing(svc), _fixing(svc)
    due = _item(svc, pushed).due_at
    assert due is not None
    svc.assign(pushed, "li", "zhang", due="2025-11-28", comment="上级同意")
    request_extension(svc, extended, "zhang", "2025-10-24", "农忙")
    decide_extension(svc, extended, "wang", "grant")
    urge(svc, pushed, "wang", "抓紧")
    clock.advance(due - clock.now() + timedelta(hours=1))  # past the original, not the new ones
    report = build_weekly_report(svc, week=None)
    town = next(r for r in report.rows if r.unit == "town-a")
    assert town.overdue == 1  # `pushed`: its assign --due does not excuse it
    week_of_events = build_weekly_report(svc, week="2025-W39")
    town = next(r for r in week_of_events.rows if r.unit == "town-a")
    assert (town.extended, town.urged) == (1, 1)
    assert report.anchor == make_anchor(svc)["digest"]
    assert report.anchor in render_markdown(report)
