"""Chinese working days and deadline arithmetic.

Owns three things: which days are working days (`WorkCalendar`), how a state's deadline and its
escalation steps are computed from a `Duration` (`due_after`, `shift`), and the admin's calendar
file for years the bundled data does not cover (`parse_calendar_file`).

Pure: no clock, no database. Every instant comes in aware and goes out aware in UTC; "a day" is
always a day in the workflow's own time zone, because 整改期限 are counted in local days.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import yaml

from . import workdays
from .errors import InvalidInput, Problem, SourceLoc
from .i18n import _
from .spec import Duration
from .yamlnodes import NodeReader, compose

END_OF_DAY = time(23, 59, 59)
CALENDAR_TOP_KEYS = ("years",)
CALENDAR_YEAR_KEYS = ("holidays", "workdays")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Due:
    """A computed deadline or escalation time."""

    at: datetime  # aware, UTC
    provisional: bool  # some day counted fell in a year no calendar data covers


class WorkCalendar:
    """chinesecalendar for the years it covers; admin-loaded years (overrides) on top, which win.

    An overridden year replaces the bundled data for that year entirely: its listed dates are
    holidays (False) or make-up workdays (True) and every other date follows Monday-Friday.
    Answers come from per-year tables (engine/core/workdays.py), built on first use.
    """

    def __init__(self, overrides: Mapping[int, Mapping[date, bool]] | None = None) -> None:
        # Copied so a caller mutating its dict later cannot change deadlines already promised.
        self._overrides: Mapping[int, Mapping[date, bool]] = MappingProxyType(
            {int(y): MappingProxyType(dict(days)) for y, days in (overrides or {}).items()}
        )
        self._tables: dict[int, workdays.YearTable] = {}

    @property
    def override_years(self) -> tuple[int, ...]:
        return tuple(sorted(self._overrides))

    def covers(self, year: int) -> bool:
        """True when real holiday data exists for `year` (loaded override or bundled)."""
        return year in self._overrides or workdays.bundled_covers(year)

    def is_workday(self, day: date) -> bool:
        """Whether `day` is a working day; weekends-only fallback for uncovered years."""
        return self._table(day.year).is_workday(day.toordinal())

    def add_workdays(self, day: date, n: int) -> tuple[date, bool]:
        """The n-th working day after `day` (n > 0), |n|-th before (n < 0), `day` itself (n == 0).

        Returns (date, provisional): provisional if any day stepped over lies in an uncovered year.
        """
        if n == 0:
            return day, False
        ordinal = day.toordinal()
        start = table = self._table(day.year)
        if n > 0:
            index = table.after(ordinal) + n - 1
            while index >= len(table.workdays):  # past this year: on into the next
                index -= len(table.workdays)
                table = self._table(table.year + 1)
        else:
            index = table.before(ordinal) + n
            while index < 0:
                table = self._table(table.year - 1)
                index += len(table.workdays)
        found = table.workdays[index]
        if table is start:  # the usual case: every day passed lies in the start's year
            return date.fromordinal(found), not start.covered
        passed = sorted((ordinal + (1 if n > 0 else -1), found))
        years = range(date.fromordinal(passed[0]).year, date.fromordinal(passed[1]).year + 1)
        return date.fromordinal(found), not all(self._table(y).covered for y in years)

    def _table(self, year: int) -> workdays.YearTable:
        table = self._tables.get(year)
        if table is None:
            listed = self._overrides.get(year)
            table = workdays.bundled(year) if listed is None else workdays.overridden(year, listed)
            self._tables[year] = table
        return table


def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)  # ZoneInfo caches instances itself; unknown names raise here


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")


def _local_at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def due_after(start: datetime, duration: Duration, tz: str, calendar: WorkCalendar) -> Due:
    """Deadline of a state entered at `start`.

    workdays/days count from the local day of `start` and end at 23:59:59 local on the last
    day; hours are exact. A zero duration gives the end of the entry's local day.
    """
    _require_aware(start, "start")
    if duration.unit == "hours":
        return Due((start + timedelta(hours=duration.amount)).astimezone(UTC), False)
    zone = _zone(tz)
    local_day = start.astimezone(zone).date()
    if duration.unit == "workdays":
        day, provisional = calendar.add_workdays(local_day, duration.amount)
    else:
        day, provisional = local_day + timedelta(days=duration.amount), False
    return Due(_local_at(day, END_OF_DAY, zone), provisional)


def shift(deadline: datetime, offset: Duration, tz: str, calendar: WorkCalendar) -> Due:
    """An escalation step's time: `deadline` moved by `offset`, keeping the local time of day.

    `provisional` describes this shift only; OR it with the deadline's own flag.
    """
    _require_aware(deadline, "deadline")
    if offset.amount == 0:
        return Due(deadline.astimezone(UTC), False)
    if offset.unit == "hours":
        return Due((deadline + timedelta(hours=offset.amount)).astimezone(UTC), False)
    zone = _zone(tz)
    local = deadline.astimezone(zone)
    if offset.unit == "workdays":
        day, provisional = calendar.add_workdays(local.date(), offset.amount)
    else:
        day, provisional = local.date() + timedelta(days=offset.amount), False
    return Due(_local_at(day, local.time(), zone), provisional)


# ---------------------------------------------------------------------------------------------
# The admin calendar file


def parse_calendar_file(text: str, filename: str) -> dict[int, dict[date, bool]]:
    """Calendar YAML -> {year: {date: is_workday}}; InvalidInput listing every problem."""
    reader = NodeReader(filename)
    root = compose(text, filename)
    if root is None:
        raise InvalidInput([Problem(SourceLoc(filename, 1, 1), _(
            "empty calendar file; expected a mapping with key 'years'"))], source=filename)
    out: dict[int, dict[date, bool]] = {}
    top = reader.mapping(root, _("calendar file"), CALENDAR_TOP_KEYS, required=("years",))
    for key, key_node, year_node in _years(reader, top["years"][1]) if "years" in top else ():
        year = _year(reader, key, key_node)
        if year is not None:
            out[year] = _read_year(reader, year, year_node)
    if reader.problems:
        ordered = sorted(reader.problems, key=lambda p: (p.loc.line, p.loc.column))
        raise InvalidInput(ordered, source=filename)
    return out


def _years(reader: NodeReader, node: yaml.Node) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    """The year entries; a year given twice is reported and its second entry skipped."""
    if not isinstance(node, yaml.MappingNode):
        reader.error(node, _("years must be a mapping"))
        return
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
        if key in seen:
            reader.error(key_node, _("years: key '{key}' appears twice").format(key=key))
            continue
        seen.add(key)
        yield key, key_node, value_node


def _year(reader: NodeReader, key: str, key_node: yaml.Node) -> int | None:
    if not re.fullmatch(r"\d{4}", key):
        reader.error(key_node, _("years: '{key}' is not a year (expected for example 2027)")
                     .format(key=key))
        return None
    return int(key)


def _read_year(reader: NodeReader, year: int, node: yaml.Node) -> dict[date, bool]:
    """One year's holidays and make-up workdays; a day in both lists is an error."""
    first_seen: dict[date, tuple[bool, SourceLoc]] = {}
    clashes: dict[int, tuple[yaml.Node, list[date], int]] = {}  # one message per list item
    for key, (_k, list_node) in reader.mapping(node, _("year {year}").format(year=year),
                                                  CALENDAR_YEAR_KEYS).items():
        is_workday = key == "workdays"
        for item, day in _dates(reader, year, key, list_node):
            kind, loc = first_seen.setdefault(day, (is_workday, reader.loc(item)))
            if kind != is_workday:
                clashes.setdefault(id(item), (item, [], loc.line))[1].append(day)
    for item, clash_days, other_line in clashes.values():
        shown = ", ".join(d.isoformat() for d in clash_days[:5])
        if len(clash_days) > 5:
            shown = _("{days} and {more} more").format(days=shown, more=len(clash_days) - 5)
        reader.error(item, _("{days}: listed both as a holiday and as a workday (see line "
                             "{line})").format(days=shown, line=other_line))
    return {day: kind for day, (kind, _) in first_seen.items()}


def _dates(
    reader: NodeReader, year: int, key: str, node: yaml.Node
) -> Iterator[tuple[yaml.Node, date]]:
    """Every date of a `holidays`/`workdays` list, ranges expanded, with the item it came from."""
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return  # `workdays:` left empty means none
    if not isinstance(node, yaml.SequenceNode):
        reader.error(node, _("{key} of {year} must be a list of dates such as [{year}-01-01]")
                     .format(key=key, year=year))
        return
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode):
            reader.error(item, _("{key} of {year}: expected a date or a range A..B").format(
                key=key, year=year))
            continue
        span = _span(reader, year, item)
        if span is not None:
            first, last = span
            for offset in range((last - first).days + 1):
                yield item, first + timedelta(days=offset)


def _span(reader: NodeReader, year: int, item: yaml.ScalarNode) -> tuple[date, date] | None:
    """A single date or an inclusive range A..B, both ends in `year`."""
    text = str(item.value).strip()
    parts = [p.strip() for p in text.split("..")]
    if len(parts) > 2:
        reader.error(item, _("'{text}' is not a date or a range such as {year}-02-06..{year}-02-12")
                     .format(text=text, year=year))
        return None
    ends = [_parse_date(reader, item, part) for part in parts]
    first, last = ends[0], ends[-1]  # a single date is a one-day range
    if first is None or last is None:
        return None
    outside = [d.isoformat() for d in dict.fromkeys((first, last)) if d.year != year]
    if outside:
        reader.error(item, _("{days} is not in year {year}").format(days=", ".join(outside),
                                                                    year=year))
        return None
    if last < first:
        reader.error(item, _("range '{text}' ends before it starts").format(text=text))
        return None
    return first, last


def _parse_date(reader: NodeReader, item: yaml.Node, text: str) -> date | None:
    if _DATE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:  # Python's own words ("month must be in 1..12") are English
            reader.error(item, _("'{text}' is not a valid date: there is no such day").format(
                text=text))
            return None
    reader.error(item, _("'{text}' is not a date; write YYYY-MM-DD").format(text=text))
    return None
