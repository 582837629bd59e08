"""How an xlsx sheet prints: landscape, one page wide, the header row on every page, borders,
a title above the header and page numbers in the footer.

The paper is A4 unless the table would print too small on it. Fitting a sheet to one page wide
shrinks everything by the same factor, and below about 60% (11-point text printed at under 7
points) a clerk can no longer read the figures. So a wide sheet is first made narrower (headers
wrap onto two lines, long text wraps at 20 characters instead of 30 and rows grow), and then
printed on the smallest paper where it keeps at least 60%: A4, else A3 (which every office
copier takes). A sheet too wide even for A3 at 60% is printed on A3 as large as it fits.

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
NARROW_WIDTH = 20  # the cap on a wide sheet, whose text columns wrap sooner
LINE_HEIGHT = 14.5  # points: one line of 11-point text, Chinese glyphs included
FOOTER = "第 &P 页，共 &N 页"
A4, A3 = "9", "8"  # paperSize codes in SpreadsheetML
# Printable width in inches, landscape, inside the 0.4" side margins `finish` sets.
PRINTABLE = {A4: 11.69 - 0.8, A3: 16.54 - 0.8}
MIN_SCALE = 0.6  # below this the printed text is under ~7 points: too small to read


@dataclass(frozen=True)
class ColumnPlan:
    widths: list[int]
    wrap: list[bool]  # text too long for its column breaks into lines instead of being cut
    paper: str = A4  # the paperSize code to print on
    scale: float = 1.0  # what fitting the sheet to one page wide leaves of its natural size
    header_lines: int = 1  # a wide sheet's headers wrap onto two lines


def plan_columns(columns: Sequence[tuple[str, str]], sample: Sequence[Mapping[str, object]],
                 text: Any) -> ColumnPlan:
    """Widths from the header and the first rows (CJK characters count double), 6 to 30; for a
    sheet that would print below 60% on A4, narrower columns and the paper that keeps it
    readable (see the module's docstring)."""
    longest = [(_display_width(header, text),
                max([0, *(_display_width(r.get(key), text) for r in sample)]))
               for key, header in columns]
    widths = [min(MAX_WIDTH, max(MIN_WIDTH, max(h, v) + 2)) for h, v in longest]
    if fit_scale(widths, A4) >= MIN_SCALE:
        return ColumnPlan(widths, [max(h, v) + 2 > MAX_WIDTH for h, v in longest], A4,
                          fit_scale(widths, A4))
    # Narrower: a header over two lines, long text wrapped at NARROW_WIDTH.
    widths = [min(NARROW_WIDTH, max(MIN_WIDTH, -(-h // 2) + 2, v + 2)) for h, v in longest]
    wrap = [v + 2 > NARROW_WIDTH for _, v in longest]
    paper = A4 if fit_scale(widths, A4) >= MIN_SCALE else A3
    return ColumnPlan(widths, wrap, paper, fit_scale(widths, paper), header_lines=2)


def natural_width(widths: Sequence[int]) -> float:
    """The table's width in inches at 100%: a column `w` characters wide is 7w + 5 pixels of
    Excel's default font, at 96 pixels an inch."""
    return sum(7 * w + 5 for w in widths) / 96


def fit_scale(widths: Sequence[int], paper: str) -> float:
    """The scale that fits the columns to one page wide of `paper` (1.0 if they already fit)."""
    return min(1.0, PRINTABLE[paper] / natural_width(widths))


def _display_width(value: object, text: Any) -> int:
    return display_width(text(value)[:120])


def display_width(text: str) -> int:
    """Width in characters of a narrow font: Chinese characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def lines_needed(text: str, width: int) -> int:
    """Lines a text takes wrapped in a column `width` characters wide. In pixels of the default
    11-point font: the column is 7 per character (+5, less the cell's padding), a digit or
    Latin letter about 7, a Chinese glyph 15 (an em of 11 points; a little over two digits,
    so counting it as two would leave the last line of a long text cut off)."""
    usable = max(7 * width - 2, 15)
    return sum(-(-_pixels(line) // usable) or 1 for line in text.split("\n"))


def _pixels(text: str) -> int:
    return sum(15 if unicodedata.east_asian_width(ch) in "WF" else 7 for ch in text)


def prepare(sheet: Any, plan: ColumnPlan, header_row: int) -> None:
    """What must be set before the first row is streamed."""
    from openpyxl.utils import get_column_letter

    for number, width in enumerate(plan.widths, 1):
        sheet.column_dimensions[get_column_letter(number)].width = width
    if plan.header_lines > 1:
        sheet.row_dimensions[header_row].height = LINE_HEIGHT * plan.header_lines + 2
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


def finish(sheet: Any, *, header_row: int, rows: int, columns: int, paper: str = A4) -> None:
    """Title cells merged across the table; borders; landscape on `paper`, one page wide, the
    header row repeated on every page, page numbers in the footer."""
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
    setup.orientation, setup.paperSize = "landscape", paper
    setup.fitToWidth, setup.fitToHeight = 1, 0  # one page wide, as many pages down as needed
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.print_options.horizontalCentered = True
    margins = sheet.page_margins
    margins.left = margins.right = 0.4
    margins.top, margins.bottom, margins.footer = 0.5, 0.6, 0.3
    sheet.oddFooter.center.text = FOOTER
    sheet.evenFooter.center.text = FOOTER
