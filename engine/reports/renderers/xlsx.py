"""The weekly report as an xlsx workbook: ranking, red items and weekly trend, a sheet each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from ...ledgers import HEADER_FILL
from ..model import (
    RED_ITEM_HEADERS,
    WeeklyReport,
    escalation_levels,
    parent_names,
    ranking_table,
    red_keys,
    when,
)

__all__ = ["render_xlsx"]


def _xlsx_sheet(book, title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]):
    """A sheet with a bold filled, frozen header; text is always stored as text, not formulas."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    for values in rows:
        sheet.append([when(v) if isinstance(v, (date, datetime)) else v for v in values])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    sheet.freeze_panes = "A2"
    for index, header in enumerate(headers, 1):
        sheet.column_dimensions[get_column_letter(index)].width = max(10, len(header) * 2 + 4)
    return sheet


def render_xlsx(report: WeeklyReport, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    book.properties.title = report.title
    rows = report.rows
    headers, body = ranking_table(rows, escalation_levels(rows), parent_names(rows))
    ranking = _xlsx_sheet(book, "单位排名", headers, body)
    for column in (headers.index("整改率") + 1, headers.index("按期率") + 1):
        for (cell,) in ranking.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = "0.0%"
    keys = red_keys(report)
    red = [[item.get(k) for k in keys] for item in report.red_items]
    _xlsx_sheet(book, "红灯事项", [RED_ITEM_HEADERS[k] for k in keys], red)
    trend = [[p.week, p.open, p.closed] for p in report.history]
    _xlsx_sheet(book, "每周趋势", ["周次", "未整改", "已整改"], trend)
    book.save(path)
