"""`rectify report weekly`, through the real CLI: a ranking that can be defended (a unit with no
problems never ranks below one with an overdue item; 约谈 and 问责 cost points by default), a
past week judged as of its end, 问责 items red, the red list bounded, `[lights] colors` and
`[report]` office and 期号 in every format, and -o's extension deciding the format."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.core.clock import FixedClock

from .cli_inprocess import Rectify, prepared_service

MONDAY = datetime(2025, 11, 3, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, ISO week 2025-W45


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def svc(db_url: str, tmp_path: Path, clock: FixedClock) -> Any:
    service = prepared_service(db_url, clock, tmp_path / "files")
    yield service
    service.engine.dispose()


def rectify_at(db_url: str, capsys: pytest.CaptureFixture[str],
               monkeypatch: pytest.MonkeyPatch, now: str) -> Rectify:
    return Rectify(db_url, capsys, monkeypatch, now=now)


def assigned(svc: Service, unit: str, assignee: str, due: str) -> int:
    inspector = "li" if unit.startswith("village-a") else "qian"
    item = svc.new_item(inspector, "rectification", unit, assignee=assignee, due=due,
                        values={"description": f"问题 {unit} {due}"})
    svc.advance(item, inspector, "assign")
    return item


def closed_on_time(svc: Service, tmp_path: Path) -> int:
    photo = tmp_path / "照片.jpg"
    photo.write_bytes(b"evidence")
    item = assigned(svc, "village-a1", "zhang", "2025-11-20")
    svc.advance(item, "zhang", "submit", values={"measures": "已整改"}, attach=[photo])
    svc.advance(item, "zhao", "accept")
    return item


def ranked(report: dict[str, Any]) -> dict[str, tuple[int, float]]:
    return {r["unit"]: (r["rank"], r["score"]) for r in report["rows"] if r["parent"] is None}


def test_a_unit_with_no_problems_is_not_below_one_with_an_overdue_item(
        svc: Service, clock: FixedClock, tmp_path: Path, db_url: str,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """大杨集镇 closed three problems on time and left one overdue; 城关镇 had none: 城关镇 has
    the full 100 and ranks first, 大杨集镇 100 × 3/4 - 2 = 73 second."""
    for _ in range(3):
        closed_on_time(svc, tmp_path)
    assigned(svc, "village-a1", "zhang", "2025-11-04")
    clock.set(datetime.fromisoformat("2025-11-07T18:00:00+08:00"))
    sweep(svc)
    cli = rectify_at(db_url, capsys, monkeypatch, "2025-11-07T18:00:00+08:00")
    report = cli.ok("report", "weekly", as_json=True).json()
    assert ranked(report) == {"town-b": (1, 100.0), "town-a": (2, 73.0)}


def test_interview_and_accountability_cost_points_by_default(
        svc: Service, clock: FixedClock, db_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each township has one overdue item; 大杨集镇's is so late that it reached 约谈 (3 workdays
    past its deadline), 城关镇's only 督办: without any weights configured, the 约谈 costs 3."""
    assigned(svc, "village-a1", "zhang", "2025-11-07")  # 约谈 on Wed 12th, 问责 on Fri 14th night
    assigned(svc, "village-b1", "zhou", "2025-11-11")  # 督办 on Tue 11th
    clock.set(datetime.fromisoformat("2025-11-14T18:00:00+08:00"))
    sweep(svc)
    cli = rectify_at(db_url, capsys, monkeypatch, "2025-11-14T18:00:00+08:00")
    report = cli.ok("report", "weekly", as_json=True).json()
    assert ranked(report) == {"town-b": (1, -2.0), "town-a": (2, -5.0)}
    town_a = next(r for r in report["rows"] if r["unit"] == "town-a")
    assert town_a["escalations"] == {"提醒": 1, "督办": 1, "约谈": 1}  # 提醒 costs nothing


def test_a_past_week_is_judged_as_of_its_end(
        svc: Service, clock: FixedClock, tmp_path: Path, db_url: str,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked on 14 November about W45 (3–9 November): overdue and red are the items overdue on
    Sunday night — the one due on the 4th, and the one due on the 5th that was only fixed and
    closed the next week — not the one due on the 12th, which is overdue only now."""
    photo = tmp_path / "照片.jpg"
    photo.write_bytes(b"evidence")
    still_open = assigned(svc, "village-a1", "zhang", "2025-11-04")
    fixed_late = assigned(svc, "village-a1", "zhang", "2025-11-05")
    assigned(svc, "village-b1", "zhou", "2025-11-12")
    clock.set(datetime.fromisoformat("2025-11-06T18:00:00+08:00"))
    sweep(svc)
    clock.set(datetime.fromisoformat("2025-11-10T10:00:00+08:00"))
    sweep(svc)
    svc.advance(fixed_late, "zhang", "submit", values={"measures": "已整改"}, attach=[photo])
    clock.set(datetime.fromisoformat("2025-11-11T10:00:00+08:00"))
    svc.advance(fixed_late, "zhao", "accept")
    clock.set(datetime.fromisoformat("2025-11-14T18:00:00+08:00"))
    sweep(svc)
    cli = rectify_at(db_url, capsys, monkeypatch, "2025-11-14T18:00:00+08:00")
    past = cli.ok("report", "weekly", "--week", "2025-W45", as_json=True).json()
    overdue = {r["unit"]: r["overdue"] for r in past["rows"]}
    assert overdue == {"town-a": 2, "village-a1": 2, "village-a2": 0, "town-b": 0,
                       "village-b1": 0}
    assert [i["id"] for i in past["red_items"]] == [still_open, fixed_late]
    now = cli.ok("report", "weekly", as_json=True).json()
    assert {r["unit"]: r["overdue"] for r in now["rows"]}["town-b"] == 1


def test_an_item_held_accountable_is_not_green(
        svc: Service, clock: FixedClock, db_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """5 workdays past its deadline the ladder's 问责 step moves the item into 追责问责, which
    has a fresh 10-workday deadline: it stays red (listed, counted overdue, its unit's light
    red) until it is closed, and the 问责 costs 5."""
    item = assigned(svc, "village-b1", "zhou", "2025-11-04")
    clock.set(datetime.fromisoformat("2025-11-12T18:00:00+08:00"))
    sweep(svc)
    cli = rectify_at(db_url, capsys, monkeypatch, "2025-11-12T18:00:00+08:00")
    shown = cli.ok("item", "show", str(item), as_json=True).json()
    assert shown["state"] == "accountable"
    report = cli.ok("report", "weekly", as_json=True).json()
    assert [(i["id"], i["state_label"]) for i in report["red_items"]] == [(item, "追责问责")]
    town_b = next(r for r in report["rows"] if r["unit"] == "town-b")
    assert (town_b["overdue"], town_b["light"]) == (1, "red")
    assert town_b["escalations"]["问责"] == 1 and town_b["score"] == -2 - 3 - 5


def test_the_red_list_is_bounded(
        svc: Service, clock: FixedClock, db_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`[report] red_limit = 2`: five red items, the two longest overdue listed, "另有 3 项"."""
    for day in (4, 5, 6, 3, 7):
        assigned(svc, "village-a1", "zhang", f"2025-11-0{day}")
    config = tmp_path / "rectify.toml"
    config.write_text("[report]\nred_limit = 2\n", "utf-8")
    clock.set(datetime.fromisoformat("2025-11-10T10:00:00+08:00"))
    cli = rectify_at(db_url, capsys, monkeypatch, "2025-11-10T10:00:00+08:00")
    report = cli.ok("--config", str(config), "report", "weekly", as_json=True).json()
    assert [i["due_at"][:10] for i in report["red_items"]] == ["2025-11-03", "2025-11-04"]
    assert report["red_total"] == 5
    md = cli.ok("--config", str(config), "report", "weekly").out
    assert "## 红灯事项（5 项）" in md and "另有 3 项未列出（共 5 项）。" in md


def test_office_issue_and_colours_from_settings(
        svc: Service, clock: FixedClock, db_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`[report] office`, `issue_number`/`first_week` and `[lights] colors` reach the HTML
    (an A4 print stylesheet, the week as dates, a light per unit in the chosen colour) and the
    xlsx (title block, light fills)."""
    assigned(svc, "village-b1", "zhou", "2025-11-04")
    config = tmp_path / "rectify.toml"
    config.write_text('[report]\noffice = "某县纪委监委第三监督检查室"\n'
                      'issue_number = "第{n}期"\nfirst_week = "2025-W36"\n'
                      '[lights.colors]\nred = "#123456"\n', "utf-8")
    cli = rectify_at(db_url, capsys, monkeypatch, "2025-11-07T18:00:00+08:00")
    page = tmp_path / "周报.html"
    cli.ok("--config", str(config), "report", "weekly", "-o", str(page))
    html = page.read_text("utf-8")
    assert "@page { size: A4 landscape" in html and "white-space: nowrap" in html
    assert "填报单位：某县纪委监委第三监督检查室" in html and "第10期" in html
    assert "统计周期：2025年11月3日—11月9日" in html
    assert ".light.red { background: #123456; }" in html
    assert '<span class="light red">红灯</span>' in html
    book = tmp_path / "周报.xlsx"
    cli.ok("--config", str(config), "report", "weekly", "-o", str(book))
    towns = openpyxl.load_workbook(book)["乡镇排名"]
    assert "填报单位：某县纪委监委第三监督检查室　　期号：第10期" in towns["A2"].value
    red_row = next(r for r in towns.iter_rows(min_row=4) if r[1].value == "城关镇")
    assert red_row[2].value == "红灯" and red_row[2].fill.fgColor.rgb == "FF123456"


def test_bad_report_settings_are_named(db_url: str, svc: Service, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A colour that is no colour, an unknown 期号 placeholder and a bad red_limit are each
    named in one run, exit 6 (an invalid input file), no traceback."""
    config = tmp_path / "rectify.toml"
    config.write_text('[report]\nissue_number = "第{no}期"\nred_limit = 0\n'
                      '[lights.colors]\nred = "crimson"\n', "utf-8")
    result = rectify_at(db_url, capsys, monkeypatch, "2025-11-07T18:00:00+08:00")(
        "--config", str(config), "report", "weekly")
    assert result.code == 6 and "Traceback" not in result.err
    for fragment in ("issue_number '第{no}期' names no", "red_limit must be a whole number",
                     "red must be a colour such as '#c62828', got 'crimson'"):
        assert fragment in result.err


@pytest.mark.parametrize("name", ["周报.pdf", "周报.docx", "周报.txt"])
def test_an_extension_that_is_no_report_format_is_refused(
        name: str, db_url: str, svc: Service, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`-o 周报.pdf` writes no Markdown into a .pdf: exit 2, one line naming the formats, and
    no file."""
    cli = rectify_at(db_url, capsys, monkeypatch, "2025-11-07T18:00:00+08:00")
    target = tmp_path / name
    result = cli("report", "weekly", "-o", str(target))
    assert result.code == 2 and not target.exists()
    assert "a weekly report is written as .md, .html, .xlsx or .csv" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_the_extension_decides_the_format(
        db_url: str, svc: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """.htm is HTML, .markdown Markdown, .XLSX a workbook; --format contradicting -o is
    refused (exit 2)."""
    cli = rectify_at(db_url, capsys, monkeypatch, "2025-11-07T18:00:00+08:00")
    cli.ok("report", "weekly", "-o", str(tmp_path / "a.htm"))
    assert (tmp_path / "a.htm").read_text("utf-8").startswith("<!DOCTYPE html>")
    cli.ok("report", "weekly", "-o", str(tmp_path / "a.markdown"))
    assert (tmp_path / "a.markdown").read_text("utf-8").startswith("# ")
    cli.ok("report", "weekly", "-o", str(tmp_path / "A.XLSX"))
    assert openpyxl.load_workbook(tmp_path / "A.XLSX").sheetnames[0] == "乡镇排名"
    clash = cli("report", "weekly", "--format", "csv", "-o", str(tmp_path / "b.html"))
    assert clash.code == 2 and "does not match --format csv" in clash.err
