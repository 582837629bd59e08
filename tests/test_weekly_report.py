"""`rectify report weekly` on SQLite and PostgreSQL: the figures of a known week (found, closed,
on time, overdue, rejected, escalations by level), the score with default and configured
weights, the ranking of townships and of villages within them, red items, the open/closed
history, every format and --json, --unit and --week, and the scheduler's 每周通报."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.core.clock import FixedClock
from rectify.engine.reports.figures import Week, queue_weekly_report, ranks, township_rows
from rectify.engine.store.db import read
from rectify.engine.store.outbox import OUTBOX
from sqlalchemy import select

from .cli_inprocess import Rectify, prepared_service

MONDAY = datetime(2025, 11, 3, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, ISO week 2025-W45
NOW = "2025-11-07T18:00:00+08:00"  # Friday evening of that week


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Any:
    """Four problems filed on Monday of W45; by Friday one is closed on time, one rejected at
    acceptance, one past its own deadline (escalated 提醒 and 督办), one not yet assigned."""
    clock = FixedClock(MONDAY)
    svc = prepared_service(db_url, clock, tmp_path / "files")
    photo = tmp_path / "照片.jpg"
    photo.write_bytes(b"evidence")
    done = svc.new_item("li", "rectification", "village-a1", assignee="zhang",
                        values={"description": "问题一", "category": "其他"})
    rejected = svc.new_item("li", "rectification", "village-a1", assignee="zhang",
                            values={"description": "问题二"})
    for item in (done, rejected):
        svc.advance(item, "li", "assign")
        svc.advance(item, "zhang", "submit", values={"measures": "已整改"}, attach=[photo])
    svc.advance(done, "zhao", "accept")
    svc.advance(rejected, "zhao", "reject", comment="照片不清")
    late = svc.new_item("qian", "rectification", "village-b1", assignee="zhou", due="2025-11-04",
                        values={"description": "问题三 | <b>逾期</b>"})
    svc.advance(late, "qian", "assign")
    svc.new_item("li", "rectification", "village-a2", values={"description": "问题四"})
    clock.set(datetime.fromisoformat(NOW))
    sweep(svc)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def rectify(db_url: str, service: Service, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    return Rectify(db_url, capsys, monkeypatch, now=NOW)


def figures(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {r["unit"]: (r["rank"], r["parent"], r["found"], r["closed"], r["closed_on_time"],
                        r["overdue"], r["rejected"], r["escalations"], r["score"])
            for r in report["rows"]}


def test_weekly_figures_and_ranking(rectify: Rectify) -> None:
    """The week's figures per township and village; score = 100 * completion - penalties, where
    a unit with nothing closed or overdue (李庄村: one problem, not yet assigned) has all 100."""
    report = rectify.ok("report", "weekly", as_json=True).json()
    assert report["week"] == "2025-W45" and report["title"] == "某县问题整改周报"
    assert [r["unit"] for r in report["rows"]] == [
        "town-a", "village-a2", "village-a1", "town-b", "village-b1"]
    assert figures(report) == {
        "town-a": (1, None, 3, 1, 1, 0, 1, {}, 99.0),
        "village-a1": (2, "town-a", 2, 1, 1, 0, 1, {}, 99.0),
        "village-a2": (1, "town-a", 1, 0, 0, 0, 0, {}, 100.0),
        "town-b": (2, None, 1, 0, 0, 1, 0, {"提醒": 1, "督办": 1}, -2.0),
        "village-b1": (1, "town-b", 1, 0, 0, 1, 0, {"提醒": 1, "督办": 1}, -2.0),
    }  # fmt: skip
    assert report["red_items"] == [{
        "id": 3, "unit_name": "东关村", "state_label": "整改中",
        "due_at": "2025-11-04T23:59:59+08:00", "assignee_name": "周九",
        "description": "问题三 | <b>逾期</b>"}]  # fmt: skip
    assert len(report["history"]) == 8
    assert report["history"][-1] == {"week": "2025-W45", "open": 3, "closed": 1}
    assert report["history"][0] == {"week": "2025-W38", "open": 0, "closed": 0}
    assert report["weights"] == {"on_time": 1.0, "late": 0.5, "overdue": 2.0, "rejected": 1.0,
                                 "约谈": 3.0, "问责": 5.0}
    assert [r["light"] for r in report["rows"]] == ["green", "green", "green", "red", "red"]
    assert report["red_total"] == 1 and report["period"] == "2025年11月3日—11月9日"
    assert report["issue"] == "2025年第45期"


def test_weights_come_from_settings(rectify: Rectify, tmp_path: Path) -> None:
    """[report] weights: overdue costs 5, each 督办 escalation 3."""
    config = tmp_path / "rectify.toml"
    config.write_text('[report.weights]\noverdue = 5\n"督办" = 3\n', "utf-8")
    report = rectify.ok("--config", str(config), "report", "weekly", as_json=True).json()
    assert figures(report)["town-b"][-1] == -8.0
    assert report["weights"]["督办"] == 3.0


def test_every_format(rectify: Rectify, tmp_path: Path) -> None:
    """md to stdout; html, xlsx and csv files: the same figures."""
    md = rectify.ok("report", "weekly").out
    assert md.startswith("# 某县问题整改周报\n")
    assert "| 1 | 大杨集镇 |  | 绿灯 | 3 | 1 | 1 | 0 | 1 | 0 | 0 | 33.3% | 100.0% |" in md
    assert "### 城关镇（第 2 名）" in md and "问题三 \\| &lt;b&gt;逾期&lt;/b&gt;" in md
    html = tmp_path / "周报.html"
    said = rectify.ok("report", "weekly", "-o", str(html)).out
    assert said.strip() == f"weekly report 2025-W45 (html) written to {html}"
    page = html.read_text("utf-8")
    assert page.count("<table") == 1 + 2 + 1 and "<svg" in page and "<polyline" in page
    assert "&lt;b&gt;逾期&lt;/b&gt;" in page and "<b>逾期" not in page
    book = tmp_path / "周报.xlsx"
    rectify.ok("report", "weekly", "-o", str(book))
    sheets = openpyxl.load_workbook(book)
    assert sheets.sheetnames == ["乡镇排名", "村排名", "红灯事项", "每周趋势"]
    assert [c.value for c in sheets["乡镇排名"][4]][:4] == [1, "大杨集镇", "绿灯", 3]
    assert sheets["红灯事项"].max_row == 4 and sheets["每周趋势"].max_row == 11
    table = tmp_path / "排名.csv"
    rectify.ok("report", "weekly", "--format", "csv", "-o", str(table))
    rows = list(csv.reader(io.StringIO(table.read_text("utf-8-sig"))))
    assert len(rows) == 6 and rows[4][:3] == ["2", "城关镇", ""]
    assert rows[0][-3:] == ["升级:提醒", "升级:督办", "得分"]
    assert rectify("report", "weekly", "--format", "xlsx").code == 2  # xlsx needs -o


def test_public_report_names_nobody(rectify: Rectify, tmp_path: Path) -> None:
    """`report weekly --public` names no responsible person in Markdown, HTML or JSON."""
    for args in ((), ("--format", "html")):
        text = rectify.ok("report", "weekly", "--public", *args).out
        assert "周九" not in text and "公开版" in text
    data = rectify.ok("report", "weekly", "--public", as_json=True).json()
    assert data["public"] is True and "assignee_name" not in data["red_items"][0]


def test_unit_and_week(rectify: Rectify) -> None:
    """--unit ranks the villages of one township; --week looks at another week."""
    town = rectify.ok("report", "weekly", "--unit", "大杨集镇", as_json=True).json()
    assert town["title"] == "大杨集镇问题整改周报"
    assert [(r["unit"], r["rank"], r["parent"]) for r in town["rows"]] == [
        ("village-a2", 1, None), ("village-a1", 2, None)]
    assert town["red_items"] == []
    before = rectify.ok("report", "weekly", "--week", "2025-W44", as_json=True).json()
    assert before["week"] == "2025-W44"
    assert figures(before)["town-b"][2:8] == (0, 0, 0, 0, 0, {})  # as of W44's end: nothing yet
    assert before["history"][-1] == {"week": "2025-W44", "open": 0, "closed": 0}
    bad = rectify("report", "weekly", "--week", "2025-45")
    assert bad.code == 2 and "expected an ISO week such as 2025-W40" in bad.err
    assert rectify("report", "weekly", "--unit", "nowhere").code == 4


def test_scheduler_weekly_notice_uses_the_same_figures(service: Service) -> None:
    """The scheduler's 每周通报 ranks the townships as the report does and is queued once."""
    rows = township_rows(service, Week.containing(service.clock.now(), "Asia/Shanghai"))
    assert [(r["unit"], r["rank"], r["score"]) for r in rows] == [("town-a", 1, 99.0),
                                                                  ("town-b", 2, -2.0)]
    assert queue_weekly_report(service) == 2
    assert queue_weekly_report(service) == 2
    with read(service.engine) as conn:
        keys = conn.execute(select(OUTBOX.c.dedupe_key)
                            .where(OUTBOX.c.template == "weekly_report")).scalars().all()
    assert keys == ["weekly:2025-W45:log"]


def test_ties_share_a_rank() -> None:
    """Equal scores share a rank and the next rank skips (1, 1, 3)."""
    assert ranks([90.0, 75.5, 90.0, 10.0]) == [1, 3, 1, 4]
