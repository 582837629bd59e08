"""Ledgers as offices have them (issue 22, point 5): .xls and .ods files (real ones, converted
from an .xlsx by LibreOffice and kept in tests/fixtures/ledgers), 整改时限 written as words
(立行立改, 长期坚持, 2025年12月底前 …), and large ledgers read and written a chunk at a time
(issue 18): a large .xlsx streamed from its XML reads exactly as calamine reads it whole."""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from rectify.engine.app import ledger_import
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.ledgers import formats, read_ledger
from rectify.engine.ledgers.cells import RelativeDue, parse_due
from rectify.engine.store.db import read
from rectify.engine.store.items import ITEMS
from sqlalchemy import func, select

from .cli_inprocess import Rectify, prepared_service, write_csv
from .conftest import FIXTURES, START

NOW = "2025-09-26T10:00:00+08:00"  # START: a Friday
LEDGERS = FIXTURES / "ledgers"


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Any:
    svc = prepared_service(db_url, FixedClock(START), tmp_path / "files")
    yield svc
    svc.engine.dispose()


@pytest.fixture
def rectify(db_url: str, service: Service, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    return Rectify(db_url, capsys, monkeypatch, now=NOW)


def _dues(rectify: Rectify) -> dict[str, str | None]:
    """编号 -> the item's deadline, as `item list --json` shows it."""
    listed = rectify.ok("item", "list", as_json=True).json()
    with read(rectify_service_engine(rectify)) as conn:
        keys = dict(conn.execute(select(ITEMS.c.id, ITEMS.c.ext_key)).all())
    return {keys[i["id"]]: i["due_at"] for i in listed}


def rectify_service_engine(rectify: Rectify) -> Any:
    from rectify.engine.store.db import open_engine

    return open_engine(rectify.url)


@pytest.mark.parametrize("name", ["ledger.xls", "ledger.ods", "ledger.xlsx"])
def test_xls_and_ods_ledgers_import(rectify: Rectify, name: str) -> None:
    """An Excel 97-2003 .xls and a LibreOffice .ods (made from the same .xlsx) import through
    the real CLI like the .xlsx: four items, the merged 乡镇 and the 整改时限 words read —
    a date cell, 2025年12月底前 (Dec 31), 立行立改 (today) and 长期坚持 (no own deadline)."""
    done = rectify.ok("item", "import", str(LEDGERS / name), "--workflow", "rectification",
                      actor="li", as_json=True).json()
    assert done["created"] == 4, done
    assert _dues(rectify) == {"DY-001": "2025-10-31T23:59:59+08:00",
                              "DY-002": "2025-12-31T23:59:59+08:00",
                              "DY-003": "2025-09-26T23:59:59+08:00",
                              "DY-004": None}
    again = rectify.ok("item", "import", str(LEDGERS / name), "--workflow", "rectification",
                       actor="li", as_json=True).json()
    assert (again["created"], again["skipped"]) == (0, 4)


@pytest.mark.parametrize(("cell", "expected"), [
    ("2025年12月底前", date(2025, 12, 31)), ("2026年2月底", date(2026, 2, 28)),
    ("2025年12月31日前", date(2025, 12, 31)), ("2025年11月中旬", date(2025, 11, 20)),
    ("2025年11月上旬前", date(2025, 11, 10)), ("2025年10月下旬", date(2025, 10, 31)),
    ("2025年底前", date(2025, 12, 31)), ("2026年上半年", date(2026, 6, 30)),
    ("2025年第四季度末", date(2025, 12, 31)), ("2026年一季度", date(2026, 3, 31)),
    ("2025-12", date(2025, 12, 31)), ("2025年12月份前完成", date(2025, 12, 31)),
    ("立行立改", date(2025, 9, 26)), ("长期坚持", None), ("常态化", None),
    ("12月底前", date(2025, 12, 31)), ("3月底", date(2026, 3, 31)),  # the next such day
])  # fmt: skip
def test_due_words(cell: str, expected: date | None) -> None:
    """整改时限 as offices write them, each the day it means on 2025-09-26."""
    parsed = parse_due(cell)
    day = parsed.resolve(date(2025, 9, 26)) if isinstance(parsed, RelativeDue) else parsed
    assert day == expected


@pytest.mark.parametrize("cell", ["尽快", "2025年", "2025年13月底", "2026-02-30", "下周"])
def test_due_words_that_mean_no_day_are_errors(cell: str) -> None:
    """A 时限 that names no day is a row error in the user's words, not a silent blank."""
    with pytest.raises(ValueError, match=r"整改时限|no such date|no month"):
        parse_due(cell)


def test_due_words_keep_the_content_key(tmp_path: Path) -> None:
    """A row without 编号 whose 时限 is 立行立改 has the same key whichever day it is read:
    importing the file again later skips it instead of creating it twice."""
    from .test_ledger import SPEC

    path = write_csv(tmp_path / "l.csv", [["村", "问题描述", "整改时限"],
                                          ["张庄村", "户籍信息与实际不符", "立行立改"]])
    rows, errors = read_ledger(path, SPEC)
    assert not errors and rows[0].due == RelativeDue("立行立改", "today")
    assert rows[0].key == read_ledger(path, SPEC)[0][0].key


def _varied_ledger(path: Path, rows: int) -> Path:
    """A ledger with what a streamed read must get right: a merged title, a 乡镇 merged down,
    shared strings, date cells in two formats, numbers, booleans, blank rows and gaps."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["某县问题整改台账"])
    sheet.merge_cells("A1:F1")
    sheet.append(["问题编号", "乡镇", "村", "问题描述", "金额", "整改时限"])
    pick = random.Random(7)
    for n in range(rows):
        line = n + 3
        if n % 17 == 5:
            sheet.append([])  # a blank row in the middle: no <row> in the XML at all
            continue
        due: Any = datetime(2025, 10, 1 + n % 28) if n % 3 else f"2025年{1 + n % 12}月底前"
        sheet.append([f"K-{n}", "大杨集镇" if n % 10 == 0 else None, f"村{n % 7}",
                      f"问题{pick.randint(0, 50)}", n * 1.5 if n % 4 else n, due])
        if n % 3 == 1:
            sheet.cell(line, 6).number_format = "yyyy\"年\"m\"月\"d\"日\""
        if n % 10 == 0:
            sheet.merge_cells(f"B{line}:B{line + 4}")
    book.save(path)
    return path


def test_streamed_xlsx_reads_as_calamine_does(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The same .xlsx read whole by calamine and streamed from its XML (as a sheet larger than
    WHOLE_XLSX is) gives the same rows, keys, dates, numbers, merged units and errors."""
    from .test_ledger import SPEC as spec

    path = _varied_ledger(tmp_path / "big.xlsx", 300)
    whole = read_ledger(path, spec)
    monkeypatch.setattr(formats, "WHOLE_XLSX", 0)
    streamed = read_ledger(path, spec)
    assert streamed == whole
    # 18 blank rows; those under a merged 乡镇 are rows of that unit (and duplicates)
    assert len(whole[0]) == 300 - 18 + 1 and whole[1]  # duplicates of the blank ones
    assert {r.unit_context for r in whole[0][:5]} == {("大杨集镇",)}  # merged down, streamed too


def test_import_writes_a_chunk_at_a_time_and_a_late_bad_row_undoes_all(
        rectify: Rectify, service: Service, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are written CHUNK at a time (never all items in memory at once); a bad row after
    several chunks were written still leaves nothing in the database, and is named."""
    written: list[int] = []
    insert = ledger_import.store.insert_items

    def counting(conn: Any, new: Any, *args: Any) -> Any:
        written.append(len(new))
        return insert(conn, new, *args)

    monkeypatch.setattr(ledger_import, "CHUNK", 3)
    monkeypatch.setattr(ledger_import.store, "insert_items", counting)
    rows = [[f"C-{n}", "张庄村", f"问题{n}", "2025-10-31"] for n in range(10)]
    good = write_csv(tmp_path / "good.csv", [["问题编号", "村", "问题描述", "整改时限"], *rows])
    rectify.ok("item", "import", str(good), "--workflow", "rectification", actor="li")
    assert written == [3, 3, 3, 1]
    rows = [[f"D-{n}", "张庄村", f"问题{n}", "2025-10-31"] for n in range(10)]
    rows[8][1] = "不存在村"
    bad = write_csv(tmp_path / "bad.csv", [["问题编号", "村", "问题描述", "整改时限"], *rows])
    result = rectify("item", "import", str(bad), "--workflow", "rectification", actor="li")
    assert result.code == 6 and "row 10: unit '不存在村' is not in the org" in result.err
    with read(service.engine) as conn:
        assert conn.execute(select(func.count()).select_from(ITEMS)).scalar_one() == 10
