"""The weekly report as an xlsx workbook that prints: 乡镇排名, 村排名 (villages ranked within
their township, never in one column with the townships), 红灯事项 and 每周趋势, a sheet each.

Every sheet prints on A4 landscape, one page wide, with a title block (report, 期号, 填报单位,
the week as dates), its header row repeated on every page, borders, and page numbers in the
footer. Dates are spreadsheet dates; the lights are filled with `[lights] colors`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

from ...ledgers.styles import StyleOnce
from ..model import (
    LIGHT_LABELS,
    RANK_COLUMNS,
    RED_ITEM_HEADERS,
    UnitRow,
    WeeklyReport,
    escalation_levels,
    red_keys,
    top_rows,
    township_sections,
)

__all__ = ["render_xlsx"]

HEADER_ROW = 3  # rows 1-2 are the title block
HEADER_FILL = "FFD9E1F2"
WIDEST = 48  # characters; longer text wraps within the cell
PERCENT_HEADERS = ("整改率", "按期率")
STYLED_HEADERS = (*PERCENT_HEADERS, "得分", "灯")  # columns whose cells have a style of their own
DATE_FORMAT = "yyyy-mm-dd hh:mm"


def _width(value: object) -> int:
    """Display width in Latin characters: a Chinese character takes two."""
    if isinstance(value, datetime):
        return 16
    if isinstance(value, float):  # shown as 58.3% or 92.50, not 0.5833333333
        return 7
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class _Sheet:
    """One printable table: title block, header, bordered body, page setup."""

    def __init__(self, book: Any, title: str, report: WeeklyReport, headers: Sequence[str]):
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        self.sheet = book.create_sheet(title)
        self.headers = list(headers)
        thin = Side(style="thin", color="FF808080")
        self.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        self.wrap = Alignment(wrap_text=True, vertical="center")
        self.center = Alignment(horizontal="center", vertical="center")
        self.fills = {k: PatternFill("solid", fgColor="FF" + v.lstrip("#").upper())
                      for k, v in report.colors.items()}
        self.widths = [_width(h) for h in headers]
        self.styles = StyleOnce()  # each kind of cell styled once (`add`)
        last = len(headers)
        self.sheet.append([f"{report.title}（{title}）"])
        self.sheet.append([_subtitle(report)])
        for row, size in ((1, 16), (2, 11)):
            self.sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last)
            self.sheet.cell(row, 1).font = Font(bold=True, size=size) if row == 1 else Font(
                size=size)
            self.sheet.cell(row, 1).alignment = self.center
        self.sheet.row_dimensions[1].height = 28
        self.sheet.append(self.headers)
        for cell in self.sheet[HEADER_ROW]:
            cell.font, cell.border, cell.alignment = Font(bold=True), self.border, self.center
            cell.fill = PatternFill("solid", fgColor=HEADER_FILL)

    def add(self, values: Sequence[object], light: str | None = None) -> None:
        self.sheet.append([_cell_value(v) for v in values])
        for cell, header in zip(self.sheet[self.sheet.max_row], self.headers, strict=True):
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text stays text: "=..." from a user is no formula
            kind = (type(cell.value) if isinstance(cell.value, (str, datetime)) else None,
                    header if header in STYLED_HEADERS else None,
                    light if header == "灯" else None)
            self.styles.apply(cell, kind, partial(self._style, header=header, light=light))
        for i, value in enumerate(values):
            self.widths[i] = max(self.widths[i], _width(_cell_value(value)))

    def _style(self, cell: Any, header: str, light: str | None) -> None:
        cell.border = self.border
        if isinstance(cell.value, str):
            cell.alignment = self.wrap
        elif isinstance(cell.value, datetime):
            cell.number_format = DATE_FORMAT
        elif header in PERCENT_HEADERS:
            cell.number_format = "0.0%"
        elif header == "得分":
            cell.number_format = "0.00"
        if header == "灯" and light in self.fills:
            cell.fill, cell.alignment = self.fills[light], self.center

    def note(self, text: str) -> None:
        """A line under the table (not part of it): "另有 M 项未列出"."""
        self.sheet.append([text])

    def finish(self) -> None:
        from openpyxl.styles import Alignment
        from openpyxl.utils import get_column_letter

        sheet = self.sheet
        widths: list[float] = [min(WIDEST, width + 3) for width in self.widths]
        # A sheet of a few columns is widened to hold its title (16 pt: 1.5 columns a character).
        title = 1.5 * _width(sheet.cell(1, 1).value) + 4
        if sum(widths) < title:
            widths = [w * title / sum(widths) for w in widths]
        for i, width in enumerate(widths, 1):
            sheet.column_dimensions[get_column_letter(i)].width = width
        # A narrow sheet wraps the subtitle (填报单位, 期号, dates) over as many lines as it needs.
        lines = -(-_width(sheet.cell(2, 1).value) // max(1, int(sum(widths))))
        sheet.cell(2, 1).alignment = Alignment(horizontal="center", vertical="center",
                                               wrap_text=True)
        sheet.row_dimensions[2].height = 16 * max(1, lines)
        sheet.freeze_panes = sheet.cell(HEADER_ROW + 1, 1)
        sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
        setup = sheet.page_setup
        setup.orientation, setup.paperSize = "landscape", sheet.PAPERSIZE_A4
        setup.fitToWidth, setup.fitToHeight = 1, 0  # one page wide, as many pages long as needed
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.print_options.horizontalCentered = True
        sheet.page_margins.left = sheet.page_margins.right = 0.4
        sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
        sheet.evenFooter.center.text = "第 &P 页，共 &N 页"


def _subtitle(report: WeeklyReport) -> str:
    parts = [f"填报单位：{report.office}" if report.office else "",
             f"期号：{report.issue}" if report.issue else "",
             f"统计周期：{report.period or report.week}", f"生成时间：{report.generated_at}"]
    return "　　".join(p for p in parts if p)


def _cell_value(value: object) -> object:
    """Spreadsheets have no time zones: a deadline is written in its own local time."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return value


def _figures(levels: Sequence[str]) -> list[tuple[str, Callable[[UnitRow], object]]]:
    """The ranking's figure columns after the unit: light, counts, rates, escalations, score."""
    columns: list[tuple[str, Callable[[UnitRow], object]]] = [
        ("灯", lambda r: LIGHT_LABELS.get(r.light, r.light)), *RANK_COLUMNS[2:]]
    columns += [(f"升级:{lv}", _escalations_at(lv)) for lv in levels]
    return [*columns, ("得分", lambda r: r.score)]


def _escalations_at(level: str) -> Callable[[UnitRow], object]:
    return lambda row: row.escalations.get(level, 0)


def _towns(book: Any, report: WeeklyReport, levels: Sequence[str]) -> None:
    figures = _figures(levels)
    sheet = _Sheet(book, "乡镇排名" if township_sections(report.rows) else "单位排名", report,
                   ["排名", "单位", *(h for h, _ in figures)])
    for row in top_rows(report.rows):
        sheet.add([row.rank, row.unit_name, *(get(row) for _, get in figures)], row.light)
    sheet.finish()


def _villages(book: Any, report: WeeklyReport, levels: Sequence[str]) -> None:
    sections = township_sections(report.rows)
    if not sections:
        return
    figures = _figures(levels)
    sheet = _Sheet(book, "村排名", report,
                   ["乡镇", "乡镇排名", "镇内排名", "村", *(h for h, _ in figures)])
    for town, villages in sections:
        for row in villages:
            sheet.add([town.unit_name, town.rank, row.rank, row.unit_name,
                       *(get(row) for _, get in figures)], row.light)
    sheet.finish()


def _red(book: Any, report: WeeklyReport) -> None:
    keys = red_keys(report)
    sheet = _Sheet(book, "红灯事项", report, [RED_ITEM_HEADERS[k] for k in keys])
    for item in report.red_items:
        sheet.add([item.get(k) for k in keys])
    if report.red_more:
        sheet.note(f"另有 {report.red_more} 项红灯事项未列出（共 {report.red_total} 项）。")
    sheet.finish()


def render_xlsx(report: WeeklyReport, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    book.properties.title = report.title
    levels = escalation_levels(report.rows)
    _towns(book, report, levels)
    _villages(book, report, levels)
    _red(book, report)
    trend = _Sheet(book, "每周趋势", report, ["周次", "未整改", "已整改"])
    for point in report.history:
        trend.add([point.week, point.open, point.closed])
    trend.finish()
    book.save(path)
