"""The only place rectify reads the real time. Everything else is handed `now`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from .i18n import _


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved: for tests and `--now` simulations."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._at += delta if delta is not None else timedelta(**kwargs)
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)


# Dates and times rectify accepts from people and files. Far wider than any rectification's
# life, and far enough from Python's own limits (year 1 and 9999) that adding the longest
# duration or converting between timezones can never overflow (`--now 0001-01-01T00:00+14:00`
# and a deadline of 9999-12-31 used to crash the first sweep).
FIRST_YEAR, LAST_YEAR = 1900, 2999


def check_year(moment: date | datetime) -> None:
    """ValueError when a date or time lies outside FIRST_YEAR..LAST_YEAR."""
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(_("{moment} is outside the years {first}–{last}").format(
            moment=moment.isoformat(), first=FIRST_YEAR, last=LAST_YEAR))


def parse_instant(text: str, default_tz: str = "Asia/Shanghai") -> datetime:
    """ISO-8601 from the command line; a date or a time without offset is taken as local time."""
    from zoneinfo import ZoneInfo

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:  # Python's words ("Invalid isoformat string", "month must be in 1..12")
        raise ValueError(_("no such time: write it as 2025-09-26T10:00:00+08:00, or a day as "
                           "2025-09-26")) from None
    check_year(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(default_tz))
    return value.astimezone(UTC)


