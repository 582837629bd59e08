"""`write_ledger`: rows -> an xlsx or csv ledger as offices print it (exports, reports).

The file is written beside the target and moved into place, so a failed export never leaves
half a file; CSV cells that Excel would run as formulas are defused (`csv_cell`).
"""

from __future__ import annotations

import csv
import json
import os
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from itertools import chain, islice
from pathlib import Path
from typing import Literal

from .cells import FORMULA_START, PLAIN_NUMBER

__all__ = ["HEADER_FILL", "LIGHT_FILLS", "LIGHT_LABELS", "csv_cell", "write_ledger"]

LIGHT_LABELS: Mapping[str, str] = {"green": "绿", "yellow": "黄", "red": "红"}
LIGHT_FILLS: Mapping[str, str] = {"green": "FF63BE7B", "yellow": "FFFFD966", "red": "FFF8696B"}
HEADER_FILL = "FFD9E1F2"
_WIDTH_SAMPLE = 200  # rows looked at to size xlsx columns

def write_ledger(
    rows: Iterable[Mapping[str, object]],
    columns: Sequence[tuple[str, str]],
    path: Path,
    fmt: Literal["xlsx", "csv"],
    *,
    light_column: str | None = None,
    status_choices: Sequence[str] = (),
    status_column: str = "status",
    force: bool = False,
) -> int:
    """Write rows as a ledger; `columns` are (row key, header text) pairs. Returns rows written.

    xlsx: bold filled header, frozen header row, column widths, the light column shown as
    绿/黄/红 on a matching fill, a drop-down of `status_choices` on `status_column`.
    csv: UTF-8 with BOM so Excel shows the Chinese. The file is written beside the target and
    moved into place, so a failed export never leaves half a file.
    """
    path = Path(path)
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"unknown ledger format {fmt!r}: use xlsx or csv")
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; use --force to overwrite it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "xlsx":
            count = _write_xlsx(rows, columns, tmp, light_column, status_choices, status_column)
        else:
            count = _write_csv(rows, columns, tmp, light_column)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _plain(value: object) -> object:
    """A value as a spreadsheet cell holds it: None, str, number, date or datetime."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: keep the wall time
    if value is None or isinstance(value, (str, int, float, date)):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (list, tuple, set, frozenset)):
        return "、".join(str(v) for v in value)
    return str(value)


def _light(value: object) -> tuple[object, str | None]:
    """(displayed text, fill colour) of a traffic-light cell."""
    if isinstance(value, str) and value in LIGHT_LABELS:
        return LIGHT_LABELS[value], LIGHT_FILLS[value]
    return _plain(value), None


def csv_cell(value: object) -> str:
    """A cell as CSV text. Text starting with =, +, - or @ (and not a number) gets a leading
    quote so Excel shows it instead of running it as a formula; read_ledger drops the quote."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    formula_like = isinstance(value, str) and text.lstrip()[:1] in FORMULA_START
    if formula_like and not PLAIN_NUMBER.fullmatch(text.strip()):  # "-3" is just a number
        return "'" + text
    return text


def _write_csv(
    rows: Iterable[Mapping[str, object]],
    columns: Sequence[tuple[str, str]],
    path: Path,
    light_column: str | None,
) -> int:
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([header for _, header in columns])
        for row in rows:
            writer.writerow(
                [
                    csv_cell(_light(row.get(k))[0] if k == light_column else row.get(k))
                    for k, _ in columns
                ]
            )
            count += 1
    return count


def _display_width(value: object) -> int:
    text = csv_cell(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text[:80])


def _column_widths(
    columns: Sequence[tuple[str, str]], sample: Sequence[Mapping[str, object]]
) -> list[int]:
    """Width per column from the header and the first rows; CJK characters count double."""
    widths = []
    for key, header in columns:
        longest = max([_display_width(header), *(_display_width(r.get(key)) for r in sample)])
        widths.append(min(60, max(8, longest + 2)))
    return widths


def _write_xlsx(
    rows: Iterable[Mapping[str, object]],
    columns: Sequence[tuple[str, str]],
    path: Path,
    light_column: str | None,
    status_choices: Sequence[str],
    status_column: str,
) -> int:
    from openpyxl import Workbook  # imported late: only xlsx writes need it
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)  # streams rows: 80k rows stay fast and small in memory
    sheet = book.create_sheet("台账")
    iterator = iter(rows)
    head = list(islice(iterator, _WIDTH_SAMPLE))
    for number, width in enumerate(_column_widths(columns, head), 1):
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(_header_cells(sheet, columns))
    cells = _XlsxCells(sheet, light_column)
    count = 0
    for row in chain(head, iterator):
        sheet.append([cells.make(key, row.get(key)) for key, _ in columns])
        count += 1
    keys = [key for key, _ in columns]
    if status_choices and status_column in keys:
        _add_status_dropdown(book, sheet, keys.index(status_column) + 1, status_choices)
    book.save(path)
    return count


def _header_cells(sheet, columns: Sequence[tuple[str, str]]) -> list[object]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill

    font, fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    align = Alignment(horizontal="center", vertical="center", wrap_text=True)
    cells = []
    for _, header in columns:
        cell = WriteOnlyCell(sheet, header)
        cell.font, cell.fill, cell.alignment = font, fill, align
        cells.append(cell)
    return cells


class _XlsxCells:
    """Builds write-only cells; plain values pass through, styled cells only where needed."""

    def __init__(self, sheet, light_column: str | None) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import PatternFill

        self.sheet, self.light_column, self.cell_type = sheet, light_column, WriteOnlyCell
        self.illegal = ILLEGAL_CHARACTERS_RE
        self.fills = {c: PatternFill("solid", fgColor=c) for c in LIGHT_FILLS.values()}

    def make(self, key: str, value: object) -> object:
        fill = None
        if key == self.light_column:
            value, fill = _light(value)
        else:
            value = _plain(value)
        if isinstance(value, str):
            # Control characters pasted from other systems make openpyxl refuse the whole file.
            text: str = self.illegal.sub("", value)
            if text.startswith("=") or fill:
                cell = self.cell_type(self.sheet, text)
                cell.data_type = "s"  # text, never a formula
                if fill:
                    cell.fill = self.fills[fill]
                return cell
            return text
        return value


def _add_status_dropdown(book, sheet, column: int, choices: Sequence[str]) -> None:
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    inline = ",".join(choices)
    if len(inline) <= 250 and not any("," in c or '"' in c for c in choices):
        formula = f'"{inline}"'
    else:
        # Excel caps an inline list at 255 characters and has no escape for commas: use a sheet.
        lists = book.create_sheet("选项")
        lists.sheet_state = "hidden"
        for choice in choices:
            lists.append([choice])
        formula = f"'选项'!$A$1:$A${len(choices)}"
    validation = DataValidation(type="list", formula1=formula, allow_blank=True)
    validation.showErrorMessage = True
    validation.error = "请从下拉列表中选择"
    letter = get_column_letter(column)
    validation.add(f"{letter}2:{letter}1048576")  # the whole column, for rows added later too
    sheet.data_validations.append(validation)
