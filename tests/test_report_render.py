"""Rendering the weekly report: Markdown, self-contained HTML with an SVG chart, xlsx, csv."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from rectify.engine.reports.render import (
    UnitRow,
    WeeklyReport,
    WeekPoint,
    render_report,
    report_as_json,
)


def sample_report(*, public: bool = False, unit_name: str = "东村") -> WeeklyReport:
    rows = [
        UnitRow(1, "t-cg", "城关镇", None, 20, 15, 12, 2, 1, {"督办": 2, "约谈": 1}, 92.5,
                light="red"),
        UnitRow(2, "v-east", unit_name, "t-cg", 8, 6, 5, 1, 0, {"督办": 1}, 88.0, light="red"),
        UnitRow(3, "t-hk", "河口乡", None, 10, 3, 1, 5, 2, {}, 60.25, light="red"),
        UnitRow(4, "v-west", "西村", "t-cg", 0, 0, 0, 0, 0, {}, 0.0, light="yellow"),
        UnitRow(5, "v-river", "河湾村", "t-hk", 4, 1, 1, 3, 1, {"问责": 1}, 41.0, light="red"),
    ]
    red = [
        {"id": 17, "unit_name": unit_name, "state_label": "整改中", "due_at": date(2026, 3, 30),
         "assignee_name": "张三", "description": "低保信息不实"},
        {"id": 23, "unit_name": "河湾村", "state_label": "待验收",
         "due_at": datetime(2026, 4, 1, 17, 30), "assignee_name": "李四",
         "description": "=危房改造台账缺页"},
    ]  # fmt: skip
    history = [WeekPoint(f"2026-W{i:02d}", 40 - i, 2 * i) for i in range(1, 15)]
    weights = {"found": 1.0, "closed_on_time": 2.0, "overdue": -3.0}
    return WeeklyReport(
        title="某县问题整改周报", week="2026-W14", generated_at="2026-04-06 08:00",
        rows=rows, red_items=red, history=history, weights=weights, public=public,
        period="2026年3月30日—4月5日", office="某县纪委监委", issue="2026年第14期",
        colors={"green": "#00aa00", "yellow": "#ffcc00", "red": "#aa0000"}, red_total=7,
    )  # fmt: skip


def test_markdown_tables() -> None:
    """The Markdown report has the ranking, township sections, red items and times in
    the documented table layout."""
    text = render_report(sample_report(), "md", None)
    assert text is not None and text.startswith("# 某县问题整改周报\n")
    assert "| 排名 | 单位 | 上级单位 | 灯 |" in text
    assert ("| 1 | 城关镇 |  | 红灯 | 20 | 15 | 12 | 2 | 1 | 0 | 0 | 75.0% | 80.0% | 2 | 1 | 0 "
            "| 92.50 |" in text)
    assert "### 城关镇（第 1 名）" in text and "### 河口乡（第 3 名）" in text
    assert "| 17 | 东村 | 整改中 | 2026-03-30 | 张三 | 低保信息不实 |" in text
    assert "2026-04-01 17:30" in text


def test_markdown_escapes_pipes_and_html() -> None:
    """User text in Markdown cells has pipes escaped and HTML neutralised."""
    text = render_report(sample_report(unit_name="东|村<b>"), "md", None)
    assert text is not None and "东\\|村&lt;b&gt;" in text and "<b>" not in text


def test_html_is_one_self_contained_page() -> None:
    """The HTML report is one page with its own CSS and an SVG chart, no script and no
    external link."""
    html = render_report(sample_report(), "html", None)
    assert html is not None
    assert html.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in html
    assert "<style>" in html and "<script" not in html
    assert not re.search(r"https?://", html)
    assert "<svg" in html and "<polyline" in html and "<rect" in html
    assert "已整改" in html and "未整改" in html  # the legend
    assert html.count("<table") == 1 + 2 + 1  # ranking, two township sections, red items
    assert "<h3>城关镇（第 1 名，得分 92.50）</h3>" in html
    assert "督办×2、约谈×1" in html


def test_html_autoescapes_user_text() -> None:
    """The HTML template escapes user text: a unit named like a script tag is shown, not run."""
    html = render_report(sample_report(unit_name="<script>alert(1)</script>"), "html", None)
    assert html is not None
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_html_without_history_or_red_items() -> None:
    """Without history or red items the HTML page says so instead of drawing an empty
    chart or table."""
    report = replace(sample_report(), history=[], red_items=[])
    html = render_report(report, "html", None)
    assert html is not None and "<svg" not in html
    assert "暂无历史数据" in html and "本周无红灯事项" in html


def test_public_report_hides_assignees() -> None:
    """The public report (公开版) names no assignee in Markdown, HTML or JSON."""
    report = sample_report(public=True)
    for fmt in ("md", "html"):
        text = render_report(report, fmt, None)  # type: ignore[arg-type]
        assert text is not None and "张三" not in text and "公开版" in text
    assert all("assignee_name" not in item for item in report_as_json(report)["red_items"])


def test_csv_ranking(tmp_path: Path) -> None:
    """The CSV report is the ranking, one unit per row with escalation columns, written
    with a BOM."""
    path = tmp_path / "rank.csv"
    text = render_report(sample_report(), "csv", path)
    assert text is not None
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["排名", "单位", "上级单位"] and rows[0][-1] == "得分"
    assert "升级:督办" in rows[0] and len(rows) == 6
    assert rows[2][:3] == ["2", "东村", "城关镇"]
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese


def test_xlsx_has_ranking_and_red_item_sheets(tmp_path: Path) -> None:
    """The xlsx report ranks townships and villages on separate sheets (villages within their
    township), under a title block; a bold frozen header; rates as percentages, deadlines as
    dates, formulas kept as text, lights filled with the configured colours, and the red list
    says how many it leaves out."""
    path = tmp_path / "report.xlsx"
    assert render_report(sample_report(), "xlsx", path) is None
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["乡镇排名", "村排名", "红灯事项", "每周趋势"]
    towns, villages, red = book["乡镇排名"], book["村排名"], book["红灯事项"]
    assert towns["A1"].value == "某县问题整改周报（乡镇排名）" and towns["A1"].font.b
    assert towns["A2"].value == ("填报单位：某县纪委监委　　期号：2026年第14期　　"
                                 "统计周期：2026年3月30日—4月5日　　生成时间：2026-04-06 08:00")
    assert towns["A3"].font.b and towns.freeze_panes == "A4"
    assert [c.value for c in towns[4]][:4] == [1, "城关镇", "红灯", 20]
    assert towns["C4"].fill.fgColor.rgb == "FFAA0000"  # [lights] colors, not a fixed fill
    assert [c.value for c in towns[5]][:2] == [3, "河口乡"] and towns.max_row == 5
    rate = towns.cell(4, [c.value for c in towns[3]].index("整改率") + 1)
    assert rate.value == 0.75 and rate.number_format == "0.0%"
    assert [[c.value for c in row][:4] for row in villages.iter_rows(min_row=3)] == [
        ["乡镇", "乡镇排名", "镇内排名", "村"], ["城关镇", 1, 2, "东村"],
        ["城关镇", 1, 4, "西村"], ["河口乡", 3, 5, "河湾村"]]
    assert villages["E5"].fill.fgColor.rgb == "FFFFCC00"  # 西村, yellow
    assert red["F5"].value == "=危房改造台账缺页" and red["F5"].data_type == "s"
    assert red["D5"].value == datetime(2026, 4, 1, 17, 30) and red["D5"].is_date
    assert red["A6"].value == "另有 5 项红灯事项未列出（共 7 项）。"


def test_xlsx_prints_a4_landscape_one_page_wide(tmp_path: Path) -> None:
    """Every sheet is set up to print: A4 landscape, fit to one page wide, its header row
    repeated on every page, page numbers in the footer, thin borders on the table, and
    columns wide enough for a deadline (no "2025-09-29 23:" cut off)."""
    path = tmp_path / "report.xlsx"
    render_report(sample_report(), "xlsx", path)
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert (setup.orientation, int(setup.paperSize)) == ("landscape", 9)  # 9: A4
        assert (setup.fitToWidth, setup.fitToHeight) == (1, 0)
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows == "$3:$3"
        assert "&P" in sheet.oddFooter.center.text and "&N" in sheet.oddFooter.center.text
        assert all(c.border.left.style == "thin" for c in sheet[4])
    deadline = book["红灯事项"].column_dimensions["D"].width
    assert deadline is not None and deadline >= 16


def test_xlsx_needs_a_path_and_unknown_formats_fail() -> None:
    """An xlsx report without a path and an unknown format are refused with ValueError."""
    with pytest.raises(ValueError, match="path"):
        render_report(sample_report(), "xlsx", None)
    with pytest.raises(ValueError, match="unknown report format"):
        render_report(sample_report(), "pdf", None)  # type: ignore[arg-type]


def test_md_and_html_written_when_path_given(tmp_path: Path) -> None:
    """Given a path, the Markdown and HTML reports are written there with exactly the
    returned text."""
    for fmt in ("md", "html"):
        path = tmp_path / f"report.{fmt}"
        text = render_report(sample_report(), fmt, path)  # type: ignore[arg-type]
        assert path.read_text(encoding="utf-8") == text


def test_report_as_json_is_serialisable() -> None:
    """The report's JSON form survives json.dumps with escalations, dates, history and
    weights intact."""
    data = report_as_json(sample_report())
    again = json.loads(json.dumps(data, ensure_ascii=False))
    assert again["rows"][0]["escalations"] == {"督办": 2, "约谈": 1}
    assert again["red_items"][0]["due_at"] == "2026-03-30"
    assert again["history"][0] == {"week": "2026-W01", "open": 39, "closed": 2}
    assert again["public"] is False and again["weights"]["overdue"] == -3.0
