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
        UnitRow(1, "t-cg", "城关镇", None, 20, 15, 12, 2, 1, {"督办": 2, "约谈": 1}, 92.5),
        UnitRow(2, "v-east", unit_name, "t-cg", 8, 6, 5, 1, 0, {"督办": 1}, 88.0),
        UnitRow(3, "t-hk", "河口乡", None, 10, 3, 1, 5, 2, {}, 60.25),
        UnitRow(4, "v-west", "西村", "t-cg", 0, 0, 0, 0, 0, {}, 0.0),
        UnitRow(5, "v-river", "河湾村", "t-hk", 4, 1, 1, 3, 1, {"问责": 1}, 41.0),
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
    )  # fmt: skip


def test_markdown_tables() -> None:
    """The Markdown report has the ranking, township sections, red items and times in
    the documented table layout."""
    text = render_report(sample_report(), "md", None)
    assert text is not None and text.startswith("# 某县问题整改周报\n")
    assert "| 排名 | 单位 | 上级单位 |" in text
    assert ("| 1 | 城关镇 |  | 20 | 15 | 12 | 2 | 1 | 0 | 0 | 75.0% | 80.0% | 2 | 1 | 0 | 92.50 |"
            in text)
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
    """The xlsx report has ranking and red-item sheets with a bold frozen header, rates
    as percentages and formulas kept as text."""
    path = tmp_path / "report.xlsx"
    assert render_report(sample_report(), "xlsx", path) is None
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:2] == ["单位排名", "红灯事项"]
    ranking, red = book["单位排名"], book["红灯事项"]
    assert ranking["A1"].font.b and ranking.freeze_panes == "A2"
    assert [c.value for c in ranking[2]][:4] == [1, "城关镇", None, 20]
    rate = ranking.cell(2, [c.value for c in ranking[1]].index("整改率") + 1)
    assert rate.value == 0.75 and rate.number_format == "0.0%"
    assert ranking.max_row == 6 and red.max_row == 3
    assert red["F3"].value == "=危房改造台账缺页" and red["F3"].data_type == "s"


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
