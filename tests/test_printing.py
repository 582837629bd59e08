"""`rectify print`: the 督办单 (one A4 page, HTML and PDF with a Chinese font embedded, printed
only by someone with a role at or above the item's unit) and the 公示表 (households in a 公示
state, with names, ID card and phone numbers masked as the workflow's `mask:` keys say — the
output's bytes never hold anyone's full name or number). Through the real command line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import InvalidInput
from rectify.engine.core.loader import load_workflow
from rectify.engine.core.masking import mask

from .cli_inprocess import Rectify, prepared_service

MONDAY = datetime(2025, 11, 3, 1, 0, tzinfo=UTC)
NOW = (MONDAY + timedelta(days=2)).isoformat()
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
  - {id: cadre, name: 村干部, roles: {village_cadre: village-a1, rectifier: village-a1}}
  - {id: town, name: 乡镇审核员, roles: {township_reviewer: town-a, inspector: town-a}}
  - {id: judge, name: 县审批员, roles: {county_approver: county}}
"""
HOUSEHOLDS = [("王大山", "370000199001011234", "13912345678"),
              ("欧阳娜娜", "37000019850505432X", "13800000001")]


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Any:
    """Two households walked through 四议 into their 第一次公示; a problem item assigned to the
    village cadre in the rectification workflow."""
    org = tmp_path / "org.yaml"
    org.write_text(ORG, "utf-8")
    svc = prepared_service(db_url, FixedClock(MONDAY), tmp_path / "files", org=org,
                           workflows=("identification", "rectification"))
    for name, id_number, phone in HOUSEHOLDS:
        item = svc.new_item("cadre", "identification", "village-a1", assignee="cadre",
                            values={"applicant_name": name, "id_number": id_number,
                                    "phone": phone, "household_size": 4,
                                    "application": f"{name}因病致贫，申请纳入监测"})
        for actor, trigger, values in [
            ("sec", "propose", {}), ("sec", "consult", {"consultation": "同意提交"}),
            ("sec", "approve", {"party_members_total": 30, "party_attendees": 25,
                                "party_votes_for": 20}),
            ("cadre", "approve", {"rep_total": 30, "rep_attendees": 25, "rep_votes_for": 20}),
            ("cadre", "disclose", {"resolution_disclosed_on": "2025-11-03"}),
            ("cadre", "verify", {"verification": "入户核实属实", "income_per_capita": 3200}),
        ]:
            svc.advance(item, actor, trigger, values=values)
    problem = svc.new_item("town", "rectification", "village-a1", assignee="cadre",
                           due="2025-11-20", values={"description": "公示栏照片未上传"})
    svc.advance(problem, "town", "assign")
    yield svc
    svc.engine.dispose()


@pytest.fixture
def rectify(db_url: str, service: Service, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    return Rectify(db_url, capsys, monkeypatch, now=NOW)


def _pdf_text(path: Path) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(path).pages))


def test_masks_as_public_notices_use_them() -> None:
    """Names keep the first and last character (two characters: the first), ID cards the
    first 6 and last 4 characters, phone numbers the first 3 and last 4."""
    assert [mask("name", n) for n in ("张三丰", "张三", "欧阳娜娜")] == ["张*丰", "张*", "欧**娜"]
    assert mask("id_card", "370000 1990 0101 1234") == "370000********1234"
    assert mask("phone", "13800000001") == "138****0001"


def test_mask_is_checked_when_the_workflow_loads() -> None:
    """An unknown mask, or a mask on a field that is not text, is an error at its line."""
    text = ("workflow: w\nfields:\n  a: {type: text, mask: nickname}\n"
            "  b: {type: number, mask: phone}\nroles: {r: R}\ninitial: s\n"
            "states:\n  s: {label: S, final: true}\ntransitions: []\n")
    with pytest.raises(InvalidInput) as error:
        load_workflow(text, "w.yaml")
    message = str(error.value)
    assert "w.yaml:3:" in message and "unknown mask 'nickname'; allowed: name, id_card, phone" \
        in message
    assert "w.yaml:4:" in message and "mask 'phone' needs a text field, not number" in message


def test_notice_html_and_pdf(rectify: Rectify, tmp_path: Path) -> None:
    """The 督办单 of item 3: HTML on stdout for the browser (A4 @page), and one A4 PDF page
    whose text (Chinese, from the embedded font) has the number, unit, person, problem,
    deadline, level, office and the 签收 line."""
    page = rectify.ok("print", "notice", "3", actor="town").out
    assert "@page { size: A4" in page and "<h1>督办单</h1>" in page
    for words in ("督办〔2025〕3号", "大杨集镇张庄村", "村干部", "公示栏照片未上传",
                  "2025年11月20日", "督办", "发文单位：某县", "签收人"):
        assert words in page, words
    out = tmp_path / "督办单.pdf"
    assert rectify.ok("print", "notice", "3", "-o", str(out), actor="town").out == (
        f"督办单 of item 3 written to {out}\n")
    reader = PdfReader(out)
    assert len(reader.pages) == 1 and round(float(reader.pages[0].mediabox.width)) == 595
    fonts = [f["/BaseFont"] for f in reader.pages[0]["/Resources"]["/Font"].values()]
    assert fonts and all("+" in str(f) for f in fonts)  # a subset embedded in the file
    text = _pdf_text(out)
    for words in ("督办单", "督办〔2025〕3号", "大杨集镇张庄村", "村干部", "公示栏照片未上传",
                  "2025年11月20日", "签收人"):
        assert words in text, words


def test_notice_needs_a_role_at_or_above_the_unit(rectify: Rectify, service: Service) -> None:
    """Someone with no role at the item's unit or above is refused (3); no such item is 4."""
    refused = rectify("print", "notice", "3", actor="nobody")
    assert refused.code == 3 and "not a person" in refused.err
    assert rectify("print", "notice", "99", actor="town").code == 4


def test_publicity_masks_every_name_and_number(rectify: Rectify, tmp_path: Path) -> None:
    """The 公示表 of the 第一次公示, as HTML and PDF: each household's masked name, ID and phone,
    its votes and period, where to object; the bytes never hold a full name or number (and the
    PDF's extracted text neither), while the masked forms are there to be read."""
    html = tmp_path / "公示.html"
    pdf = tmp_path / "公示.pdf"
    for out in (html, pdf):
        rectify.ok("print", "publicity", "--workflow", "identification", "--state",
                   "第一次公示（村内公示）", "--unit", "张庄村", "-o", str(out), actor="cadre")
    page = html.read_text("utf-8")
    shown = page + _pdf_text(pdf)
    for name, id_number, phone in HOUSEHOLDS:
        for secret in (name, id_number, phone):
            assert secret.encode() not in html.read_bytes() + pdf.read_bytes()
            assert secret not in shown
        for masked in (mask("name", name), mask("id_card", id_number), mask("phone", phone)):
            assert page.count(masked) >= 1 and masked in _pdf_text(pdf)
    assert "王*山因病致贫" in page  # the application names the head: masked there too
    for words in ("党员赞成票数", "20", "公示期", "2025年11月3日至2025年11月10日",
                  "张庄村或大杨集镇或某县反映"):
        assert words in page, words


def test_publicity_state_must_be_a_public_notice(rectify: Rectify) -> None:
    """--state naming a state that is not a 公示 state: exit 2 listing the 公示 states; a state
    that does not exist: 4."""
    wrong = rectify("print", "publicity", "--workflow", "identification", "--state", "村级核实",
                    actor="judge")
    assert wrong.code == 2 and "第一次公示（村内公示） (village_notice)" in wrong.err
    assert rectify("print", "publicity", "--workflow", "identification", "--state", "nosuch",
                   actor="judge").code == 4


POSTED = """\
workflow: {name}
title: {title}
fields:
  description: {{type: text, label: 问题描述}}
roles: {{inspector: 督查人员}}
initial: posted
states:
  posted:
    label: 公示中
    public: true
    deadline: 7 days
    escalate: [{{at: 0, fire: close}}]
  closed: {{label: 已公示, final: true}}
transitions:
  - {{trigger: close, source: posted, dest: closed, roles: [inspector]}}
"""


def test_publicity_counts_items_unless_every_one_is_a_household(
        rectify: Rectify, service: Service, tmp_path: Path) -> None:
    """A 公示 of rectification results, about no household, reads "经审核，现将以下1项" and
    names no masked detail it does not have (before: "经民主评议和审核，现将以下1户" and
    "姓名、身份证号码、联系电话已作部分隐去" for any workflow); items that are households
    (--subject household:KEY) keep "以下2户"; the masked details named are the workflow's."""
    for name, title in (("results", "整改结果公示"), ("relief", "临时救助公示")):
        (tmp_path / f"{name}.yaml").write_text(POSTED.format(name=name, title=title), "utf-8")
        service.load_workflow(tmp_path / f"{name}.yaml")
    service.new_item("town", "results", "village-a1", values={"description": "道路已修复"})
    for key in ("HH-1", "HH-2"):
        service.new_item("town", "relief", "village-a1", subject=f"household:{key}",
                         values={"description": "因灾申请临时救助"})
    shown = {}
    for name in ("results", "relief", "identification"):
        out = tmp_path / f"{name}.html"
        rectify.ok("print", "publicity", "--workflow", name, "--unit", "张庄村", "-o", str(out),
                   actor="town")
        shown[name] = out.read_text("utf-8")
    assert "经审核，现将以下1项的有关情况予以公示" in shown["results"]
    assert "户" not in shown["results"] and "隐去" not in shown["results"]
    assert "经民主评议和审核，现将以下2户的有关情况予以公示" in shown["relief"]
    assert "以下2项" in shown["identification"]  # households in fact, but not said to be
    assert "姓名、身份证号码、联系电话已作部分隐去" in shown["identification"]
