"""Reading and writing problem ledgers (问题台账): xlsx and csv, the forms offices really type."""

from __future__ import annotations

import csv
import hashlib
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType

import openpyxl
import pytest
from rectify.engine.core.errors import InvalidInput, SourceLoc
from rectify.engine.core.spec import FieldSpec, WorkflowSpec
from rectify.engine.ledgers import (
    LIGHT_FILLS,
    LedgerRow,
    RowError,
    excel_serial_to_date,
    load_mapping,
    normalize_header,
    parse_date,
    read_ledger,
    write_ledger,
)

LOC = SourceLoc("test.yaml", 1, 1)
CATEGORIES = ("信息不实", "填写不完整", "其他")


def make_spec(*extra: FieldSpec) -> WorkflowSpec:
    fields = [
        FieldSpec("description", "text", "问题描述", LOC),
        FieldSpec("category", "choice", "问题类别", LOC, choices=CATEGORIES),
        FieldSpec("measures", "text", "整改措施", LOC),
        FieldSpec("amount", "number", "金额", LOC),
        FieldSpec("found_on", "date", "发现日期", LOC),
        *extra,
    ]
    return WorkflowSpec(
        name="test", title="测试", timezone="Asia/Shanghai", calendar="cn", initial="discovered",
        fields=MappingProxyType({f.name: f for f in fields}), roles=MappingProxyType({}),
        states=MappingProxyType({}), transitions=(), file="test.yaml", loc=LOC,
    )  # fmt: skip


SPEC = make_spec()
HEADER = ["问题编号", "责任单位", "责任人", "户主", "问题描述", "问题类别", "金额", "整改时限"]


def write_xlsx(path: Path, rows: list[list[object]], *, title: str | None = None) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(rows[0]))
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def only_row(rows: list[LedgerRow], row: int) -> LedgerRow:
    (found,) = [r for r in rows if r.row == row]
    return found


# ---------------------------------------------------------------------------------------------
# Reading


def test_xlsx_with_title_row_header_notes_and_rows(tmp_path: Path) -> None:
    """An xlsx with a title row, annotated headers and mixed cell types reads into rows
    with Excel's row numbers, and unknown columns warn."""
    header = [
        "问题编号", "责任单位", "整改责任人", "户主", "问题描述（必填）", " 问题类别 ",
        "整改措施", "金额(元)", "发现日期", "整改\n时限", "备注",
    ]  # fmt: skip
    data = [
        header,
        ["WT-001", "城关镇东村", "张三", "household:HH-0001", "家庭人口信息不实", "信息不实",
         "入户核实", 1200, date(2026, 3, 2), "2026年12月1日", "无"],
        [2, "河口乡", "李四", "王五", "表格漏填", "填写不完整", None, "1,250.50元", None, 46357],
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "台账.xlsx", data, title="某县2026年问题整改台账")
    warnings: list[RowError] = []
    rows, errors = read_ledger(path, SPEC, warnings=warnings)
    assert errors == []
    assert [r.row for r in rows] == [3, 4]
    first, second = rows
    assert first == LedgerRow(
        row=3, key="WT-001", unit="城关镇东村", assignee="张三", subject="household:HH-0001",
        due=date(2026, 12, 1),
        fields={"description": "家庭人口信息不实", "category": "信息不实", "measures": "入户核实",
                "amount": 1200, "found_on": date(2026, 3, 2)},
    )  # fmt: skip
    assert second.key == "2"  # Excel stores 2 as 2.0; the key must not read "2.0"
    assert second.fields == {"description": "表格漏填", "category": "填写不完整", "amount": 1250.5}
    assert second.due == date(2026, 12, 1)
    assert [(w.row, w.column) for w in warnings] == [(2, "备注")]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    """CSV ledgers in UTF-8 with or without BOM and in GBK read to the same rows."""
    data = [HEADER, ["A-1", "城关镇", "张三", "王五", "低保信息不实", "其他", "3", "2026/12/1"]]
    path = write_csv(tmp_path / "ledger.csv", data, encoding)
    rows, errors = read_ledger(path, SPEC)
    assert errors == []
    assert rows == [
        LedgerRow(2, "A-1", "城关镇", "张三", "王五", date(2026, 12, 1),
                  {"description": "低保信息不实", "category": "其他", "amount": 3}),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("2026/12/1", date(2026, 12, 1)),
        ("2026.12.1", date(2026, 12, 1)),
        ("2026年12月1日", date(2026, 12, 1)),
        ("２０２６年１２月１日", date(2026, 12, 1)),
        ("2026-12-01 00:00:00", date(2026, 12, 1)),
        ("20261201", date(2026, 12, 1)),
        (20261201, date(2026, 12, 1)),
        ("46357", date(2026, 12, 1)),
        (46357, date(2026, 12, 1)),
        (46357.75, date(2026, 12, 1)),
        (date(2026, 12, 1), date(2026, 12, 1)),
        (datetime(2026, 12, 1, 9, 30), date(2026, 12, 1)),
    ],
)
def test_date_forms(value: object, expected: date) -> None:
    """Every date form offices type (ISO, slashes, dots, 年月日, full-width, compact,
    Excel serials, date cells) parses to the same date."""
    assert parse_date(value) == expected


def test_excel_serials_around_the_1900_leap_year_bug() -> None:
    """Excel serials on both sides of the phantom 1900-02-29 convert correctly, and
    serial 60 itself is refused."""
    assert excel_serial_to_date(1) == date(1900, 1, 1)
    assert excel_serial_to_date(59) == date(1900, 2, 28)
    assert excel_serial_to_date(61) == date(1900, 3, 1)
    with pytest.raises(ValueError, match="does not exist"):
        excel_serial_to_date(60)


@pytest.mark.parametrize(
    "value", ["2026-02-30", "2026年13月1日", "明天", "2026", 2026, "12/1/2026"]
)
def test_bad_dates_raise(value: object) -> None:
    """Impossible dates, words, a year alone and the US month/day form are refused with
    ValueError."""
    with pytest.raises(ValueError):
        parse_date(value)


def test_date_forms_in_an_xlsx_column(tmp_path: Path) -> None:
    """The date forms read the same when they come as xlsx cells (text, numbers, date
    and datetime cells)."""
    cells = ["2026-12-01", "2026/12/1", "2026.12.1", "2026年12月1日", "20261201", 46357,
             date(2026, 12, 1), datetime(2026, 12, 1, 17, 0)]  # fmt: skip
    data = [["编号", "问题描述", "整改时限"]] + [[i, "x", v] for i, v in enumerate(cells)]
    rows, errors = read_ledger(write_xlsx(tmp_path / "d.xlsx", data), SPEC)
    assert errors == []
    assert [r.due for r in rows] == [date(2026, 12, 1)] * len(cells)


def test_every_bad_row_is_reported_with_its_excel_row(tmp_path: Path) -> None:
    """Every bad cell of the file is reported with Excel's row number and the column
    header; blank rows are skipped and good rows kept."""
    good = ["城关镇", "张三", "王五", "描述", "其他", 1, "2026-12-01"]
    data = [
        HEADER,
        ["K1", *good],                                            # row 3
        ["K2", *good],                                            # row 4
        ["K3", *good[:4], "瞎填", *good[5:]],                      # row 5: bad choice
        ["K4", *good],                                            # row 6
        [None] * 8,                                               # row 7: blank, skipped
        ["K5", *good],                                            # row 8
        ["K6", *good[:5], "一千", "2026-02-30"],                   # row 9: bad number and date
        ["K7", *good],                                            # row 10
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "bad.xlsx", data, title="台账")
    rows, errors = read_ledger(path, SPEC)
    assert [(e.row, e.column) for e in errors] == [(5, "问题类别"), (9, "金额"), (9, "整改时限")]
    assert "信息不实, 填写不完整, 其他" in errors[0].message
    assert "no such date" in errors[2].message
    assert [r.row for r in rows] == [3, 4, 6, 8, 10]


def test_duplicate_key_is_an_error_on_the_later_row(tmp_path: Path) -> None:
    """A repeated 问题编号 is an error on the later row, naming the first."""
    data = [
        HEADER,
        ["A-1", "镇", "", "", "一", "", "", ""],
        ["A-1", "镇", "", "", "二", "", "", ""],
    ]
    rows, errors = read_ledger(write_csv(tmp_path / "dup.csv", data), SPEC)
    assert [r.row for r in rows] == [2]
    assert [str(e) for e in errors] == ["row 3, column 问题编号: duplicate 问题编号 'A-1': "
                                        "also row 2"]


def test_fallback_key_is_a_content_hash_and_format_independent(tmp_path: Path) -> None:
    """Without a key column the key is the documented content hash, the same from csv
    and xlsx and with whitespace collapsed."""
    header = ["责任单位", "问题描述", "金额", "整改时限"]
    csv_rows, _ = read_ledger(
        write_csv(tmp_path / "a.csv", [header, ["东村", "信息  不实", "12", "2026/12/1"]]), SPEC
    )
    xlsx_rows, _ = read_ledger(
        write_xlsx(tmp_path / "a.xlsx", [header, ["东村", "信息 不实", 12, date(2026, 12, 1)]]),
        SPEC,
    )
    canonical = "@due=2026-12-01\n@unit=东村\namount=12\ndescription=信息 不实"
    expected = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert csv_rows[0].key == xlsx_rows[0].key == expected


def test_identical_rows_without_key_are_duplicates(tmp_path: Path) -> None:
    """Two rows with the same content and no key column are duplicates: the later one
    is an error for the whole row."""
    data = [["单位", "问题描述"], ["东村", "同一问题"], ["西村", "别的"], ["东村", "同一问题"]]
    rows, errors = read_ledger(write_csv(tmp_path / "same.csv", data), SPEC)
    assert [r.row for r in rows] == [2, 3]
    assert [(e.row, e.column) for e in errors] == [(4, None)]


def test_empty_key_cell_falls_back_and_prefilled_serials_are_blank(tmp_path: Path) -> None:
    """An empty key cell falls back to the content hash, and rows holding only a
    pre-filled 序号 are blank, not errors."""
    data = [["序号", "问题描述"], ["1", "有内容"], ["", "编号没填"], ["3", ""], ["4", ""]]
    rows, errors = read_ledger(write_csv(tmp_path / "k.csv", data), SPEC)
    assert errors == []
    assert [(r.row, len(r.key)) for r in rows] == [(2, 1), (3, 16)]


def test_unit_columns_most_specific_wins_and_merged_cells_fill_down(tmp_path: Path) -> None:
    """The most specific unit column (村 over 乡镇) wins per row, and a merged 乡镇 cell
    fills down its rows."""
    path = tmp_path / "merged.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["某县台账"])
    sheet.merge_cells("A1:D1")
    sheet.append(["乡镇", "村（社区）", "问题描述", "编号"])
    sheet.append(["城关镇", "东村", "一", "1"])
    sheet.append([None, None, "二", "2"])
    sheet.append([None, "西村", "三", "3"])
    sheet.merge_cells("A3:A5")
    book.save(path)
    rows, errors = read_ledger(path, SPEC)
    assert errors == []
    assert [(r.row, r.unit) for r in rows] == [(3, "东村"), (4, "城关镇"), (5, "西村")]


def test_mapping_overrides_headers(tmp_path: Path) -> None:
    """A column mapping sends headers to built-ins or fields and `-` drops a column,
    beating the built-in matching."""
    data = [
        ["问题情况", "所在片区", "联系人", "问题类别", "问题描述", "期限"],
        ["漏填", "东片", "赵六", "不在选项里", "这列被忽略", "2026-12-01"],
    ]
    mapping = {"问题情况": "description", "所在片区": "unit", "联系人": "assignee",
               "问题类别": "-", "问题描述": "-", "期限": "due"}  # fmt: skip
    warnings: list[RowError] = []
    rows, errors = read_ledger(
        write_csv(tmp_path / "m.csv", data), SPEC, mapping, warnings=warnings
    )
    assert errors == [] and warnings == []
    (row,) = rows
    assert (row.unit, row.assignee, row.due) == ("东片", "赵六", date(2026, 12, 1))
    assert row.fields == {"description": "漏填"}


def test_load_mapping_file(tmp_path: Path) -> None:
    """A YAML mapping file is read (null means ignore) and its targets may be field
    labels; headers match in normalised form."""
    path = tmp_path / "mapping.yaml"
    path.write_text("columns:\n  问题情况: description\n  联系人: assignee\n  备注: null\n"
                    "  金额（万元）: 金额\n", encoding="utf-8")  # fmt: skip
    mapping = load_mapping(path)
    assert mapping == {"问题情况": "description", "联系人": "assignee", "备注": "-",
                       "金额（万元）": "金额"}  # fmt: skip
    data = [["问题情况", "金额(万元)"], ["x", "2"]]
    rows, errors = read_ledger(write_csv(tmp_path / "m.csv", data), SPEC, mapping)
    assert errors == [] and rows[0].fields == {"description": "x", "amount": 2}


def test_bad_mapping_file_and_unknown_target(tmp_path: Path) -> None:
    """A malformed mapping file is refused at its line and column, and a mapping naming
    an unknown field is refused."""
    path = tmp_path / "bad.yaml"
    path.write_text("columns:\n  问题情况: [description]\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"bad.yaml:2:3"):
        load_mapping(path)
    csv_path = write_csv(tmp_path / "x.csv", [["问题描述", "单位"], ["x", "y"]])
    with pytest.raises(InvalidInput, match="no_such_field"):
        read_ledger(csv_path, SPEC, {"单位": "no_such_field"})


def test_mapping_file_needs_columns_and_missing_headers_warn(tmp_path: Path) -> None:
    """A mapping file needs a `columns:` table, and a mapped header absent from the
    file is a warning."""
    path = tmp_path / "flat.yaml"
    path.write_text("问题情况: description\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="columns"):
        load_mapping(path)
    warnings: list[RowError] = []
    data = [["问题描述", "单位"], ["x", "东村"]]
    read_ledger(
        write_csv(tmp_path / "w.csv", data), SPEC, {"联系人": "assignee"}, warnings=warnings
    )
    assert [(w.row, w.column, str(w.message)) for w in warnings] == [
        (1, "联系人", "mapped column not in this file")
    ]


def test_file_level_problems_raise(tmp_path: Path) -> None:
    """An unreadable format, a sheet with only a title and a sheet without any known
    column raise InvalidInput with the reason."""
    other = tmp_path / "ledger.numbers"  # Apple's: not one rectify reads
    other.write_bytes(b"PK\x03\x04")
    with pytest.raises(InvalidInput, match=r"save the ledger as \.xlsx"):
        read_ledger(other, SPEC)
    title_only = write_csv(tmp_path / "t.csv", [["某县台账"], [], ["制表人：张三"]])
    with pytest.raises(InvalidInput, match="no header row"):
        read_ledger(title_only, SPEC)
    unknown = write_csv(tmp_path / "u.csv", [["甲", "乙"], ["1", "2"]])
    with pytest.raises(InvalidInput, match="no column matches"):
        read_ledger(unknown, SPEC)


@pytest.mark.parametrize(
    "header",
    ["问题描述", " 问题描述 ", "问题描述（必填）", "问题描述(必填)", "*问题描述", "问题\n描述"],
)
def test_header_normalization(header: str) -> None:
    """Spaces, line breaks, full-width brackets, required-markers and bracketed notes
    do not stop a header matching."""
    assert normalize_header(header) == "问题描述"


def test_bool_fields_files_fields_and_progress(tmp_path: Path) -> None:
    """Yes/no cells parse as booleans (others are row errors), files fields are ignored
    with a warning, and progress reaches the total."""
    spec = make_spec(
        FieldSpec("public", "bool", "是否公示", LOC),
        FieldSpec("evidence", "files", "佐证材料", LOC),
    )
    data = [
        ["问题描述", "是否公示", "佐证材料"],
        ["a", "是", "x.jpg"],
        ["b", "否", ""],
        ["c", "也许", ""],
    ]
    warnings: list[RowError] = []
    calls: list[tuple[int, int]] = []
    rows, errors = read_ledger(
        write_csv(tmp_path / "b.csv", data), spec, progress=lambda d, t: calls.append((d, t)),
        warnings=warnings,
    )  # fmt: skip
    assert [r.fields for r in rows] == [{"description": "a", "public": True},
                                        {"description": "b", "public": False}]  # fmt: skip
    assert [(e.row, e.column) for e in errors] == [(4, "是否公示")]
    assert [w.column for w in warnings] == ["佐证材料"]
    assert calls[-1] == (3, 3)


def test_duplicate_field_columns_are_an_error(tmp_path: Path) -> None:
    """Two columns feeding the same field (label and name) are an error on the header row."""
    data = [["问题描述", "description"], ["a", "b"]]
    _, errors = read_ledger(write_csv(tmp_path / "two.csv", data), SPEC)
    assert [(e.row, e.column) for e in errors] == [(1, "description")]


# ---------------------------------------------------------------------------------------------
# Writing

COLUMNS = [
    ("key", "问题编号"), ("unit", "责任单位"), ("assignee", "责任人"), ("due", "整改时限"),
    ("description", "问题描述"), ("category", "问题类别"), ("amount", "金额"),
    ("found_on", "发现日期"), ("status", "状态"), ("light", "红黄绿灯"),
]  # fmt: skip
STATUSES = ("发现问题", "整改中", "待验收", "已销号")


def export_rows() -> list[dict[str, object]]:
    return [
        {"key": "A-1", "unit": "东村", "assignee": "张三", "due": date(2026, 12, 1),
         "description": "=HYPERLINK(\"x\")", "category": "其他", "amount": 1200.5,
         "found_on": date(2026, 3, 2), "status": "整改中", "light": "green"},
        {"key": "A-2", "unit": "西村", "assignee": None, "due": None, "description": "-漏填-",
         "category": "信息不实", "amount": 3, "found_on": None, "status": "待验收",
         "light": "yellow"},
        {"key": "A-3", "unit": "南村", "assignee": "李四", "due": date(2027, 1, 5),
         "description": "逾期", "category": "填写不完整", "amount": None,
         "found_on": date(2026, 1, 1), "status": "整改中", "light": "red"},
    ]  # fmt: skip


def test_write_xlsx_styles_freeze_lights_and_dropdown(tmp_path: Path) -> None:
    """An xlsx export has a bold frozen header, sized columns, coloured 绿/黄/红 lights, a
    status drop-down, and formulas kept as text."""
    path = tmp_path / "out.xlsx"
    count = write_ledger(export_rows(), COLUMNS, path, "xlsx", light_column="light",
                         status_choices=STATUSES)  # fmt: skip
    assert count == 3
    sheet = openpyxl.load_workbook(path).active
    assert [c.value for c in sheet[1]] == [h for _, h in COLUMNS]
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["E"].width >= 8
    lights = [(sheet.cell(r, 10).value, sheet.cell(r, 10).fill.fgColor.rgb) for r in (2, 3, 4)]
    assert lights == [("绿", LIGHT_FILLS["green"]), ("黄", LIGHT_FILLS["yellow"]),
                      ("红", LIGHT_FILLS["red"])]  # fmt: skip
    (validation,) = sheet.data_validations.dataValidation
    assert validation.type == "list" and validation.formula1 == '"发现问题,整改中,待验收,已销号"'
    assert "I2" in validation.sqref
    assert sheet["E2"].value == '=HYPERLINK("x")' and sheet["E2"].data_type == "s"
    assert sheet["D2"].value.date() == date(2026, 12, 1)


def test_long_status_lists_go_to_a_hidden_sheet(tmp_path: Path) -> None:
    """A status list too long for an inline drop-down goes to a hidden sheet the
    validation points at."""
    choices = [f"状态{i:03d}，很长的说明文字" for i in range(40)]
    write_ledger([{"status": choices[0]}], [("status", "状态")], tmp_path / "s.xlsx", "xlsx",
                 status_choices=choices)  # fmt: skip
    book = openpyxl.load_workbook(tmp_path / "s.xlsx")
    assert book["选项"].sheet_state == "hidden"
    (validation,) = book["台账"].data_validations.dataValidation
    assert validation.formula1 == "'选项'!$A$1:$A$40"


def test_csv_round_trip(tmp_path: Path) -> None:
    """A CSV export has a BOM, defuses formula-like text, and reads back through
    read_ledger to the same rows."""
    path = tmp_path / "out.csv"
    write_ledger(export_rows(), COLUMNS, path, "csv", light_column="light")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "'=HYPERLINK" in path.read_text(encoding="utf-8-sig")  # defused for Excel
    rows, errors = read_ledger(path, SPEC)
    assert errors == []
    for got, sent in zip(rows, export_rows(), strict=True):
        assert (got.key, got.unit, got.assignee, got.due) == (
            sent["key"],
            sent["unit"],
            sent["assignee"],
            sent["due"],
        )
        expected = {k: sent[k] for k in ("description", "category", "amount", "found_on")}
        assert got.fields == {k: v for k, v in expected.items() if v is not None}


def test_xlsx_round_trip_through_read_ledger(tmp_path: Path) -> None:
    """An xlsx export reads back through read_ledger with numbers and formula-like text intact."""
    path = tmp_path / "out.xlsx"
    write_ledger(export_rows(), COLUMNS, path, "xlsx", light_column="light")
    rows, errors = read_ledger(path, SPEC)
    assert errors == []
    assert [r.fields.get("amount") for r in rows] == [1200.5, 3, None]
    assert rows[0].fields["description"] == '=HYPERLINK("x")'


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    """Export refuses to overwrite an existing file without force, replaces it with
    force, and leaves no temporary file."""
    path = tmp_path / "out.csv"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(FileExistsError, match="--force"):
        write_ledger(export_rows(), COLUMNS, path, "csv")
    assert path.read_text(encoding="utf-8") == "old"
    write_ledger(export_rows(), COLUMNS, path, "csv", force=True)
    assert path.read_text(encoding="utf-8-sig").startswith("问题编号,")
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temp file left behind
