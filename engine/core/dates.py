"""Dates as offices type them: 2026-12-01, 2026/12/1, 2026.12.1, 2026年12月1日, 20261201, and
the Excel serial numbers spreadsheets hold. One parser for ledger cells and `--field` values
alike, so what an import accepts the command line accepts too.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta

from .clock import check_year, parse_instant
from .i18n import _

__all__ = ["end_of_day", "excel_serial_to_date", "parse_date"]

_YMD = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"
    r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SERIAL = re.compile(r"\d{1,7}(?:\.\d+)?")
_EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_MAX_SERIAL = 2958465  # 9999-12-31


def excel_serial_to_date(serial: float) -> date:
    """An Excel 1900-system serial as a date. Serial 60 is Excel's phantom 1900-02-29."""
    day = math.floor(serial)
    if not 1 <= day <= _EXCEL_MAX_SERIAL:
        raise ValueError(_("{serial} is outside Excel's date range").format(serial=f"{serial:g}"))
    if day == 60:
        raise ValueError(_("Excel serial 60 is 1900-02-29, a day that does not exist"))
    # Excel counts 1900 as a leap year, so serials before the phantom day are one day off.
    return _EXCEL_EPOCH + timedelta(days=day + 1 if day < 60 else day)


def parse_date(value: object) -> date:
    """A date from what offices type or what the reader hands over; ValueError otherwise.

    Accepts date/datetime cells, 2026-12-01, 2026/12/1, 2026.12.1, 2026年12月1日, 20261201
    (text or number) and Excel serial numbers (46357 -> 2026-12-01), in the years rectify
    accepts anywhere (clock.FIRST_YEAR..LAST_YEAR: 9999-12-31 would overflow the first sweep).
    """
    day = _parse_date(value)
    check_year(day)
    return day


def _parse_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (time, timedelta)):
        raise ValueError(_("{value} is a time of day, not a date").format(value=value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _date_from_number(float(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if match := _YMD.fullmatch(text) or _COMPACT.fullmatch(text):
        return _make_date(*match.groups())
    if _SERIAL.fullmatch(text):
        return _date_from_number(float(text))
    raise ValueError(_("{value!r} is not a date; write it like 2026-12-01 or "
                       "2026年12月1日").format(value=value))


def _date_from_number(number: float) -> date:
    if not math.isfinite(number):
        raise ValueError(_("{number} is not a date").format(number=number))
    if number.is_integer() and 19000101 <= number <= 99991231:
        return _make_date(*_COMPACT.fullmatch(str(int(number))).groups())  # type: ignore[union-attr]
    if number.is_integer() and 1900 <= number <= 2100:
        # As a serial this would be a day in 1905; far likelier someone typed only the year.
        raise ValueError(_("{number} looks like a year alone; give the full "
                           "date").format(number=f"{number:g}"))
    return excel_serial_to_date(number)


def _make_date(year: str, month: str, day: str) -> date:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(_("no such date: {date}").format(date=f"{year}-{month}-{day}")) from None


def end_of_day(text: str, tz: str) -> datetime:
    """`--due 2026-12-01` means the end of that day in the workflow's timezone, and so do
    the other ways offices write a day, as `--field` and ledgers take them (2026/12/1,
    2026年12月1日, 20261201); an ISO-8601 time is that instant."""
    from zoneinfo import ZoneInfo

    text = text.strip()
    if ":" in text:  # a time of day: that instant
        return parse_instant(text, tz)
    try:  # a day (20261201 too, which fromisoformat would take as its midnight)
        day = date.fromisoformat(text)
    except ValueError:
        day = _office_day(text)
    check_year(day)
    return datetime.combine(day, time(23, 59, 59), ZoneInfo(tz)).astimezone(UTC)


def _office_day(text: str) -> date:
    """A day written as offices write it (ValueError otherwise); a bare number other than
    20261201 is no date on a command line, though a spreadsheet serial would be one."""
    if _SERIAL.fullmatch(text):
        raise ValueError(_("{text!r} is not a date").format(text=text))
    return parse_date(text)
