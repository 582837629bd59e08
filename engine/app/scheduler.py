"""`rectify scheduler`: APScheduler 3 drives the sweep, the outbox, the daily digest and the
weekly report in one long-running process.

Several schedulers may run against one database (one per machine); a lease row elects the one
that works. Each process keeps its own in-memory APScheduler job store (APScheduler 3 must not
share one), and every job first renews the lease: a process that does not hold it does nothing
and keeps trying, so when the leader dies another takes over once its lease lapses. Work is
idempotent anyway (ladder rows, outbox dedupe keys), so a brief overlap cannot double anything.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..core.clock import Clock, SystemClock
from ..core.logs import get_logger
from ..store import repo
from ..store.db import write

if TYPE_CHECKING:
    from .runtime import Runtime
    from .service import Service

log = get_logger("rectify.scheduler")
LEASE = "scheduler"


class Lease:
    """Leadership through a row in `leases`, renewed by the holder, taken over when it lapses.

    Lease times are real time, never the simulated `--now`: they are about processes being alive.
    """

    def __init__(self, service: Service, holder: str, seconds: float,
                 clock: Clock | None = None) -> None:
        self.service, self.holder, self.seconds = service, holder, seconds
        self.clock = clock or SystemClock()

    def hold(self) -> bool:
        now = self.clock.now()
        with write(self.service.engine) as conn:
            return repo.take_lease(conn, LEASE, self.holder, now,
                                   now + timedelta(seconds=self.seconds))

    def release(self) -> None:
        with write(self.service.engine) as conn:
            repo.release_lease(conn, LEASE, self.holder)


class Jobs:
    """The scheduler's work, each guarded by the lease and stoppable between batches."""

    def __init__(self, app: Runtime, lease: Lease) -> None:
        self.app, self.lease = app, lease
        self.service = app.service()
        self.stopping = threading.Event()
        self.leading = False

    def guarded(self, name: str, work: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set():
                return
            leading = self.lease.hold()
            if leading != self.leading:
                log.info("scheduler.leader" if leading else "scheduler.follower",
                         holder=self.lease.holder)
                self.leading = leading
            if not leading:
                return
            try:
                result = work()
                log.info(f"scheduler.{name}", result=result)
            except Exception:
                log.exception(f"scheduler.{name}.failed")
        return run

    def sweep(self) -> dict[str, int]:
        from .sweep import sweep

        report = sweep(self.service, should_stop=self.stopping.is_set)
        return {"escalations": len(report.escalations), "fired": len(report.fired),
                "errors": len(report.errors)}

    def dispatch(self) -> dict[str, int]:
        from .outbox import dispatch_due

        rerouted, report = dispatch_due(self.service, self.app.settings(),
                                        should_stop=self.stopping.is_set)
        return {"sent": report.sent, "retried": report.retried, "failed": report.failed,
                "rerouted": rerouted.rows}

    def digest(self) -> dict[str, Any]:
        from .digest import queue_daily_digest
        from .periodic import digest_period, once_per_period

        settings, now = self.app.settings(), self.service.clock.now()
        return once_per_period(
            self.service.engine, "digest", digest_period(now, settings.scheduler), now,
            lambda: {"people": queue_daily_digest(
                self.service, yellow_workdays=settings.lights.yellow_workdays)})

    def weekly(self) -> dict[str, Any]:
        from ..reports.figures import queue_weekly_report
        from .periodic import once_per_period, weekly_period

        settings, now = self.app.settings(), self.service.clock.now()
        weights = dict(settings.report.weights)
        return once_per_period(
            self.service.engine, "weekly", weekly_period(now, settings.scheduler), now,
            lambda: {"units": queue_weekly_report(self.service, weights=weights)})


def run_scheduler(app: Runtime, *, once: bool, holder: str | None) -> None:
    from ..core.logs import configure_logging

    configure_logging(json_lines=True)
    settings = app.settings().scheduler
    lease = Lease(app.service(), holder or f"{socket.gethostname()}:{os.getpid()}",
                  settings.lease_seconds)
    jobs = Jobs(app, lease)
    if once:
        for name in ("sweep", "dispatch", "digest", "weekly"):
            jobs.guarded(name, getattr(jobs, name))()
        lease.release()
        return
    _run_forever(jobs, settings)


def _run_forever(jobs: Jobs, settings: Any) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    tz = "Asia/Shanghai"
    digest, (weekday, weekly_at) = settings.digest_at, settings.weekly_at
    scheduler = BlockingScheduler(timezone=tz, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    renew = max(1.0, settings.lease_seconds / 3)
    scheduler.add_job(jobs.guarded("lease", lambda: None), IntervalTrigger(seconds=renew),
                      next_run_time=SystemClock().now())
    scheduler.add_job(jobs.guarded("sweep", jobs.sweep),
                      IntervalTrigger(minutes=settings.sweep_minutes),
                      next_run_time=SystemClock().now())
    scheduler.add_job(jobs.guarded("dispatch", jobs.dispatch), IntervalTrigger(minutes=1))
    scheduler.add_job(jobs.guarded("digest", jobs.digest),
                      CronTrigger(hour=digest.hour, minute=digest.minute, timezone=tz))
    scheduler.add_job(jobs.guarded("weekly", jobs.weekly),
                      CronTrigger(day_of_week=weekday, hour=weekly_at.hour,
                                  minute=weekly_at.minute, timezone=tz))

    def stop(signum: int, _frame: Any) -> None:
        log.info("scheduler.stopping", signal=signum)
        jobs.stopping.set()  # a running sweep ends after its current batch
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler.start", holder=jobs.lease.holder, lease_seconds=settings.lease_seconds)
    scheduler.start()
    jobs.lease.release()
    log.info("scheduler.stopped", holder=jobs.lease.holder)
