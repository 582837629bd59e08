"""Fields marked `private: true` (身份证号码, 联系电话, 银行账号, 健康状况 in the identification
workflow) never reach anything public: the notice_start / notice_end notifications of its public
notices (personal and group channels), the weekly report in every format, and a public ledger
export. The internal export still carries them, which shows the checks would catch a leak."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.core.clock import FixedClock
from rectify.engine.store.db import read
from rectify.engine.store.outbox import OUTBOX
from rectify.notifications.notices import Notices
from rectify.notifications.stored import to_notification
from sqlalchemy import select

from .cli_inprocess import Rectify, prepared_service

MONDAY = datetime(2025, 11, 3, 1, 0, tzinfo=UTC)
LATER = MONDAY + timedelta(days=9)
PRIVATE = {"id_number": "370000199001011234", "phone": "13912345678",
           "bank_account": "6222020200112233445", "health_condition": "患有慢性肾病需长期透析"}
ORG = """\
units:
  - id: county
    name: 某县
    children:
      - id: town-a
        name: 大杨集镇
        children: [{id: village-a1, name: 张庄村}]
people:
  - {id: sec, name: 党支书, roles: {party_secretary: village-a1}}
  - {id: cadre, name: 村干部, roles: {village_cadre: village-a1}}
  - {id: town, name: 乡镇审核员, roles: {township_reviewer: town-a}}
  - {id: judge, name: 县审批员, roles: {county_approver: county}}
"""


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Any:
    """One household walked through 四议 to its village notice, whose 7 days then run out;
    another left at 农户申请 past its deadline (a red item)."""
    org = tmp_path / "org.yaml"
    org.write_text(ORG, "utf-8")
    clock = FixedClock(MONDAY)
    svc = prepared_service(db_url, clock, tmp_path / "files", org=org,
                           workflows=("identification",))
    svc.notices = Notices({"log": None, "village-robot": ("town-a",)})  # a group channel too
    item = svc.new_item("cadre", "identification", "village-a1", assignee="cadre",
                        subject="household:HH-0001",
                        values={"applicant_name": "王大山", "household_size": 4,
                                "application": "因病致贫，申请纳入监测", **PRIVATE})
    for actor, trigger, values in [
        ("sec", "propose", {}),
        ("sec", "consult", {"consultation": "同意提交党员大会审议"}),
        ("sec", "approve", {"party_members_total": 30, "party_attendees": 25,
                            "party_votes_for": 20}),
        ("cadre", "approve", {"rep_total": 30, "rep_attendees": 25, "rep_votes_for": 20}),
        ("cadre", "disclose", {"resolution_disclosed_on": "2025-11-03"}),
        ("cadre", "verify", {"verification": "入户核实属实", "income_per_capita": 3200}),
    ]:
        svc.advance(item, actor, trigger, values=values)
    svc.new_item("cadre", "identification", "village-a1", assignee="cadre",
                 values={"applicant_name": "王小山", "household_size": 3, **PRIVATE})
    clock.set(LATER)
    report = sweep(svc)
    assert [f["trigger"] for f in report.fired] == ["no_objection"]
    yield svc
    svc.engine.dispose()


def leaks(text: str) -> list[str]:
    return [value for value in PRIVATE.values() if value in text]


def test_public_notices_carry_no_private_field(service: Service) -> None:
    """notice_start (entering 第一次公示) and notice_end (公示期满), on every channel: what is
    stored (the context) and what is sent (rendered from it by the dispatcher)."""
    with read(service.engine) as conn:
        rows = list(conn.execute(
            select(OUTBOX).where(OUTBOX.c.template.in_(["notice_start", "notice_end"]))))
    sent = {(r.template, r.channel) for r in rows}
    assert sent == {(t, c) for t in ("notice_start", "notice_end")
                    for c in ("log", "village-robot")}
    for row in rows:
        note = to_notification(row)
        text = "\n".join([note.subject, note.text, note.markdown,
                          json.dumps(row.data, ensure_ascii=False),
                          json.dumps(row.recipients, ensure_ascii=False)])
        assert leaks(text) == [], row["template"]
        assert "王大山" in text and "家庭人口数" in text  # the public fields are there


@pytest.mark.parametrize("public", [False, True])
def test_weekly_report_never_shows_private_fields(service: Service, db_url: str,
                                                  tmp_path: Path, public: bool,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The weekly report, public or not, never shows private fields, in JSON or in any
    of the four formats; the public one (公开版) shows 户主姓名 masked as a 公示 does (before,
    in full)."""
    rectify = Rectify(db_url, capsys, monkeypatch, now=LATER.isoformat())
    flag = ("--public",) if public else ()
    data = rectify.ok("report", "weekly", "--workflow", "identification", *flag, as_json=True)
    assert leaks(data.out) == []
    red = data.json()["red_items"]
    shown = "王*山" if public else "王小山"
    assert [r["description"] for r in red] == [f"户主姓名：{shown}；家庭人口数：3"]
    for fmt in ("md", "html", "csv", "xlsx"):
        path = tmp_path / f"report.{fmt}"
        rectify.ok("report", "weekly", *flag, "-o", str(path))
        assert leaks(_text(path)) == [], fmt


def test_public_export_leaves_out_private_fields_and_names(service: Service, db_url: str,
                                                           tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """The ordinary export leaves private fields out; --include-private by someone holding a
    role of the workflow over the whole county has them; the public one leaves them and
    responsible people's names out, and shows 户主姓名 masked as a 公示 does (before, in
    full)."""
    rectify = Rectify(db_url, capsys, monkeypatch, now=LATER.isoformat())
    ordinary, internal = tmp_path / "台账.xlsx", tmp_path / "内部.xlsx"
    public = tmp_path / "公开.csv"
    rectify.ok("ledger", "export", "--workflow", "identification", "-o", str(ordinary))
    assert leaks(_text(ordinary)) == [] and "身份证号码" not in _text(ordinary)
    rectify.ok("ledger", "export", "--workflow", "identification", "--include-private",
               "-o", str(internal), actor="judge")
    rectify.ok("ledger", "export", "--workflow", "identification", "--public", "-o", str(public))
    assert sorted(leaks(_text(internal))) == sorted(PRIVATE.values())  # the check can see them
    published = _text(public)
    assert leaks(published) == []
    assert "村干部" not in published and "责任人" not in published
    assert "王*山" in published and "王大山" not in published and "身份证号码" not in published
    assert "王大山" in _text(ordinary)  # the internal ledger keeps the name


def test_include_private_is_refused_without_a_role_over_the_unit(
        service: Service, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--include-private: refused (exit 3, one line naming the fields) to a village cadre
    exporting the whole county and to someone not saying who they are; allowed to the same
    cadre for their own village. Nothing is written when refused."""
    rectify = Rectify(db_url, capsys, monkeypatch, now=LATER.isoformat())
    out = tmp_path / "内部.xlsx"
    refused = rectify("ledger", "export", "--workflow", "identification", "--include-private",
                      "-o", str(out), actor="cadre")
    assert refused.code == 3 and not out.exists()
    assert refused.err.strip() == (
        "rectify: 村干部 holds no role of 贫困户（监测对象）识别 at 某县 or above, so may not "
        "export its private fields (身份证号码、联系电话、银行账号、健康状况)")
    anonymous = rectify("ledger", "export", "--include-private", "-o", str(out))
    assert anonymous.code in (2, 3) and "--as" in anonymous.err  # 2 once issue 17.10 lands
    rectify.ok("ledger", "export", "--workflow", "identification", "--unit", "张庄村",
               "--include-private", "-o", str(out), actor="cadre")
    assert sorted(leaks(_text(out))) == sorted(PRIVATE.values())


def _text(path: Path) -> str:
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path)
        return "\n".join(str(c.value) for sheet in book.worksheets for row in sheet.iter_rows()
                         for c in row if c.value is not None)
    return path.read_text("utf-8-sig")
