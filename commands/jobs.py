"""Output of the time-driven commands: sweep, outbox list and dispatch."""

from __future__ import annotations

from typing import Any

import click

from .support import AppContext, echo_json, table


def run_sweep(app: AppContext, dry_run: bool) -> None:
    from ..engine.app.sweep import sweep

    report = sweep(app.service(), dry_run=dry_run)
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


def list_outbox(app: AppContext, status: str | None, limit: int) -> None:
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


def dispatch_outbox(app: AppContext) -> None:
    from ..engine.settings import build_channels
    from ..engine.store.outbox import OutboxTable
    from ..notifications.dispatch import dispatch

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
