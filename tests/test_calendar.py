"""Working days and deadline arithmetic (engine/calendar.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rectify.engine.core.calendar import Due, WorkCalendar, due_after, parse_calendar_file, shift
from rectify.engine.core.errors import InvalidInput
from rectify.engine.core.spec import Duration

SH = "Asia/Shanghai"
SHANGHAI = ZoneInfo(SH)
CAL = WorkCalendar()


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)


def end_of(y: int, m: int, d: int) -> datetime:
    """23:59:59 Shanghai time on that day, in UTC (what Due.at holds)."""
    return local(y, m, d, 23, 59, 59).astimezone(UTC)


def workdays(n: int) -> Duration:
    return Duration(n, "workdays")


# --- the acceptance example -------------------------------------------------------------


@pytest.mark.parametrize("clock", [(0, 0, 0), (9, 30, 0), (23, 59, 59)])
def test_three_workdays_from_sep_30_2025_end_on_the_saturday_make_up_day(clock):
    """Three workdays from any time on 2025-09-30 skip the National Day holiday and end
    at the end of the make-up Saturday, Oct 11, Beijing time, returned in UTC."""
    # Oct 1-8 2025 are holidays (National Day + Mid-Autumn); Sat Oct 11 is a make-up workday.
    due = due_after(local(2025, 9, 30, *clock), workdays(3), SH, CAL)
    assert due == Due(end_of(2025, 10, 11), provisional=False)
    assert due.at == datetime(2025, 10, 11, 15, 59, 59, tzinfo=UTC)
    assert due.at.tzinfo is UTC


# --- WorkCalendar -------------------------------------------------------------------------------


def test_coverage_follows_chinesecalendar_and_overrides():
    """A year is covered when chinesecalendar has data for it (2004-2026) or an
    override file gives it."""
    assert CAL.covers(2004) and CAL.covers(2025) and CAL.covers(2026)
    assert not CAL.covers(2003) and not CAL.covers(2027)
    assert WorkCalendar({2027: {}}).covers(2027)


def test_uncovered_years_fall_back_to_weekends_only():
    """Outside the covered years only weekends are rest days, and a deadline counted
    there is provisional."""
    assert CAL.is_workday(date(2027, 1, 1))  # a Friday: New Year unknown without data
    assert not CAL.is_workday(date(2027, 1, 2))  # Saturday
    assert CAL.add_workdays(date(2027, 1, 1), 1) == (date(2027, 1, 4), True)


def test_add_workdays_zero_is_the_day_itself_and_not_provisional():
    """Adding zero workdays returns the day itself, final even on a holiday or in an
    uncovered year."""
    assert CAL.add_workdays(date(2025, 10, 1), 0) == (date(2025, 10, 1), False)
    assert CAL.add_workdays(date(2030, 5, 4), 0) == (date(2030, 5, 4), False)


def test_override_replaces_a_covered_year_entirely():
    """An override file for a year replaces the bundled data for that whole year:
    unlisted bundled holidays and make-up days no longer count."""
    # An admin file for a year is the whole truth for that year, bundled data included.
    cal = WorkCalendar({2025: {date(2025, 10, 2): False}})
    assert cal.is_workday(date(2025, 10, 1))  # bundled holiday, not listed -> Wednesday works
    assert not cal.is_workday(date(2025, 10, 2))
    assert not cal.is_workday(date(2025, 10, 11))  # bundled make-up Saturday, not listed


def test_overrides_are_copied():
    """The calendar copies its overrides, so changing the caller's dict afterwards
    changes nothing."""
    source = {2027: {date(2027, 1, 1): False}}
    cal = WorkCalendar(source)
    source[2027][date(2027, 1, 1)] = True
    assert not cal.is_workday(date(2027, 1, 1))


# --- workdays -----------------------------------------------------------------------------------


def test_spring_festival_2025_span_and_its_make_up_days():
    """The 2025 Spring Festival (Jan 28 - Feb 4) is skipped and its make-up Sunday and
    Saturday count as workdays."""
    # Jan 28 - Feb 4 off; Sun Jan 26 and Sat Feb 8 are make-up workdays.
    assert due_after(local(2025, 1, 27, 10), workdays(5), SH, CAL).at == end_of(2025, 2, 10)
    assert due_after(local(2025, 1, 24, 17), workdays(1), SH, CAL).at == end_of(2025, 1, 26)
    assert due_after(local(2025, 1, 27, 10), workdays(1), SH, CAL).at == end_of(2025, 2, 5)


def test_spring_festival_2026_span():
    """The 2026 Spring Festival (Feb 15 - 23) is skipped and its make-up Saturdays
    count as workdays."""
    # Feb 15 - 23 off; Sat Feb 14 and Sat Feb 28 are make-up workdays.
    assert due_after(local(2026, 2, 13, 10), workdays(3), SH, CAL).at == end_of(2026, 2, 25)
    assert due_after(local(2026, 2, 13, 10), workdays(7), SH, CAL).at == end_of(2026, 3, 2)


def test_negative_workdays_before_a_deadline_that_follows_a_holiday():
    """Counting workdays backwards from a deadline skips the holiday, counts the
    make-up Sunday, and keeps the time of day."""
    deadline = due_after(local(2025, 9, 30, 11), workdays(3), SH, CAL).at  # end of Oct 11
    assert shift(deadline, workdays(-2), SH, CAL) == Due(end_of(2025, 10, 9), False)
    assert shift(deadline, workdays(-3), SH, CAL).at == end_of(2025, 9, 30)  # skips Oct 1-8

    first_after = local(2025, 10, 9, 18).astimezone(UTC)  # first workday after the holiday
    assert shift(first_after, workdays(-2), SH, CAL).at == local(2025, 9, 29, 18)
    assert shift(first_after, workdays(-3), SH, CAL).at == local(2025, 9, 28, 18)  # make-up Sun


def test_positive_workday_shift_keeps_local_time_of_day():
    """Shifting a deadline forward by workdays keeps its local time of day."""
    deadline = local(2025, 9, 30, 18, 30)
    assert shift(deadline, workdays(1), SH, CAL).at == local(2025, 10, 9, 18, 30)


# --- days and hours -----------------------------------------------------------------------------


def test_n_days_count_calendar_days_and_ignore_holidays():
    """A duration in `days` counts calendar days, holidays included, to the end of the last day."""
    due = due_after(local(2025, 9, 30, 10), Duration(3, "days"), SH, CAL)
    assert due == Due(end_of(2025, 10, 3), False)
    assert due_after(local(2025, 9, 30, 10), Duration(0, "days"), SH, CAL).at == end_of(2025, 9, 30)


def test_n_hours_are_exact():
    """A duration in `hours` is exact: the deadline is the start plus that many hours,
    not an end of day."""
    start = local(2025, 9, 30, 10, 15)
    due = due_after(start, Duration(48, "hours"), SH, CAL)
    assert due == Due(datetime(2025, 10, 2, 2, 15, tzinfo=UTC), False)


def test_shift_by_days_hours_and_zero():
    """Shifting by calendar days, by hours (either sign) and by zero moves the deadline
    exactly so."""
    deadline = end_of(2025, 10, 11)
    assert shift(deadline, Duration(-1, "days"), SH, CAL).at == end_of(2025, 10, 10)
    assert shift(deadline, Duration(2, "days"), SH, CAL).at == end_of(2025, 10, 13)
    assert shift(deadline, Duration(-12, "hours"), SH, CAL).at == local(2025, 10, 11, 11, 59, 59)
    assert shift(deadline, Duration(0, "days"), SH, CAL) == Due(deadline, False)


def test_naive_datetimes_are_refused():
    """Both deadline functions refuse a naive datetime rather than guess its zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        due_after(datetime(2025, 9, 30, 10), workdays(3), SH, CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        shift(datetime(2025, 9, 30, 10), workdays(-1), SH, CAL)


# --- years without data -------------------------------------------------------------------------


def test_deadline_crossing_into_uncovered_2027_is_provisional():
    """A deadline counted into a year without calendar data is marked provisional; one
    inside covered years is not."""
    start = local(2026, 12, 28, 9)  # Monday; Dec 29-31 2026 are workdays
    assert due_after(start, workdays(3), SH, CAL) == Due(end_of(2026, 12, 31), False)
    # Weekends only in 2027: Fri Jan 1 counts as the 4th, Mon Jan 4 as the 5th.
    assert due_after(start, workdays(5), SH, CAL) == Due(end_of(2027, 1, 4), True)


def test_same_deadline_with_2027_loaded_is_final_and_skips_the_listed_holiday():
    """Once the year's calendar file is loaded, the same deadline is final and skips
    the holiday it lists."""
    loaded = parse_calendar_file(
        "years:\n  2027:\n    holidays: [2027-01-01]\n    workdays: []\n", "cal.yaml"
    )
    cal = WorkCalendar(loaded)
    start = local(2026, 12, 28, 9)
    assert due_after(start, workdays(5), SH, cal) == Due(end_of(2027, 1, 5), False)


def test_shift_back_into_uncovered_year_is_provisional():
    """Counting back into a year before chinesecalendar's data gives a provisional date."""
    deadline = local(2004, 1, 2, 18)  # 2003 is before chinesecalendar's data
    due = shift(deadline, workdays(-1), SH, CAL)
    assert due.provisional
    assert due.at == local(2003, 12, 31, 18)


# --- local-day semantics ------------------------------------------------------------------------


def test_entry_day_is_the_local_day_not_the_utc_day():
    """Workdays count from the local day of entry (Beijing), not the UTC day: 23:30 and
    00:30 local give different deadlines."""
    late = local(2025, 9, 29, 23, 30)  # 15:30 UTC on Sep 29
    early = local(2025, 9, 30, 0, 30)  # 16:30 UTC, still Sep 29 in UTC
    assert late.astimezone(UTC).date() == early.astimezone(UTC).date() == date(2025, 9, 29)

    assert due_after(late, workdays(1), SH, CAL).at == end_of(2025, 9, 30)
    assert due_after(early, workdays(1), SH, CAL).at == end_of(2025, 10, 9)


def test_the_start_zone_does_not_matter_only_the_workflow_zone():
    """The deadline depends on the workflow's time zone only, whatever zone the start
    instant is given in."""
    instant_utc = datetime(2025, 9, 29, 16, 30, tzinfo=UTC)  # 00:30 Sep 30 in Shanghai
    assert due_after(instant_utc, workdays(1), SH, CAL).at == end_of(2025, 10, 9)
    in_utc = due_after(instant_utc, workdays(1), "UTC", CAL)
    assert in_utc.at == datetime(2025, 9, 30, 23, 59, 59, tzinfo=UTC)


# --- the calendar file --------------------------------------------------------------------------

GOOD_FILE = """\
years:
  2027:
    holidays:
      - 2027-01-01
      - 2027-02-06..2027-02-12
      - "2027-10-01 .. 2027-10-07"
    workdays: [2027-02-14, 2027-10-09]
  2028:
    holidays: [2028-01-01]
    workdays:
"""


def test_parse_a_good_file():
    """A calendar file's holidays, ranges and make-up workdays are read into per-year day maps."""
    parsed = parse_calendar_file(GOOD_FILE, "cal.yaml")
    assert set(parsed) == {2027, 2028}
    days = parsed[2027]
    assert days[date(2027, 1, 1)] is False
    assert all(days[date(2027, 2, d)] is False for d in range(6, 13))
    assert all(days[date(2027, 10, d)] is False for d in range(1, 8))
    assert days[date(2027, 2, 14)] is True and days[date(2027, 10, 9)] is True
    assert len(days) == 1 + 7 + 7 + 2
    assert parsed[2028] == {date(2028, 1, 1): False}


BAD_FILE = """\
years:
  2027:
    holidays: [2027-01-01, 2027-02-30, 2028-01-01, 2027-02-12..2027-02-06, soon]
    workdays: [2027-01-01, 2027-02-14]
    extra: 1
  20x7:
    holidays: []
colour: red
"""


def test_bad_file_reports_every_error_with_its_position():
    """A bad calendar file reports every problem at once, each at its line and column,
    in file order."""
    with pytest.raises(InvalidInput) as caught:
        parse_calendar_file(BAD_FILE, "cal.yaml")
    found = [(p.loc.line, p.loc.column, p.message) for p in caught.value.problems]
    assert all(p.loc.file == "cal.yaml" for p in caught.value.problems)
    assert [(line, col) for line, col, _ in found] == [
        (3, 28),  # 2027-02-30
        (3, 40),  # 2028-01-01 in 2027
        (3, 52),  # range backwards
        (3, 76),  # soon
        (4, 16),  # 2027-01-01 both holiday and workday
        (5, 5),  # extra
        (6, 3),  # 20x7
        (8, 1),  # colour
    ]
    messages = [m for _, _, m in found]
    assert "not a valid date" in messages[0]
    assert "not in year 2027" in messages[1]
    assert "ends before it starts" in messages[2]
    assert "not a date" in messages[3]
    assert "both as a holiday and as a workday" in messages[4] and "line 3" in messages[4]
    assert "allowed keys: holidays, workdays" in messages[5]
    assert "not a year" in messages[6]
    assert "allowed keys: years" in messages[7]
    assert str(caught.value).splitlines()[0].startswith("cal.yaml:3:28: ")


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("- 2027\n", 1, 1, "must be a mapping"),
        ("", 1, 1, "empty calendar file"),
        ("years: [2027]\n", 1, 8, "years must be a mapping"),
        ("years:\n  2027: [2027-01-01]\n", 2, 9, "year 2027 must be a mapping"),
        ("years:\n  2027:\n    holidays: 2027-01-01\n", 3, 15, "must be a list of dates"),
        ("years:\n  2027:\n    holidays: [[2027-01-01]]\n", 3, 16, "expected a date or a range"),
        ("years:\n  2027: {}\n  2027: {}\n", 3, 3, "appears twice"),
        ("other: 1\n", 1, 1, "missing required key 'years'"),
        ("years: [\n", 2, 1, "YAML syntax"),
    ],
)
def test_structural_errors(text, line, column, fragment):
    """Each structural mistake in a calendar file is reported at the right line and
    column with a message saying what was expected."""
    with pytest.raises(InvalidInput) as caught:
        parse_calendar_file(text, "c.yaml")
    problems = caught.value.problems
    assert any(
        (p.loc.line, p.loc.column) == (line, column) and fragment in p.message for p in problems
    ), [str(p) for p in problems]


def test_overlapping_ranges_give_one_message_per_item():
    """Overlapping holiday and workday ranges give one message for the range, naming
    the first day and how many more."""
    text = "years:\n  2027:\n    holidays: [2027-05-01..2027-05-10]\n" \
           "    workdays: [2027-05-03..2027-05-09]\n"
    with pytest.raises(InvalidInput) as caught:
        parse_calendar_file(text, "c.yaml")
    (problem,) = caught.value.problems
    assert (problem.loc.line, problem.loc.column) == (4, 16)
    assert "2027-05-03" in problem.message and "and 2 more" in problem.message


# --- cross-check against the `holidays` package -------------------------------------------------


def test_public_holidays_on_weekdays_are_not_workdays_2024_2026():
    """Cross-check with the independent `holidays` package: every weekday public
    holiday of 2024-2026 is a rest day in our calendar."""
    # Finding (holidays 0.109, chinesecalendar 1.11): no systematic difference for 2024-2026.
    # Every weekday `holidays` lists for China is a rest day in chinesecalendar and vice versa.
    # `holidays` also lists holidays falling on weekends (2025-05-31, Dragon Boat, a Saturday),
    # which are rest days anyway, and knows nothing of make-up workdays (调休上班), which is
    # why it cannot replace chinesecalendar for deadline counting.
    listed = holidays.country_holidays("CN", years=range(2024, 2027))
    weekday_holidays = [d for d in listed if d.weekday() < 5]
    assert len(weekday_holidays) > 40
    for day in weekday_holidays:
        assert not CAL.is_workday(day) or chinese_calendar.is_workday(day), day
    assert [d for d in weekday_holidays if chinese_calendar.is_workday(d)] == []


# --- property -----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31)),
    n=st.integers(min_value=0, max_value=30),
)
def test_add_workdays_lands_on_the_nth_workday(start, n):
    """Property: adding n workdays lands on a workday with exactly n workdays after the
    start, provisional only past 2026."""
    result, provisional = CAL.add_workdays(start, n)
    if n == 0:
        assert (result, provisional) == (start, False)
        return
    assert result > start
    assert CAL.is_workday(result)
    span = [start + timedelta(days=i) for i in range(1, (result - start).days + 1)]
    assert sum(CAL.is_workday(d) for d in span) == n
    assert provisional == (result.year > 2026)
