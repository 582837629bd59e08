"""Per-year tables of working days, which `WorkCalendar` answers from.

A year's table holds one flag per day and the ordinals of its working days in order, so "is D a
working day" is an index and "the N-th working day after D" a bisection plus an index (a walk
over whole years only when N reaches past the year). A bundled year's table is built once per
process from chinesecalendar's own data; an admin's year once per calendar that loads it.

chinesecalendar's `is_workday` takes min/max over its whole holiday table on every call
(~70 µs); counting a deadline and its ladder day by day made that most of the cost of a bulk
action. Its rule is reproduced here over the same data, and tests/test_calendar.py checks the
tables against `is_workday` for every day of every year it covers.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from types import ModuleType


@dataclass(frozen=True)
class YearTable:
    """One year's working days; `covered`: real holiday data (not weekends only)."""

    year: int
    covered: bool
    first: int  # ordinal of Jan 1
    flags: bytes  # 1 for a working day, indexed by ordinal - first
    workdays: tuple[int, ...]  # ordinals of the working days, ascending

    def is_workday(self, ordinal: int) -> bool:
        return self.flags[ordinal - self.first] == 1

    def after(self, ordinal: int) -> int:
        """Index in `workdays` of the first working day after `ordinal`."""
        return bisect_right(self.workdays, ordinal)

    def before(self, ordinal: int) -> int:
        """How many working days of this year come before `ordinal`."""
        return bisect_left(self.workdays, ordinal)


def year_table(year: int, is_workday: Callable[[date], bool], covered: bool) -> YearTable:
    first = date(year, 1, 1).toordinal()
    days = date(year + 1, 1, 1).toordinal() - first
    flags = bytes(is_workday(date.fromordinal(first + i)) for i in range(days))
    workdays = tuple(first + i for i, flag in enumerate(flags) if flag)
    return YearTable(year, covered, first, flags, workdays)


def _chinese_calendar() -> ModuleType:
    import chinese_calendar  # cold start: loaded only when a working day is actually counted

    return chinese_calendar


@cache
def bundled_covers(year: int) -> bool:
    # Ask the library itself rather than copying its year range: a newer chinesecalendar
    # release then extends coverage without a change here.
    try:
        _chinese_calendar().is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@cache
def bundled(year: int) -> YearTable:
    """chinesecalendar's year (its rule over its data), or weekends only where it has none."""
    if not bundled_covers(year):
        return year_table(year, _weekday, covered=False)
    library = _chinese_calendar()
    holidays: Mapping[date, object] = library.holidays
    workdays: Mapping[date, object] = library.workdays

    def is_workday(day: date) -> bool:  # chinese_calendar.is_workday, without its range check
        return day in workdays or (day.weekday() <= 4 and day not in holidays)

    return year_table(year, is_workday, covered=True)


def overridden(year: int, listed: Mapping[date, bool]) -> YearTable:
    """An admin's year: listed days as given, every other day Monday-Friday."""
    return year_table(year, lambda day: listed.get(day, _weekday(day)), covered=True)


def _weekday(day: date) -> bool:
    return day.weekday() < 5
