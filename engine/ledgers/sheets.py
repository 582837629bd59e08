"""What a ledger sheet is and how a value becomes a cell: the shared vocabulary of the csv
writer (write.py) and the xlsx writer (workbook.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from ..settings import DEFAULT_COLORS
from .cells import FORMULA_START, PLAIN_NUMBER

__all__ = ["HEADER_FILL", "LIGHT_FILLS", "LIGHT_LABELS", "LedgerSheet", "csv_cell",
           "light_cell", "plain"]

LIGHT_LABELS: Mapping[str, str] = {"green": "绿", "yellow": "黄", "red": "红"}
HEADER_FILL = "FFD9E1F2"


def argb(color: str) -> str:
    """`#rrggbb` (as `[lights] colors` holds it) as the ARGB a spreadsheet fill takes."""
    return "FF" + color.lstrip("#").upper()


def text_on(fill: str) -> str:
    """Black or white ARGB, whichever reads better on the fill: a county may choose a dark
    red or a pale green, and 红 in black on dark red cannot be read on a printout."""
    red, green, blue = (int(fill[i:i + 2], 16) / 255 for i in (2, 4, 6))
    return "FF000000" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45 else "FFFFFFFF"


# The default fills: the same colours as the weekly report's, unless `[lights] colors` says.
LIGHT_FILLS: Mapping[str, str] = {k: argb(v) for k, v in DEFAULT_COLORS.items()}


@dataclass(frozen=True)
class LedgerSheet:
    """One sheet: `columns` are (row key, header text) pairs giving order and headers; `rows`
    are mappings by those keys, streamed. `title` and `subtitle` stand above the header on
    paper (xlsx only); `light_column` shows green/yellow/red as 绿/黄/红 on a cell filled with
    `light_colors` (`#rrggbb` by light: `[lights] colors`); a drop-down of `status_choices`
    goes on `status_column`."""

    columns: Sequence[tuple[str, str]]
    rows: Iterable[Mapping[str, object]]
    name: str = "台账"
    title: str | None = None
    subtitle: str | None = None
    light_column: str | None = None
    status_choices: Sequence[str] = ()
    status_column: str = "status"
    light_colors: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COLORS))


def plain(value: object) -> object:
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


def light_cell(value: object, colors: Mapping[str, str] = DEFAULT_COLORS
               ) -> tuple[object, str | None]:
    """(displayed text, ARGB fill) of a traffic-light cell, filled with `colors`."""
    if isinstance(value, str) and value in LIGHT_LABELS:
        return LIGHT_LABELS[value], argb(colors[value])
    return plain(value), None


def csv_cell(value: object) -> str:
    """A cell as CSV text. Text starting with =, +, - or @ (and not a number) gets a leading
    quote so Excel shows it instead of running it as a formula; read_ledger drops the quote."""
    value = plain(value)
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
