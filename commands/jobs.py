"""The time-driven commands: sweep, scheduler, outbox list and outbox dispatch.

Each command declares its own options here; cli.py registers them. Engine modules are imported
inside the commands, so `rectify --help` loads none of them. Only the commands that may log
configure logging (structlog's import would cost every start).
"""

from __future__ import annotations

from typing import Any

import click

from .support import AppContext, configure_logging, echo_json, pass_app, table


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what would happen; write nothing.")
@pass_app
def sweep(app: AppContext, dry_run: bool) -> None:
    """One pass of deadlines, escalations and timers at --now (safe to repeat)."""
    from ..engine.app.sweep import sweep as run_sweep

    configure_logging()
    report = run_sweep(app.service(), dry_run=dry_run)
    if app.as_json:
        echo_json(report.as_json())
        return
    prefix = "would apply" if dry_run else "applied"
    for e in report.escalations:
        late = " (late)" if e.get("late") else ""
        click.echo(f"{prefix} item {e['item']} {e['state']} step {e['step'] + 1}: "
                   f"{e['action']}{late}")
    for f in report.fired:
        click.echo(f"{'would fire' if dry_run else 'fired'} item {f['item']}: {f['trigger']}")
    for err in report.errors:
        click.echo(f"error: item {err['item']}: {err['error']}", err=True)
    click.echo(f"sweep{' (dry run)' if dry_run else ''}: {len(report.escalations)} escalations, "
               f"{len(report.fired)} transitions fired, {len(report.errors)} errors")


@click.command()
@click.option("--once", is_flag=True, help="Run each due job once and exit (for cron and tests).")
@click.option("--id", "holder", help="This process's name in the leader lease.")
@pass_app
def scheduler(app: AppContext, once: bool, holder: str | None) -> None:
    """Long-running: sweep, dispatch, daily digest and weekly report (one leader per database)."""
    from ..engine.app.scheduler import run_scheduler

    run_scheduler(app, once=once, holder=holder)


@click.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]))
@click.option("--limit", type=int, default=50, show_default=True)
@pass_app
def outbox_list(app: AppContext, status: str | None, limit: int) -> None:
    """The newest notifications, with their status and last error."""
    from ..engine.app.outbox import list_rows
    from ..engine.store.db import read

    with read(app.service().engine) as conn:
        rows = list_rows(conn, status, limit)
    if app.as_json:
        echo_json([{k: v for k, v in r.items() if k not in ("body_markdown", "data")}
                   for r in rows])
        return
    click.echo(table(["id", "status", "channel", "template", "item", "to", "subject", "error"],
                     [[r["id"], r["status"], r["channel"], r["template"], r["item_id"],
                       ", ".join(p["name"] for p in r["recipients"].get("people", [])),
                       r["subject"], r["last_error"] or ""] for r in rows]))


@click.command("dispatch")
@pass_app
def outbox_dispatch(app: AppContext) -> None:
    """Send what is due, with retries and backoff."""
    from ..engine.store.outbox import OutboxTable
    from ..notifications.dispatch import dispatch
    from ..notifications.settings import build_channels

    configure_logging()  # the channels and the dispatcher log each notification
    service = app.service()
    channels = build_channels(app.settings())
    total = None
    while True:
        report = dispatch(OutboxTable(service.engine), channels, service.clock.now())
        total = report if total is None else _add(total, report)
        if report.sent + report.retried + report.failed == 0:
            break
    assert total is not None
    if app.as_json:
        echo_json(total.__dict__)
        return
    click.echo(f"outbox: {total.sent} sent, {total.retried} to retry, {total.failed} failed"
               + (f"; paused: {', '.join(total.paused_channels)}" if total.paused_channels
                  else ""))


def _add(a: Any, b: Any) -> Any:
    from dataclasses import replace

    return replace(a, sent=a.sent + b.sent, retried=a.retried + b.retried,
                   failed=a.failed + b.failed, postponed=a.postponed + b.postponed,
                   paused_channels=tuple(sorted(set(a.paused_channels) | set(b.paused_channels))))
