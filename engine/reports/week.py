"""The report's week: an ISO week in the workflow's timezone, Monday 00:00 to Monday 00:00, and
how offices write it (2025年9月22日—9月28日) and number it (期号)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..core.errors import UsageError
from ..core.i18n import _

__all__ = ["Week", "issue_label", "period_label"]


@dataclass(frozen=True)
class Week:
    label: str  # 2025-W40
    start: datetime
    end: datetime

    @classmethod
    def containing(cls, now: datetime, tz: str) -> Week:
        local = now.astimezone(ZoneInfo(tz)).date()
        monday = local - timedelta(days=local.weekday())
        return cls.of(monday, tz)

    @classmethod
    def of(cls, monday: date, tz: str) -> Week:
        start = datetime.combine(monday, time(0), ZoneInfo(tz)).astimezone(UTC)
        end = datetime.combine(monday + timedelta(days=7), time(0), ZoneInfo(tz)).astimezone(UTC)
        year, week, _ = monday.isocalendar()
        return cls(f"{year}-W{week:02d}", start, end)

    @classmethod
    def parse(cls, label: str, tz: str) -> Week:
        """`2025-W40` (ISO week); UsageError for anything else."""
        try:
            year, _sep, number = label.strip().upper().partition("-W")
            return cls.of(date.fromisocalendar(int(year), int(number), 1), tz)
        except ValueError:
            raise UsageError(_("--week {label!r}: expected an ISO week such as 2025-W40")
                             .format(label=label)) from None

    def shift(self, weeks: int, tz: str) -> Week:
        """The week `weeks` later (negative: earlier)."""
        return Week.of(self.monday(tz) + timedelta(weeks=weeks), tz)

    def monday(self, tz: str) -> date:
        return self.start.astimezone(ZoneInfo(tz)).date()

    def as_of(self, now: datetime) -> datetime:
        """The instant the week's open and overdue items are judged at: its end for a past
        week, `now` for the current one."""
        return min(now, self.end)


def period_label(week: Week, tz: str) -> str:
    """2025年9月22日—9月28日 (the year again only when the week spans two)."""
    first = week.monday(tz)
    last = first + timedelta(days=6)
    tail = f"{last.year}年" if last.year != first.year else ""
    return f"{first.year}年{first.month}月{first.day}日—{tail}{last.month}月{last.day}日"


def issue_label(pattern: str, week: Week, tz: str, first_week: str | None) -> str:
    """期号 from `[report] issue_number`: {year} and {week} of the ISO week, {n} counting weeks
    from `[report] first_week` (its first issue is 1)."""
    year, number, _ = week.monday(tz).isocalendar()
    n = number
    if first_week:
        n = (week.monday(tz) - Week.parse(first_week, tz).monday(tz)).days // 7 + 1
    return pattern.format(year=year, week=number, n=n)
