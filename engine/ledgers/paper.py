"""How an xlsx sheet prints: A4 landscape, one page wide, the header row on every page, borders,
a title above the header and page numbers in the footer.

Everything here is page layout, none of it data. Borders are one conditional-format rule over
the table (always true) rather than a style on every cell: a style per cell costs openpyxl
about as much again as writing the cell, a rule costs nothing, prints the same in Excel, WPS
and LibreOffice, and also frames the empty cells of a row. Settings that openpyxl's streaming
writer puts before the rows (column widths, frozen panes, fit-to-page) are made in `prepare`;
the rest in `finish`, once the number of rows is known.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ColumnPlan", "display_width", "finish", "lines_needed", "plan_columns", "prepare",
           "title_rows"]

WIDTH_SAMPLE = 200  # rows looked at to size the columns
MIN_WIDTH, MAX_WIDTH = 6, 30  # characters; text longer than MAX_WIDTH wraps inside its cell
LINE_HEIGHT = 14.5  # points: one line of 11-point text, Chinese glyphs included
FOOTER = "第 &P 页，共 &N 页"
A4 = "9"  # the paperSize code of A4 in SpreadsheetML


@dataclass(frozen=True)
class ColumnPlan:
    widths: list[int]
    wrap: list[bool]  # text too long for its column breaks into lines instead of being cut


def plan_columns(columns: Sequence[tuple[str, str]], sample: Sequence[Mapping[str, object]],
                 text: Any) -> ColumnPlan:
    """Widths from the header and the first rows (CJK characters count double), 6 to 30."""
    widths, wrap = [], []
    for key, header in columns:
        longest = max([_display_width(header, text),
                       *(_display_width(r.get(key), text) for r in sample)])
        widths.append(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2)))
        wrap.append(longest + 2 > MAX_WIDTH)
    return ColumnPlan(widths, wrap)


def _display_width(value: object, text: Any) -> int:
    return display_width(text(value)[:120])


def display_width(text: str) -> int:
    """Width in characters of a narrow font: Chinese characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def lines_needed(text: str, width: int) -> int:
    """Lines a text takes wrapped in a column `width` characters wide."""
    usable = max(width, 1)  # Chinese glyphs print a little narrower than two digits
    return sum(-(-display_width(line) // usable) or 1 for line in text.split("\n"))


def prepare(sheet: Any, plan: ColumnPlan, header_row: int) -> None:
    """What must be set before the first row is streamed."""
    from openpyxl.utils import get_column_letter

    for number, width in enumerate(plan.widths, 1):
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = f"A{header_row + 1}"
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def title_rows(sheet: Any, title: str | None, subtitle: str | None) -> list[list[Any]]:
    """The rows above the header: the title (bold, large, centred) and a subtitle line."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    rows = []
    if title:
        cell = WriteOnlyCell(sheet, title)
        cell.font = Font(bold=True, size=16)
        cell.alignment = Alignment(horizontal="center", vertical="center")
        rows.append([cell])
    if subtitle:
        cell = WriteOnlyCell(sheet, subtitle)
        cell.alignment = Alignment(horizontal="left", vertical="center")
        rows.append([cell])
    return rows


def finish(sheet: Any, *, header_row: int, rows: int, columns: int) -> None:
    """Title cells merged across the table; borders; A4 landscape, one page wide, the header
    row repeated on every page, page numbers in the footer."""
    from openpyxl.formatting.rule import Rule
    from openpyxl.styles import Border, Side
    from openpyxl.styles.differential import DifferentialStyle
    from openpyxl.utils import get_column_letter

    last = get_column_letter(max(columns, 1))
    for row in range(1, header_row):
        sheet.merged_cells.add(f"A{row}:{last}{row}")
    thin = Side(style="thin", color="FF000000")
    frame = DifferentialStyle(border=Border(left=thin, right=thin, top=thin, bottom=thin))
    sheet.conditional_formatting.add(f"A{header_row}:{last}{header_row + rows}",
                                     Rule(type="expression", formula=["TRUE"], dxf=frame))
    setup = sheet.page_setup
    setup.orientation, setup.paperSize = "landscape", A4
    setup.fitToWidth, setup.fitToHeight = 1, 0  # one page wide, as many pages down as needed
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.print_options.horizontalCentered = True
    margins = sheet.page_margins
    margins.left = margins.right = 0.4
    margins.top, margins.bottom, margins.footer = 0.5, 0.6, 0.3
    sheet.oddFooter.center.text = FOOTER
    sheet.evenFooter.center.text = FOOTER
