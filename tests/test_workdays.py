"""The per-year working-day tables (engine/core/workdays.py) against chinesecalendar itself.

`WorkCalendar` answers from tables instead of asking chinesecalendar day by day; these tests
hold the tables to the library's own `is_workday` for every day it covers, and hold
`add_workdays` to a plain day-by-day walk for every start day and every N up to 60, both ways,
with and without an admin's override years.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta

import chinese_calendar
import pytest
from rectify.engine.core.calendar import WorkCalendar

FIRST_YEAR = min(chinese_calendar.holidays).year
LAST_YEAR = max(chinese_calendar.holidays).year
MAX_N = 60
ONE_DAY = timedelta(days=1)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def reference(overrides: Mapping[int, Mapping[date, bool]]) -> Callable[[date], tuple[bool, bool]]:
    """(is_workday, covered) for a day, straight from chinesecalendar (or the override)."""
    def answer(day: date) -> tuple[bool, bool]:
        listed = overrides.get(day.year)
        if listed is not None:
            return listed.get(day, day.weekday() < 5), True
        try:
            return chinese_calendar.is_workday(day), True
        except NotImplementedError:
            return day.weekday() < 5, False
    return answer


def walk(known: dict[date, tuple[bool, bool]], start: date, step: timedelta
         ) -> list[tuple[date, bool]]:
    """The first MAX_N working days from `start` (exclusive) going by `step`, each with
    whether a day passed on the way lay in an uncovered year: the old day-by-day count."""
    found, current, provisional = [], start, False
    while len(found) < MAX_N:
        current += step
        workday, covered = known[current]
        provisional = provisional or not covered
        if workday:
            found.append((current, provisional))
    return found


def check_every_start(calendar: WorkCalendar, overrides: Mapping[int, Mapping[date, bool]],
                      first: date, last: date) -> int:
    """Compare add_workdays(d, ±n) with the walk for every d in [first, last], n in 1..60."""
    answer = reference(overrides)
    margin = timedelta(days=200)  # 60 working days never span more than this
    known = {day: answer(day) for day in days(first - margin, last + margin)}
    checked = 0
    for start in days(first, last):
        assert calendar.is_workday(start) == known[start][0], start
        for step, sign in ((ONE_DAY, 1), (-ONE_DAY, -1)):
            for n, expected in enumerate(walk(known, start, step), start=1):
                assert calendar.add_workdays(start, sign * n) == expected, (start, sign * n)
                checked += 1
    return checked


def test_every_day_of_every_covered_year_is_chinesecalendars_answer():
    """For every day of every year chinesecalendar covers, the table says exactly what
    chinese_calendar.is_workday says (holidays, make-up workdays, weekends)."""
    calendar = WorkCalendar()
    for day in days(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)):
        assert calendar.is_workday(day) == chinese_calendar.is_workday(day), day


def test_nth_workday_matches_the_day_by_day_walk_over_every_covered_year():
    """For every start day of every covered year and every N in 1..60, forwards and
    backwards, add_workdays gives the day (and the provisional flag) a day-by-day walk over
    chinesecalendar's answers gives; walks into 2003 or the first uncovered year after the
    data fall back to weekends and are provisional."""
    checked = check_every_start(WorkCalendar(), {}, date(FIRST_YEAR, 1, 1),
                                date(LAST_YEAR, 12, 31))
    assert checked == 2 * MAX_N * len(days(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)))


@pytest.mark.parametrize("overrides", [
    pytest.param({LAST_YEAR + 1: {date(LAST_YEAR + 1, 1, 1): False,
                                  date(LAST_YEAR + 1, 2, 6): False,
                                  date(LAST_YEAR + 1, 2, 7): False,
                                  date(LAST_YEAR + 1, 2, 13): True}}, id="the-next-year-loaded"),
    pytest.param({2025: {date(2025, 10, 2): False, date(2025, 5, 1): False,
                         date(2025, 9, 27): True},
                  LAST_YEAR + 2: {}}, id="a-covered-year-replaced-and-an-empty-year"),
])
def test_override_years_match_the_walk(overrides):
    """With an admin's years loaded (a year after the bundled data; a bundled year replaced
    wholesale; a year loaded with no holidays at all), every start day around them and every
    N in 1..60 gives the walk's answer, and only the years nobody covers are provisional."""
    years = sorted(overrides)
    check_every_start(WorkCalendar(overrides), overrides, date(years[0] - 1, 10, 1),
                      date(years[-1] + 1, 3, 31))


def test_a_year_without_a_working_day_is_passed_over():
    """An override year that lists every day as a holiday has no working day; counting goes
    on into the next year instead of stopping or looping."""
    year = LAST_YEAR + 1
    closed = {day: False for day in days(date(year, 1, 1), date(year, 12, 31))}
    calendar = WorkCalendar({year: closed})
    after = next(d for d in days(date(year + 1, 1, 1), date(year + 1, 1, 7)) if d.weekday() < 5)
    assert calendar.add_workdays(date(year - 1, 12, 31), 1) == (after, True)  # year+1: nobody's
    assert calendar.add_workdays(after, -1) == (date(year - 1, 12, 31), True)
    assert calendar.add_workdays(date(year, 6, 1), -1) == (date(year - 1, 12, 31), False)
