"""xlsx ledgers: each `LedgerSheet` streamed through openpyxl's write-only mode (80k rows stay
fast and small in memory) and laid out for paper (`paper.py`).

The header is bold on a blue-grey fill; the light column shows 绿/黄/红 on a matching fill; a
drop-down of the states goes on the status column; dates are date cells; text is always text,
never a formula; control characters (which make openpyxl refuse the whole file) are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import Any

from . import paper
from .sheets import HEADER_FILL, LedgerSheet, argb, csv_cell, light_cell, plain, text_on
from .styles import StyleOnce

__all__ = ["write_xlsx"]

_BAD_NAME = str.maketrans({c: "_" for c in "[]:*?/\\"})


def write_xlsx(sheets: Sequence[LedgerSheet], path: Path) -> list[int]:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    names: set[str] = set()
    lists = _ChoiceLists(book)
    counts = [_write_sheet(book.create_sheet(_sheet_name(s.name, names)), s, lists)
              for s in sheets]
    book.save(path)
    return counts


def _sheet_name(wanted: str, taken: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique in the book."""
    base = (wanted.translate(_BAD_NAME).strip("'") or "台账")[:31]
    name, n = base, 2
    while name.lower() in taken or name == "选项":
        name = f"{base[:28]}({n})"
        n += 1
    taken.add(name.lower())
    return name


def _write_sheet(ws: Any, sheet: LedgerSheet, lists: _ChoiceLists) -> int:
    rows = iter(sheet.rows)
    head = list(islice(rows, paper.WIDTH_SAMPLE))
    plan = paper.plan_columns(sheet.columns, head, csv_cell)
    above = paper.title_rows(ws, sheet.title, sheet.subtitle)
    header_row = len(above) + 1
    paper.prepare(ws, plan, header_row)
    for row in above:
        ws.append(row)
    ws.append(_header_cells(ws, sheet.columns))
    cells = _Cells(ws, sheet, plan)
    count = 0
    for item in chain(head, rows):
        values, lines = cells.row(item)
        number = header_row + count + 1
        if lines > 1:  # a streamed row's height cannot be fitted later: give it room now
            ws.row_dimensions[number].height = paper.LINE_HEIGHT * lines + 2
            ws.append(values)
            # Read when the row was written, never again: kept, a million wrapped rows'
            # dimensions held 450 MB until the file was saved.
            del ws.row_dimensions[number]
        else:
            ws.append(values)
        count += 1
    keys = [key for key, _ in sheet.columns]
    if sheet.status_choices and sheet.status_column in keys:
        _add_status_dropdown(ws, keys.index(sheet.status_column) + 1, sheet.status_choices,
                             header_row, lists)
    paper.finish(ws, header_row=header_row, rows=count, columns=len(keys), paper=plan.paper)
    return count


def _header_cells(ws: Any, columns: Sequence[tuple[str, str]]) -> list[object]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill

    font, fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    align = Alignment(horizontal="center", vertical="center", wrap_text=True)
    cells = []
    for _, header in columns:
        cell = WriteOnlyCell(ws, header)
        cell.font, cell.fill, cell.alignment = font, fill, align
        cells.append(cell)
    return cells


class _Cells:
    """Builds one row's cells: plain values pass through (openpyxl's fast path), a styled cell
    only where needed (a light, text that wraps, text that looks like a formula)."""

    def __init__(self, ws: Any, sheet: LedgerSheet, plan: paper.ColumnPlan) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import Alignment, Font, PatternFill

        self.ws, self.cell_type, self.illegal = ws, WriteOnlyCell, ILLEGAL_CHARACTERS_RE
        self.keys = [key for key, _ in sheet.columns]
        self.light = sheet.light_column
        self.wrap = {k: w for k, w, wraps in zip(self.keys, plan.widths, plan.wrap, strict=True)
                     if wraps}
        self.lines = 1
        self.colors = sheet.light_colors
        fills = {argb(c) for c in self.colors.values()}
        self.fills = {c: (PatternFill("solid", fgColor=c), Font(color=text_on(c))) for c in fills}
        self.centre = Alignment(horizontal="center")
        self.wrapped = Alignment(wrap_text=True)  # bottom, as every unstyled cell of the row
        self.styles = StyleOnce()  # a light of each colour, a wrapped text
        self.fill_styles = {c: partial(self._filled, fill=c) for c in self.fills}

    def row(self, values: Any) -> tuple[list[object], int]:
        """The row's cells, and how many lines its tallest wrapped cell needs."""
        self.lines = 1
        return [self.make(key, values.get(key)) for key in self.keys], self.lines

    def make(self, key: str, value: object) -> object:
        fill = None
        if key == self.light:
            value, fill = light_cell(value, self.colors)
        else:
            value = plain(value)
        if not isinstance(value, str):
            return value
        # Control characters pasted from other systems make openpyxl refuse the whole file.
        text: str = self.illegal.sub("", value)
        # wraps when wider than its column (Chinese counts double: 11 characters may not fit 20)
        wrap = key in self.wrap and len(text) * 2 > self.wrap[key] \
            and paper.display_width(text) > self.wrap[key]
        if wrap:
            self.lines = max(self.lines, paper.lines_needed(text, self.wrap[key]))
        if not (text.startswith("=") or fill or wrap):
            return text
        cell = self.cell_type(self.ws, text)
        cell.data_type = "s"  # text, never a formula
        if fill:
            self.styles.apply(cell, fill, self.fill_styles[fill])
        elif wrap:
            self.styles.apply(cell, "wrap", self._wrapped)
        return cell

    def _filled(self, cell: Any, fill: str) -> None:  # a light: its colour, centred
        (cell.fill, cell.font), cell.alignment = self.fills[fill], self.centre

    def _wrapped(self, cell: Any) -> None:
        cell.alignment = self.wrapped


def _add_status_dropdown(ws: Any, column: int, choices: Sequence[str], header_row: int,
                         lists: _ChoiceLists) -> None:
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    inline = ",".join(choices)
    if len(inline) <= 250 and not any("," in c or '"' in c for c in choices):
        formula = f'"{inline}"'
    else:
        formula = lists.add(choices)
    validation = DataValidation(type="list", formula1=formula, allow_blank=True)
    validation.showErrorMessage = True
    validation.error = "请从下拉列表中选择"
    letter = get_column_letter(column)
    validation.add(f"{letter}{header_row + 1}:{letter}1048576")  # rows added later too
    ws.data_validations.append(validation)


class _ChoiceLists:
    """Excel caps an inline drop-down list at 255 characters and has no escape for commas:
    longer lists live in a hidden sheet 选项, one block of rows per list."""

    def __init__(self, book: Any) -> None:
        self.book, self.rows = book, 0
        self.sheet: Any = None

    def add(self, choices: Sequence[str]) -> str:
        if self.sheet is None:
            self.sheet = self.book.create_sheet("选项")
            self.sheet.sheet_state = "hidden"
        start = self.rows + 1
        for choice in choices:
            self.sheet.append([choice])
        self.rows += len(choices)
        return f"'选项'!$A${start}:$A${self.rows}"
