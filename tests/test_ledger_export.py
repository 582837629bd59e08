"""`rectify ledger export` as offices print it, through the command line: the 验收人 of any
workflow (issue 17 point 14), 乡镇 and 村 apart, the 交办 date, one sheet per workflow with its
own columns, private fields only on request, and the page set up for A4 (issue 22 point 2) —
checked with openpyxl, and on paper through LibreOffice when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock

from .cli_inprocess import Rectify, prepared_service
from .conftest import START

NOW = "2025-10-20T10:00:00+08:00"
ORG = """\
units:
  - id: county
    name: 某县
    children:
      - id: town-a
        name: 大杨集镇
        children: [{id: a-east, name: 东村}, {id: a-west, name: 西村}]
      - id: town-b
        name: 城关镇
        children: [{id: b-east, name: 东村}]
people:
  - {id: li, name: 李四, roles: {inspector: town-a, leader: county}}
  - {id: zhao, name: 赵六, roles: {approver: county}}
  - {id: zhang, name: 张三, roles: {rectifier: a-east}}
"""
SPOTCHECK = """\
workflow: spotcheck
title: 专项检查
fields:
  description: {type: text, label: 问题描述}
  finding:     {type: text, label: 检查发现}
  id_number:   {type: text, label: 身份证号码, private: true}
roles: {inspector: 督查人员, approver: 审核人}
initial: open
states:
  open:  {label: 待交办}
  doing: {label: 整改中, deadline: 10 workdays}
  done:  {label: 已办结, final: true}
transitions:
  - {trigger: hand_over, source: open, dest: doing, roles: [inspector]}
  - {trigger: approve, source: doing, dest: done, roles: [approver]}
"""


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Any:
    org = tmp_path / "org.yaml"
    org.write_text(ORG, "utf-8")
    flow = tmp_path / "spotcheck.yaml"
    flow.write_text(SPOTCHECK, "utf-8")
    svc = prepared_service(db_url, FixedClock(START), tmp_path / "files", org=org)
    svc.load_workflow(flow)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def rectify(db_url: str, service: Service, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    return Rectify(db_url, capsys, monkeypatch, now=NOW)


def _approved_item(service: Service) -> int:
    """A spotcheck item at 大杨集镇's 东村, handed over on 26 September, approved by 赵六."""
    item = service.new_item("li", "spotcheck", "a-east", assignee="zhang",
                            values={"description": "公示栏未更新",
                                    "id_number": "110101199001011234"})
    service.advance(item, "li", "hand_over")
    service.clock.advance(days=3)  # type: ignore[attr-defined]
    service.advance(item, "zhao", "approve")
    return item


def _table(sheet: Any) -> list[dict[str, Any]]:
    """The sheet's rows below its header (row 3), by header."""
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[2]
    return [dict(zip(header, r, strict=True)) for r in rows[3:]]


def test_acceptor_handover_and_units_for_any_workflow(rectify: Rectify, service: Service,
                                                      tmp_path: Path) -> None:
    """The 验收人 is whoever moved the item into its final state, here by `approve` (not a
    trigger named `accept`); 交办日期 is the day it left its first state; 乡镇 and 村 are two
    columns, and the 村 of a name two townships share is told apart by its 乡镇."""
    _approved_item(service)
    service.new_item("li", "spotcheck", "b-east", values={"description": "台账缺页"})
    service.new_item("li", "spotcheck", "town-a", values={"description": "乡镇级问题"})
    out = tmp_path / "专项检查.xlsx"
    rectify.ok("ledger", "export", "--workflow", "spotcheck", "-o", str(out))
    rows = _table(openpyxl.load_workbook(out)["专项检查"])
    first, second, third = rows
    assert (first["验收人"], first["交办日期"], first["销号日期"], first["状态"]) == (
        "赵六", datetime(2025, 9, 26), datetime(2025, 9, 29), "已办结")
    assert (first["乡镇"], first["村"]) == ("大杨集镇", "东村")
    assert (second["乡镇"], second["村"], second["交办日期"], second["验收人"]) == (
        "城关镇", "东村", None, None)
    assert (third["乡镇"], third["村"]) == ("大杨集镇", None)
    again = tmp_path / "again.db"
    other = prepared_service(f"sqlite:///{again}", FixedClock(START), tmp_path / "f2",
                             org=tmp_path / "org.yaml")
    other.load_workflow(tmp_path / "spotcheck.yaml")
    copy = Rectify(f"sqlite:///{again}", rectify.capsys, rectify.monkeypatch, now=NOW)
    copy.ok("item", "import", str(out), "--workflow", "spotcheck", actor="li")
    units = {r["fields"]["description"]: r["unit"]
             for r in copy.ok("item", "list", as_json=True).json()
             for r in [copy.ok("item", "show", str(r["id"]), as_json=True).json()]}
    assert units == {"公示栏未更新": "a-east", "台账缺页": "b-east", "乡镇级问题": "town-a"}
    other.engine.dispose()


def test_one_sheet_per_workflow_set_up_for_a4(rectify: Rectify, service: Service,
                                              tmp_path: Path) -> None:
    """Without --workflow: one sheet per workflow, each with its own fields only; each sheet
    A4 landscape, one page wide, its header row on every page, a title and 填报单位 above it,
    borders over the table, page numbers in the footer; dates are date cells; the private
    身份证号码 is not there."""
    _approved_item(service)
    service.new_item("li", "rectification", "a-west", due="2025-10-31",
                     values={"description": "户籍信息不符", "category": "信息不实"})
    out = tmp_path / "台账.xlsx"
    done = rectify.ok("ledger", "export", "-o", str(out), as_json=True).json()
    assert [(s["name"], s["rows"]) for s in done["sheets"]] == [("问题整改闭环", 1),
                                                                 ("专项检查", 1)]
    book = openpyxl.load_workbook(out)
    checks, problems = book["专项检查"], book["问题整改闭环"]
    headers = [c.value for c in checks[3]]
    assert headers == ["编号", "乡镇", "村", "对象", "问题描述", "检查发现", "责任人", "交办日期",
                       "整改时限", "状态", "亮灯", "验收人", "销号日期"]
    assert "问题类别" in [c.value for c in problems[3]] and "检查发现" not in [
        c.value for c in problems[3]]
    for sheet in (checks, problems):
        setup = sheet.page_setup
        assert (setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight) == (
            "landscape", 9, 1, 0)
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows == "$3:$3"
        assert "&P" in sheet.oddFooter.center.text and "&N" in sheet.oddFooter.center.text
        assert sheet.freeze_panes == "A4"
        assert "A1:M1" in {str(r) for r in sheet.merged_cells.ranges} or sheet is problems
        (rule_range,) = [str(r.sqref) for r in sheet.conditional_formatting]
        assert rule_range.startswith("A3:") and rule_range.endswith("4")
    assert checks["A1"].value == "某县专项检查台账" and checks["A1"].font.b
    assert checks["A2"].value == "填报单位：某县　　　　填报日期：2025年10月20日"
    column = [c.value for c in problems[3]].index("整改时限") + 1
    assert problems.cell(4, column).is_date and problems.cell(4, column).value == datetime(
        2025, 10, 31)
    assert problems.cell(4, column).number_format == "yyyy-mm-dd"


def test_progress_on_a_terminal_only(rectify: Rectify, service: Service, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A person at a terminal sees a progress bar on stderr; otherwise only the one-line
    summary on stdout."""
    for n in range(3):
        service.new_item("li", "spotcheck", "a-east", values={"description": f"问题{n}"})
    quiet = rectify.ok("ledger", "export", "-o", str(tmp_path / "a.xlsx"))
    assert quiet.err == "" and quiet.out == f"exported 3 items to {tmp_path / 'a.xlsx'}\n"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    watched = rectify("ledger", "export", "-o", str(tmp_path / "b.xlsx"))
    assert watched.code == 0 and "exporting ledger" in watched.err and "3/3" in watched.err


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
def test_demo_ledger_prints_one_page_wide(tmp_path: Path) -> None:
    """The demo's 问题台账.xlsx, printed through LibreOffice: A4 landscape pages, each carrying
    the first and the last column's header (so no column went to a page of its own), the
    title on the first page and 第 N 页 in every footer."""
    from pypdf import PdfReader
    from rectify.engine.demo.rectification import run_demo

    db = run_demo(tmp_path / "demo", lambda _: None)
    ledger = db.parent / "问题台账.xlsx"
    profile = tmp_path / "lo-profile"  # its own profile: parallel runs do not lock each other
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(ledger)],
                   check=True, capture_output=True, timeout=180)
    pages = PdfReader(tmp_path / "问题台账.pdf").pages
    texts = [re.sub(r"\s+", "", p.extract_text()) for p in pages]
    assert all(round(float(p.mediabox.width)) == 842 for p in pages)  # A4 landscape, in pt
    assert all("编号" in t and "销号日期" in t for t in texts), texts
    assert "问题整改闭环台账" in texts[0]
    assert all(f"第{n}页" in t for n, t in enumerate(texts, 1))


def test_light_cells_are_filled_with_the_settings_colours(rectify: Rectify, service: Service,
                                                          tmp_path: Path) -> None:
    """`[lights] colors` in rectify.toml fills the 亮灯 column (not hard-coded fills), as it
    does the weekly report, with text that reads on it: white on a dark purple, black on a
    pale green."""
    service.new_item("li", "spotcheck", "a-east", due="2025-09-30",
                     values={"description": "公示栏未更新"})
    service.new_item("li", "spotcheck", "a-east", due="2025-10-31",
                     values={"description": "台账缺页"})
    settings = tmp_path / "rectify.toml"
    settings.write_text('[lights]\ncolors = {red = "#5b2a86", green = "#cdeccd"}\n', "utf-8")
    out = tmp_path / "台账.xlsx"
    rectify.ok("--config", str(settings), "ledger", "export", "--workflow", "spotcheck", "-o",
               str(out), now="2025-10-09T10:00:00+08:00")
    sheet = openpyxl.load_workbook(out)["专项检查"]
    light = next(c for c in sheet[3] if c.value == "亮灯").column
    cells = {sheet.cell(r, light).value: sheet.cell(r, light) for r in (4, 5)}
    assert cells["红"].fill.fgColor.rgb == "FF5B2A86"
    assert cells["红"].font.color.rgb == "FFFFFFFF"
    assert cells["绿"].fill.fgColor.rgb == "FFCDECCD"
    assert cells["绿"].font.color.rgb == "FF000000"


def test_each_kind_of_styled_cell_keeps_its_style_on_every_row(rectify: Rectify,
                                                               service: Service,
                                                               tmp_path: Path) -> None:
    """A style is set once per kind of cell and copied to the rest (the export's speed): every
    red cell of many rows is still filled red, every long description still wraps, and a
    short one, or a formula-like text, is not given another kind's style."""
    for n in range(6):
        service.new_item("li", "spotcheck", "a-east", due="2025-09-30",
                         values={"description": "台账缺页，" * (12 if n % 2 else 1)})
    service.new_item("li", "spotcheck", "a-east", due="2025-09-30",
                     values={"description": "=1+1"})
    out = tmp_path / "台账.xlsx"
    rectify.ok("ledger", "export", "--workflow", "spotcheck", "-o", str(out),
               now="2025-10-09T10:00:00+08:00")
    sheet = openpyxl.load_workbook(out)["专项检查"]
    header = {c.value: c.column for c in sheet[3]}
    rows = range(4, 11)
    lights = [sheet.cell(r, header["亮灯"]) for r in rows]
    assert all(c.value == "红" and c.fill.fgColor.rgb == lights[0].fill.fgColor.rgb != "00000000"
               for c in lights)
    texts = [sheet.cell(r, header["问题描述"]) for r in rows]
    assert [c.alignment.wrap_text for c in texts[:6]] == [None, True] * 3
    assert texts[6].value == "=1+1" and texts[6].data_type == "s"
    assert not texts[6].alignment.wrap_text and texts[6].fill.fgColor.rgb == "00000000"
