"""`rectify item import` and `rectify ledger export` through the command line, on SQLite and
PostgreSQL: xlsx and GBK csv ledgers, names resolved to ids, every bad row listed and nothing
written, re-imports that create nothing, the export → import → export round trip, --force, and
imported items that are exactly what `item new` makes (history chain, deadline, ladder)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.store.db import read
from rectify.engine.store.items import HISTORY, ITEMS, STEPS
from sqlalchemy import func, select

from .cli_inprocess import Rectify, prepared_service, write_csv, write_xlsx
from .conftest import FIXTURES, START

NOW = "2025-09-26T10:00:00+08:00"  # START, as the command line takes it
HEADER = ["问题编号", "乡镇", "村", "责任人", "对象", "问题类别", "问题描述（必填）", "整改时限",
          "备注"]
SERIAL_2025_10_22 = (date(2025, 10, 22) - date(1899, 12, 30)).days  # Excel's day number
ROWS = [
    ["A-1", "大杨集镇", "张庄村", "张三", "household:HH-0001", "信息不实", "户籍信息与实际不符",
     date(2025, 10, 20), "已电话沟通"],
    ["A-2", "大杨集镇", "李庄村", "zhang", None, "其他", "帮扶措施不明显", "2025/10/21", None],
    ["A-3", "城关镇", "东关村", "周九", None, "填写不完整", "收入测算表未填写", SERIAL_2025_10_22,
     None],
    ["A-4", "城关镇", None, None, None, "其他", "乡镇级台账缺页", "2025年10月23日", None],
]  # fmt: skip
LADDER = """\
workflow: ladder
title: 限期登记
fields:
  description: {type: text, label: 问题描述}
roles: {inspector: 督查人员, leader: 分管领导}
initial: open
states:
  open:
    label: 待整改
    deadline: 5 workdays
    escalate:
      - {at: -1 workdays, notify: [assignee], level: 提醒}
      - {at: 0, notify: [leader], level: 督办}
  done: {label: 已办结, final: true}
transitions:
  - {trigger: finish, source: open, dest: done, roles: [inspector, leader]}
"""


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Any:
    svc = prepared_service(db_url, FixedClock(START), tmp_path / "files",
                           workflows=("rectification", "identification"))
    yield svc
    svc.engine.dispose()


@pytest.fixture
def rectify(db_url: str, service: Service, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    return Rectify(db_url, capsys, monkeypatch, now=NOW)


def count(service: Service, table: Any = ITEMS) -> int:
    with read(service.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def listed(rectify: Rectify) -> dict[str, dict[str, Any]]:
    """`item list --json`, by description."""
    return {r["description"]: r for r in rectify.ok("item", "list", as_json=True).json()}


def test_import_xlsx_resolves_names_and_dates(rectify: Rectify, service: Service,
                                              tmp_path: Path) -> None:
    """Units by 村 (falling back to 乡镇), people by name or id, every date form; audit verifies."""
    ledger = write_xlsx(tmp_path / "台账.xlsx", [HEADER, *ROWS])
    result = rectify.ok("item", "import", str(ledger), "--workflow", "rectification",
                        actor="qian", as_json=True)
    summary = result.json()
    assert (summary["created"], summary["skipped"], summary["rows"]) == (4, 0, 4)
    assert summary["warnings"] == ["row 2, column 备注: column not recognised; ignored"]
    assert "备注" in result.err  # warnings go to stderr, never into the JSON on stdout
    items = listed(rectify)
    assert {d: (r["unit"], r["assignee"]) for d, r in items.items()} == {
        "户籍信息与实际不符": ("village-a1", "zhang"), "帮扶措施不明显": ("village-a2", "zhang"),
        "收入测算表未填写": ("village-b1", "zhou"), "乡镇级台账缺页": ("town-b", None),
    }  # fmt: skip
    dues = sorted(r["due_at"] for r in items.values())
    assert dues == [f"2025-10-{d}T23:59:59+08:00" for d in (20, 21, 22, 23)]
    shown = rectify.ok("item", "show", str(items["户籍信息与实际不符"]["id"]), as_json=True).json()
    assert shown["state"] == "discovered" and shown["subject"] == "household:HH-0001"
    assert shown["fields"] == {"description": "户籍信息与实际不符", "category": "信息不实"}
    assert [h["trigger"] for h in shown["history"]] == ["create"]
    assert shown["history"][0]["actor"] == "qian"
    assert rectify.ok("audit", "verify", as_json=True).json() == {"ok": True, "items": 4,
                                                                  "broken": None}


def test_import_gbk_csv_and_mapping(rectify: Rectify, service: Service, tmp_path: Path) -> None:
    """A csv saved by Excel on Chinese Windows (GBK), with headers named by a mapping file."""
    rows = [["序号", "所在片区", "包保干部", "存在问题", "问题类别", "完成时限"],
            ["1", "东关村", "周九", "低保信息未更新", "信息不实", "2025.10.31"],
            ["2", "张庄村", "孙七", "危房改造资料缺失", "填写不完整", "2025-11-03"]]
    ledger = write_csv(tmp_path / "河口乡台账.csv", rows, encoding="gbk")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns:\n  所在片区: unit\n  包保干部: assignee\n  存在问题: 问题描述\n"
                       "  完成时限: due\n", "utf-8")
    out = rectify.ok("item", "import", str(ledger), "--workflow", "rectification", "--mapping",
                     str(mapping), actor="qian")
    assert out.out.startswith("imported 2 items")
    items = listed(rectify)
    assert items["低保信息未更新"]["assignee"] == "zhou"
    assert items["危房改造资料缺失"]["unit"] == "village-a1"
    assert items["危房改造资料缺失"]["due_at"] == "2025-11-03T23:59:59+08:00"


def test_every_bad_row_is_listed_and_nothing_is_written(rectify: Rectify, service: Service,
                                                        tmp_path: Path) -> None:
    """Unknown or ambiguous names, bad cells, no right to the unit: all listed, exit 6."""
    org = tmp_path / "org.yaml"
    org.write_text((FIXTURES / "org.yaml").read_text("utf-8").replace(
        "children: [{id: village-b1, name: 东关村}]",
        "children: [{id: village-b1, name: 东关村}, {id: village-b2, name: 张庄村}]") +
        "  - {id: zhang2, name: 张三, roles: {rectifier: village-b1}}\n", "utf-8")
    service.load_org(org)
    rows = [HEADER,
            ["B-1", "大杨集镇", "张庄村", "孙七", None, "信息不实", "好的一行", "2025-10-20", None],
            ["B-2", None, "不存在村", None, None, "其他", "单位不对", None, None],
            ["B-3", None, "张庄村", None, None, "其他", "同名村", None, None],
            ["B-4", "大杨集镇", "李庄村", None, None, "瞎填", "坏类别坏日期", "2025-02-30", None],
            ["B-5", "城关镇", "东关村", "张三", None, "其他", "无权限且同名人", None, None],
            ["B-6", "大杨集镇", "李庄村", "无名氏", None, "其他", "无此人", None, None],
            ["B-1", "大杨集镇", "张庄村", None, None, "其他", "重复编号", None, None]]
    ledger = write_xlsx(tmp_path / "坏台账.xlsx", rows)
    result = rectify("item", "import", str(ledger), "--workflow", "rectification", actor="li")
    assert result.code == 6 and result.out == ""
    lines = result.err.splitlines()
    expected = [
        "row 4: unit '不存在村' is not in the org",
        "row 5: unit '张庄村' fits 2 units: 大杨集镇/张庄村 (village-a1), "
        "城关镇/张庄村 (village-b2)",
        "row 6, column 问题类别: '瞎填' is not an allowed value",
        "row 6, column 整改时限: no such date: 2025-02-30",
        "row 7: 李四 holds no role at 东关村 or above",
        "row 7: 责任人 '张三' is the name of 2 people (zhang, zhang2)",
        "row 8: 责任人 '无名氏' is not a person in the org file",
        "row 9, column 问题编号: duplicate 问题编号 'B-1': also row 3",
    ]
    for fragment in expected:
        assert any(line.startswith(f"坏台账.xlsx: {fragment}") for line in lines), fragment
    assert lines[-1] == "坏台账.xlsx: 6 rows with errors; nothing was imported"
    assert count(service) == 0 and count(service, HISTORY) == 0
    # The 乡镇 column tells the two 张庄村 apart: row 3 alone would import.
    good = write_xlsx(tmp_path / "好.xlsx", rows[:2])
    rectify.ok("item", "import", str(good), "--workflow", "rectification", actor="li")
    assert listed(rectify)["好的一行"]["unit"] == "village-a1"


def test_reimport_creates_nothing(rectify: Rectify, service: Service, tmp_path: Path) -> None:
    """The same file again (编号 keys), and a ledger without 编号 (content keys): skipped."""
    ledger = write_xlsx(tmp_path / "台账.xlsx", [HEADER, *ROWS])
    plain = write_csv(tmp_path / "无编号.csv", [[h for h in HEADER if h != "问题编号"]] +
                      [[c for i, c in enumerate(r) if i] for r in ROWS[:2]])
    args = ("--workflow", "rectification")
    rectify.ok("item", "import", str(ledger), *args, actor="qian")
    rectify.ok("item", "import", str(plain), *args, actor="qian")
    assert count(service) == 6
    again = rectify.ok("item", "import", str(ledger), *args, actor="qian", as_json=True).json()
    assert (again["created"], again["skipped"]) == (0, 4)
    text = rectify.ok("item", "import", str(plain), *args, actor="qian").out
    assert text.startswith("imported 0 items") and "2 already imported (skipped)" in text
    assert count(service) == 6 and count(service, HISTORY) == 6
    # Another ledger reusing the number A-1 for a different problem: skipped, but said so.
    clash = write_xlsx(tmp_path / "另一台账.xlsx", [HEADER, ["A-1", "城关镇", "东关村", None, None,
                                                           "其他", "另一个问题", None, None]])
    other = rectify.ok("item", "import", str(clash), *args, actor="qian", as_json=True).json()
    assert (other["created"], other["skipped"]) == (0, 1)
    assert other["warnings"][1:] == ["row 3: 编号 'A-1' is already item 1, which has another "
                                     "责任单位、问题类别、问题描述; row skipped (an import never "
                                     "changes an item)"]


def test_import_writes_what_item_new_writes(rectify: Rectify, service: Service,
                                            tmp_path: Path) -> None:
    """An imported item has the same columns, 'create' history and ladder rows as `item new`
    (with and without its own 整改时限)."""
    workflow = tmp_path / "ladder.yaml"
    workflow.write_text(LADDER, "utf-8")
    service.load_workflow(workflow)
    made = [service.new_item("qian", "ladder", "village-a1", assignee="zhang", due=due,
                             values={"description": text})
            for text, due in (("自定时限", "2025-10-20"), ("按环节时限", None))]
    ledger = write_xlsx(tmp_path / "l.xlsx", [["编号", "村", "责任人", "问题描述", "整改时限"],
                                              ["L-1", "张庄村", "张三", "自定时限", "2025-10-20"],
                                              ["L-2", "张庄村", "张三", "按环节时限", None]])
    imported = rectify.ok("item", "import", str(ledger), "--workflow", "ladder", actor="qian",
                          as_json=True).json()
    assert imported["created"] == 2
    new_ids = [imported["first_id"], imported["first_id"] + 1]
    for native, copy in zip(made, new_ids, strict=True):
        a, b = _item_rows(service, native), _item_rows(service, copy)
        assert a["item"] == b["item"]
        assert a["history"] == b["history"]
        assert a["steps"] == b["steps"] and len(a["steps"]) == 2
    assert rectify.ok("audit", "verify").out.startswith("audit ok: all 4 items")


def _item_rows(service: Service, item_id: int) -> dict[str, Any]:
    with read(service.engine) as conn:
        item = dict(conn.execute(select(ITEMS).where(ITEMS.c.id == item_id)).one()._mapping)
        history = [dict(r._mapping) for r in conn.execute(
            select(HISTORY).where(HISTORY.c.item_id == item_id))]
        steps = [dict(r._mapping) for r in conn.execute(
            select(STEPS).where(STEPS.c.item_id == item_id).order_by(STEPS.c.step_index))]
    for key in ("id", "ext_key", "last_hash"):
        item.pop(key)
    for row in history:
        for key in ("id", "item_id", "hash"):
            row.pop(key)
        row["data"].pop("import", None)
    for row in steps:
        row.pop("id"), row.pop("item_id")
    return {"item": item, "history": history, "steps": steps}


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_round_trip_export_import_export(rectify: Rectify, service: Service, db_url: str,
                                         tmp_path: Path, fmt: str,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Export, import into a fresh database, export again: the same rows. Items made with
    `item new` travel as #id; importing the export back into the first database adds nothing."""
    ledger = write_xlsx(tmp_path / "台账.xlsx", [HEADER, *ROWS])
    rectify.ok("item", "import", str(ledger), "--workflow", "rectification", actor="qian")
    service.new_item("li", "rectification", "village-a2", assignee="sun", due="2025-11-30",
                     subject="household:HH-0042", values={"description": "=SUM(A1) 形似公式",
                                                          "category": "其他"})
    first = tmp_path / f"first.{fmt}"
    rectify.ok("ledger", "export", "--workflow", "rectification", "-o", str(first))
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh = prepared_service(fresh_url, FixedClock(START), tmp_path / "files2")
    other = Rectify(fresh_url, capsys, monkeypatch, now=NOW)
    imported = other.ok("item", "import", str(first), "--workflow", "rectification",
                        actor="qian", as_json=True).json()
    assert imported["created"] == 5 and imported["warnings"] == []
    second = tmp_path / f"second.{fmt}"
    other.ok("ledger", "export", "--workflow", "rectification", "-o", str(second))
    assert _cells(first) == _cells(second)
    assert len(_cells(first)) == 6
    assert _cells(first)[0][:5] == ["编号", "乡镇", "村", "对象", "问题描述"]
    again = rectify.ok("item", "import", str(first), "--workflow", "rectification",
                       actor="qian", as_json=True).json()
    assert (again["created"], again["skipped"]) == (0, 5)
    assert again["warnings"] == []  # the same content: skipped without a word
    fresh.engine.dispose()


def _cells(path: Path) -> list[list[Any]]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.reader(f))
    sheet = openpyxl.load_workbook(path).worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    return rows[2:]  # below the title and the 填报单位 line


def test_export_never_overwrites_without_force(rectify: Rectify, service: Service,
                                               tmp_path: Path) -> None:
    """An existing file: exit 2 and a clear message; --force replaces it."""
    target = tmp_path / "台账.xlsx"
    target.write_bytes(b"an office's own file")
    refused = rectify("ledger", "export", "-o", str(target))
    assert refused.code == 2
    assert refused.err.strip() == f"rectify: {target} already exists; use --force to overwrite it"
    assert target.read_bytes() == b"an office's own file"
    service.new_item("li", "rectification", "village-a1", values={"description": "一"})
    done = rectify.ok("ledger", "export", "-o", str(target), "--force", as_json=True).json()
    assert done["rows"] == 1 and done["format"] == "xlsx"
    sheet = openpyxl.load_workbook(target).worksheets[0]
    assert sheet.freeze_panes == "A4" and sheet["A3"].font.b  # below the title lines
    assert sheet.data_validations.dataValidation  # the 状态 drop-down
    assert rectify("ledger", "export", "-o", str(tmp_path / "x.csv"), "--format", "xlsx").code == 2


def test_export_streams_in_batches(rectify: Rectify, service: Service, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """More items than one batch: all exported, in id order, lights as cell colours."""
    from rectify.engine.app import ledger_rows

    monkeypatch.setattr(ledger_rows, "BATCH", 3)
    for n in range(7):
        service.new_item("li", "rectification", "village-a1", due="2025-09-26" if n == 0 else
                         None, values={"description": f"问题{n}"})
    out = tmp_path / "all.xlsx"
    rectify.ok("ledger", "export", "-o", str(out), now="2025-09-29T10:00:00+08:00")
    sheet = openpyxl.load_workbook(out).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert [r[0] for r in rows[3:]] == [f"#{n}" for n in range(1, 8)]
    light = next(c for c in sheet[3] if c.value == "亮灯").column
    assert sheet.cell(4, light).value == "红"
    assert sheet.cell(4, light).fill.fgColor.rgb == "FFC62828"  # [lights] colors: red


def test_import_without_actor_or_unknown_workflow(rectify: Rectify, service: Service,
                                                  tmp_path: Path) -> None:
    """`item import` without --as is refused (3), an unknown workflow is not found (4),
    and an .xlsx renamed .xls (not the old Excel format) is invalid input (6)."""
    ledger = write_xlsx(tmp_path / "台账.xlsx", [HEADER, *ROWS])
    assert rectify("item", "import", str(ledger), "--workflow", "rectification").code == 3
    missing = rectify("item", "import", str(ledger), "--workflow", "nope", actor="qian")
    assert missing.code == 4 and "workflow 'nope' not found" in missing.err
    other = tmp_path / "台账.xls"
    shutil.copy(ledger, other)
    bad = rectify("item", "import", str(other), "--workflow", "rectification", actor="qian")
    assert bad.code == 6 and "cannot read this .xls file" in bad.err


def test_progress_bar_goes_to_stderr_only(rectify: Rectify, service: Service, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A large file shows progress on stderr; stdout stays one JSON document."""
    import rectify.commands.ledger as cli_ledger

    monkeypatch.setattr(cli_ledger, "LARGE", 1)
    ledger = write_xlsx(tmp_path / "台账.xlsx", [HEADER, *ROWS])
    result = rectify.ok("item", "import", str(ledger), "--workflow", "rectification",
                        actor="qian", as_json=True)
    assert result.json()["created"] == 4
    assert "importing ledger" in result.err


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_console_script_exit_code_for_a_bad_row(db_url: str, service: Service,
                                                tmp_path: Path) -> None:
    """The installed `rectify` script: exit 6, the row named, nothing imported."""
    script = shutil.which("rectify", path=str(Path(sys.executable).parent)) or "rectify"
    rows = [HEADER, *ROWS, ["A-9", None, "不存在村", None, None, "其他", "坏", None, None]]
    ledger = write_xlsx(tmp_path / "台账.xlsx", rows)
    done = subprocess.run([script, "--db", db_url, "--as", "qian", "--now", NOW, "item",
                           "import", str(ledger), "--workflow", "rectification"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 6, done.stderr
    assert "台账.xlsx: row 7: unit '不存在村' is not in the org" in done.stderr
    assert count(service) == 0
