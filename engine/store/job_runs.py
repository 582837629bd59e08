"""The periods the scheduler's periodic jobs were done for: (job, period) rows, such as
("digest", "2025-10-21") or ("weekly", "2025-W43"). `scheduler --once` run from cron every few
minutes does each job once per period, when its time has come (engine/app/periodic.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from .models import JOB_RUNS


def done(conn: Connection, job: str, period: str) -> bool:
    return conn.execute(select(JOB_RUNS.c.ran_at).where(
        (JOB_RUNS.c.job == job) & (JOB_RUNS.c.period == period))).first() is not None


def record(conn: Connection, job: str, period: str, at: datetime) -> None:
    """Mark the job done for the period (once: a second record of it is skipped)."""
    if not done(conn, job, period):
        conn.execute(JOB_RUNS.insert().values(job=job, period=period, ran_at=at))
