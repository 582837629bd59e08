"""When the scheduler's periodic jobs are due: the daily digest (日清日结) once a day at
`[scheduler] digest_time`, the weekly report (每周通报) once an ISO week at `[scheduler] weekly`,
local time. Each is done once per period, whoever runs it and however often (`scheduler --once`
from cron every five minutes): the period is recorded when done (store.job_runs), and a call
before the time, or after the period was done, does nothing and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..store import job_runs
from ..store.db import read, write

TZ = "Asia/Shanghai"  # the scheduler's time zone, as its cron triggers use


def digest_period(now: datetime, scheduler: Any, tz: str = TZ) -> str | None:
    """Today's date, once `digest_time` has come today; None before."""
    local = now.astimezone(ZoneInfo(tz))
    return local.date().isoformat() if local.time() >= scheduler.digest_at else None


def weekly_period(now: datetime, scheduler: Any, tz: str = TZ) -> str | None:
    """This ISO week (2025-W43), once its `weekly` day and time have come; None before."""
    local = now.astimezone(ZoneInfo(tz))
    weekday, at = scheduler.weekly_at
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday + timedelta(days=weekday), at, tzinfo=ZoneInfo(tz))
    if local < start:
        return None
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def once_per_period(engine: Any, job: str, period: str | None, now: datetime,
                    work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Do `work` unless its time has not come (`period` None) or the period is done; then
    record the period. A crash between the work and the record repeats the work on the next
    call, which queues nothing twice (outbox dedupe keys)."""
    if period is None:
        return {"skipped": "not yet time"}
    with read(engine) as conn:
        if job_runs.done(conn, job, period):
            return {"skipped": f"already done for {period}"}
    result = work()
    with write(engine) as conn:
        job_runs.record(conn, job, period, now)
    return {"period": period, **result}
