"""The time-driven commands: sweep, scheduler, outbox list and outbox dispatch.

Each command declares its own options here; cli.py registers them. Engine modules are imported
inside the commands, so `rectify --help` loads none of them. Only the commands that may log
configure logging (structlog's import would cost every start).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..engine.core.i18n import _, ngettext
from .support import AppContext, configure_logging, echo_json, pass_app, progress, table


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what would happen; write nothing.")
@pass_app
def sweep(app: AppContext, dry_run: bool) -> None:
    """One pass of deadlines, escalations and timers at --now (safe to repeat).

    A bar on a terminal while it runs; then each step and transition (always for --dry-run,
    else only on a terminal: a log gets the one-line summary; --json has every one)."""
    from ..engine.app.sweep import sweep as run_sweep
    from ..engine.app.views import steps_due

    configure_logging()
    service = app.service()
    total = steps_due(service) if sys.stderr.isatty() and not dry_run else 0
    with progress(total, _("sweeping"), from_items=1000) as bar:
        report = run_sweep(service, dry_run=dry_run, progress=bar)
    if app.as_json:
        echo_json(report.as_json())
        return
    if dry_run or sys.stdout.isatty():
        _sweep_lines(service, report, dry_run)
    for err in report.errors:
        click.echo(_("error: item {item}: {error}").format(
                       item=err['item'], error=err['error']), err=True)
    escalations, fired, errors = len(report.escalations), len(report.fired), len(report.errors)
    click.echo(_("sweep{dry_run}: {escalations}, {fired}, {errors}").format(
        dry_run=_(" (dry run)") if dry_run else "",
        escalations=ngettext("{count} escalation", "{count} escalations",
                             escalations).format(count=escalations),
        fired=ngettext("{count} transition fired", "{count} transitions fired",
                       fired).format(count=fired),
        errors=ngettext("{count} error", "{count} errors", errors).format(count=errors)))


def _sweep_lines(service: Any, report: Any, dry_run: bool) -> None:
    """A line per step and per fired transition: states, steps and transitions by the
    workflow's labels in Chinese (as `item show`'s card), by id in English."""
    from ..engine.app.views import labels_by_item
    from .items import history_words

    items = [line["item"] for line in (*report.escalations, *report.fired)]
    labels = labels_by_item(service, items) if items else {}
    unknown: dict[str, dict[str, str]] = {"states": {}, "triggers": {}}
    prefix = _("would apply") if dry_run else _("applied")
    for e in report.escalations:
        said = history_words(labels.get(e["item"], unknown))
        late = _(" (late)") if e.get("late") else ""
        click.echo(_("{prefix} item {item} {state} step {step}: {action}{late}").format(
                       prefix=prefix, item=e['item'], state=said.state(e['state']),
                       step=e['step'], action=said.step(e), late=late))
    for f in report.fired:
        said = history_words(labels.get(f["item"], unknown))
        line = (_("would fire item {item}: {trigger}") if dry_run
                else _("fired item {item}: {trigger}"))
        click.echo(line.format(item=f['item'], trigger=said.firable(f['trigger'])))


@click.command()
@click.option("--once", is_flag=True, help="Run each due job once and exit (for cron and tests).")
@click.option("--id", "holder", help="This process's name in the leader lease.")
@pass_app
def scheduler(app: AppContext, once: bool, holder: str | None) -> None:
    """Long-running: sweep, dispatch, daily digest and weekly report (one leader per database)."""
    from ..engine.app.scheduler import run_scheduler

    run_scheduler(app, once=once, holder=holder)


STATUSES = ["pending", "sent", "failed", "rerouted"]


@click.command("list")
@click.option("--status", type=click.Choice(STATUSES))
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
    headers = ["id", _("status"), _("channel"), _("template"), _("item"), _("to"),
               _("subject"), _("error")]
    click.echo(table(headers,
                     [[r["id"], r["status"], r["channel"], r["template"], r["item_id"],
                       ", ".join(p["name"] for p in r["recipients"].get("people", [])),
                       r["subject"], r["last_error"] or ""] for r in rows]))


@click.command("dispatch")
@pass_app
def outbox_dispatch(app: AppContext) -> None:
    """Send what is due, with retries and backoff; exit 1 if any notification failed for good.

    Rows queued for a channel the settings no longer have are re-routed first."""
    import sys

    from ..engine.app.outbox import count_due, dispatch_due
    from ..engine.core.errors import DeliveryFailed

    service, settings = app.store(), app.settings()  # a Store: no use case of the Service
    if sys.stderr.isatty() and not app.as_json:
        # The bar says how far it is: only warnings and errors are logged over it.
        configure_logging(level="WARNING")
        with click.progressbar(length=count_due(service), label=_("sending notifications"),
                               file=sys.stderr, show_pos=True) as bar:
            rerouted, total = dispatch_due(service, settings, bar.update)
    else:
        configure_logging()  # the channels and the dispatcher log each notification
        rerouted, total = dispatch_due(service, settings)
    if app.as_json:
        echo_json({**total.__dict__, "rerouted": rerouted.rows})
    else:
        line = _("outbox: {sent} sent, {retried} to retry, {failed} failed").format(
            sent=total.sent, retried=total.retried, failed=total.failed)
        if rerouted.rows:
            line += _("; {rerouted} re-routed").format(rerouted=rerouted.rows)
        if total.paused_channels:
            line += _("; paused: {channels}").format(channels=", ".join(total.paused_channels))
        click.echo(line)
    if total.failed:
        raise DeliveryFailed(total.failed)


@click.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--status", type=click.Choice(["failed", "sent"]), default="failed",
              show_default=True, help="Requeue rows of this status (sent: send them again).")
@pass_app
def outbox_retry(app: AppContext, ids: tuple[int, ...], status: str) -> None:
    """Requeue notifications (all failed ones, or the IDs given), due at once."""
    from ..engine.app.outbox import retry

    found = retry(app.service(), status, ids)
    if app.as_json:
        echo_json({"requeued": found})
        return
    click.echo(_("outbox: {count} requeued; `rectify outbox dispatch` sends them")
               .format(count=len(found)))
