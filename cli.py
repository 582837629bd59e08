"""The `rectify` command line: parses, builds the objects, prints. No business rules here.

Imports of the engine happen inside commands, so `rectify --help` starts without loading
SQLAlchemy, Alembic or APScheduler; structlog is configured (and imported) only by the commands
that log. Errors become the contract's exit codes in `main`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .commands.support import AppContext, configure_logging, echo_json, parse_fields

pass_app = click.make_pass_decorator(AppContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", envvar="RECTIFY_DB", default="sqlite:///rectify.db", show_default=True,
              help="SQLAlchemy database URL (sqlite:///FILE or postgresql+psycopg://...).")
@click.option("--as", "actor", envvar="RECTIFY_USER", help="Who is acting (a person id).")
@click.option("--now", envvar="RECTIFY_NOW", help="The clock, ISO-8601 (default: real time).")
@click.option("--config", envvar="RECTIFY_CONFIG", type=click.Path(dir_okay=False),
              help="Settings file (default: rectify.toml here, if present).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.pass_context
def cli(ctx: click.Context, db: str, actor: str | None, now: str | None, config: str | None,
        as_json: bool) -> None:
    """rectify: the rectification cycle (整改闭环) — problems found, rectified, accepted, closed."""
    ctx.obj = AppContext(db=db, now_text=now, config=config, actor=actor, as_json=as_json)


@cli.command()
@pass_app
def init(app: AppContext) -> None:
    """Create or upgrade the database and load the bundled workflows."""
    from .engine.store.db import upgrade
    from .workflows import bundled_files

    upgrade(app.engine())
    service = app.service()
    loaded = []
    for path in bundled_files():
        version, created = service.load_workflow(path)
        loaded.append({"workflow": version.name, "version": version.version, "new": created})
    if app.as_json:
        echo_json({"database": app.db_display(), "workflows": loaded})
        return
    click.echo(f"database ready: {app.db_display()}")
    for w in loaded:
        click.echo(f"  workflow {w['workflow']} v{w['version']}"
                   + (" (new)" if w["new"] else " (unchanged)"))


@cli.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              help="Where to create the demo database (default: a new temporary folder).")
@click.option("--quiet", is_flag=True, help="Only say where the results are.")
def demo(directory: str | None, quiet: bool) -> None:
    """A guided run of the whole cycle on a fresh SQLite file."""
    from .engine.demo.rectification import run_demo

    configure_logging(level="WARNING")
    run_demo(Path(directory) if directory else None, echo=(lambda *_: None) if quiet
             else click.echo)


# --- workflow -------------------------------------------------------------------------------------

@cli.group()
def workflow() -> None:
    """Validate, load and inspect workflow definitions."""


@workflow.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@pass_app
def workflow_validate(app: AppContext, files: tuple[str, ...]) -> None:
    """Check workflow files; every problem as FILE:LINE:COL: message (exit 6 if any)."""
    from .commands.workflow import validate_files

    sys.exit(validate_files(app, [Path(f) for f in files]))


@workflow.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_app
def workflow_load(app: AppContext, file: str) -> None:
    """Register a new version of a workflow if its content changed."""
    version, created = app.service().load_workflow(Path(file))
    if app.as_json:
        echo_json({"workflow": version.name, "version": version.version, "new": created})
    else:
        click.echo(f"workflow {version.name} v{version.version}: "
                   + ("registered" if created else "unchanged (same content)"))


@workflow.command("list")
@pass_app
def workflow_list(app: AppContext) -> None:
    """Workflows in the database, newest version of each."""
    from .commands.workflow import list_workflows

    list_workflows(app)


@workflow.command("show")
@click.argument("name")
@pass_app
def workflow_show(app: AppContext, name: str) -> None:
    """States, transitions and escalation ladders of a workflow (NAME or FILE)."""
    from .commands.workflow import show_workflow

    show_workflow(app, name)


@workflow.command("graph")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg", "png"]),
              default="mermaid", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file.")
@pass_app
def workflow_graph(app: AppContext, name: str, fmt: str, output: str | None) -> None:
    """The state graph as Mermaid or Graphviz (svg/png need Graphviz's `dot`)."""
    from .commands.workflow import graph_workflow

    graph_workflow(app, name, fmt, Path(output) if output else None)


@workflow.command("migrate")
@click.argument("name")
@click.option("--to", "to_version", required=True, metavar="VERSION",
              help="The version to move running items to (2 or v2).")
@click.option("--map", "mappings", multiple=True, metavar="OLD=NEW",
              help="Where items in state OLD go (a state of the target version); repeatable.")
@click.option("--comment", help="Why: recorded on each item's migrate history row.")
@click.option("--dry-run", is_flag=True, help="Print the plan and per-item results; write nothing.")
@pass_app
def workflow_migrate(app: AppContext, name: str, to_version: str, mappings: tuple[str, ...],
                     comment: str | None, dry_run: bool) -> None:
    """Move NAME's running items to another version; each move is recorded in the item's
    history (actor: --as, or system without it). Exit 3 if a state has nowhere to go."""
    from .commands.workflow import migrate_workflow

    sys.exit(migrate_workflow(app, name, to_version, mappings, comment, dry_run))


@workflow.command("diff")
@click.argument("name")
@click.argument("v1")
@click.argument("v2")
@pass_app
def workflow_diff(app: AppContext, name: str, v1: str, v2: str) -> None:
    """What changed from version V1 to V2, and how many running items on V1 each change touches."""
    from .commands.workflow import diff_workflow

    diff_workflow(app, name, v1, v2)


# --- org and calendar -----------------------------------------------------------------------------

@cli.group()
def org() -> None:
    """Units and people."""


@org.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_app
def org_load(app: AppContext, file: str) -> None:
    """Load units and people with their roles; loading the same file twice changes nothing."""
    changes = app.service().load_org(Path(file))
    if app.as_json:
        echo_json(changes.__dict__)
    elif changes.changed:
        click.echo(f"org loaded: {changes.units} units and {changes.people} people changed, "
                   f"{changes.grants_added} roles granted, {changes.grants_removed} withdrawn")
    else:
        click.echo("org unchanged")


@cli.group()
def calendar() -> None:
    """Working-day calendar data."""


@calendar.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_app
def calendar_load(app: AppContext, file: str) -> None:
    """Add or correct years of holidays and make-up workdays; recompute provisional deadlines."""
    years, recomputed = app.service().load_calendar(Path(file))
    if app.as_json:
        echo_json({"years": years, "recomputed": recomputed})
    else:
        click.echo(f"calendar loaded for {', '.join(map(str, years))}; "
                   f"{recomputed} provisional deadlines recomputed")


# --- items ----------------------------------------------------------------------------------------

@cli.group()
def item() -> None:
    """Problems in the ledger: create, list, show, advance, assign."""


@item.command("new")
@click.option("--workflow", required=True)
@click.option("--unit", required=True)
@click.option("--subject", help="What the problem is about, as KIND:KEY (household:HH-0001).")
@click.option("--assignee", help="The responsible person.")
@click.option("--due", help="Deadline (a date is the end of that day); overrides the state's.")
@click.option("--field", "field_values", multiple=True, metavar="KEY=VALUE")
@pass_app
def item_new(app: AppContext, workflow: str, unit: str, subject: str | None,
             assignee: str | None, due: str | None, field_values: tuple[str, ...]) -> None:
    """Create an item; prints its id alone."""
    item_id = app.service().new_item(app.actor, workflow, unit, subject=subject,
                                     assignee=assignee, due=due,
                                     values=parse_fields(field_values))
    echo_json({"id": item_id}) if app.as_json else click.echo(str(item_id))


def _filters(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--state"), click.option("--unit", help="This unit and all below it."),
        click.option("--assignee"), click.option("--workflow"),
        click.option("--overdue", is_flag=True, help="Past their deadline and not closed."),
    ]):
        func = option(func)
    return func


@item.command("list")
@_filters
@click.option("--limit", type=int, default=0, help="At most this many rows (0: all).")
@pass_app
def item_list(app: AppContext, limit: int, **filters: Any) -> None:
    """Items matching the filters."""
    from .commands.items import list_items

    list_items(app, filters, limit)


@item.command("bulk")
@click.argument("trigger")
@_filters
@click.option("--field", "field_values", multiple=True, metavar="KEY=VALUE")
@click.option("--comment")
@click.option("--dry-run", is_flag=True, help="Decide every item; write nothing.")
@pass_app
def item_bulk(app: AppContext, trigger: str, field_values: tuple[str, ...], comment: str | None,
              dry_run: bool, **filters: Any) -> None:
    """Fire TRIGGER on every matching item, each checked as a single advance would be.

    Refused items are listed with the reason and left unchanged; the rest commit in batches.
    Exit 0 when every matched item fired, 3 when some were refused."""
    from .commands.items import bulk_items

    sys.exit(bulk_items(app, trigger, filters, parse_fields(field_values), comment, dry_run))


@item.command("show")
@click.argument("item_id", type=int)
@pass_app
def item_show(app: AppContext, item_id: int) -> None:
    """State, deadline, light, fields, history, escalations and the triggers you may fire."""
    from .commands.items import show_item

    show_item(app, item_id)


@item.command("advance")
@click.argument("item_id", type=int)
@click.argument("trigger")
@click.option("--comment")
@click.option("--field", "field_values", multiple=True, metavar="KEY=VALUE")
@click.option("--attach", multiple=True, type=click.Path(exists=True, dir_okay=False))
@pass_app
def item_advance(app: AppContext, item_id: int, trigger: str, comment: str | None,
                 field_values: tuple[str, ...], attach: tuple[str, ...]) -> None:
    """Fire TRIGGER on the item."""
    from .commands.items import advance_item

    advance_item(app, item_id, trigger, comment, parse_fields(field_values),
                 [Path(a) for a in attach])


@item.command("assign")
@click.argument("item_id", type=int)
@click.argument("person")
@click.option("--due", help="A new deadline for the current state.")
@pass_app
def item_assign(app: AppContext, item_id: int, person: str, due: str | None) -> None:
    """Give the item to PERSON (and optionally a new deadline)."""
    app.service().assign(item_id, app.actor, person, due)
    if app.as_json:
        echo_json({"id": item_id, "assignee": person})
    else:
        click.echo(f"item {item_id} assigned to {person}" + (f", due {due}" if due else ""))


# --- time: sweep and scheduler -------------------------------------------------------------------

@cli.command()
@click.option("--dry-run", is_flag=True, help="Say what would happen; write nothing.")
@pass_app
def sweep(app: AppContext, dry_run: bool) -> None:
    """One pass of deadlines, escalations and timers at --now (safe to repeat)."""
    from .commands.jobs import run_sweep

    configure_logging()  # as `outbox dispatch` and `scheduler`: the commands that may log
    run_sweep(app, dry_run)


@cli.command()
@click.option("--once", is_flag=True, help="Run each due job once and exit (for cron and tests).")
@click.option("--id", "holder", help="This process's name in the leader lease.")
@pass_app
def scheduler(app: AppContext, once: bool, holder: str | None) -> None:
    """Long-running: sweep, dispatch, daily digest and weekly report (one leader per database)."""
    from .engine.app.scheduler import run_scheduler

    run_scheduler(app, once=once, holder=holder)


@cli.group()
def outbox() -> None:
    """Notifications waiting, sent and failed."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]))
@click.option("--limit", type=int, default=50, show_default=True)
@pass_app
def outbox_list(app: AppContext, status: str | None, limit: int) -> None:
    """The newest notifications, with their status and last error."""
    from .commands.jobs import list_outbox

    list_outbox(app, status, limit)


@outbox.command("dispatch")
@pass_app
def outbox_dispatch(app: AppContext) -> None:
    """Send what is due, with retries and backoff."""
    from .commands.jobs import dispatch_outbox

    configure_logging()  # the channels and the dispatcher log each notification
    dispatch_outbox(app)


# --- audit ----------------------------------------------------------------------------------------

@cli.group()
def audit() -> None:
    """Tamper evidence of the history."""


@audit.command("verify")
@pass_app
def audit_verify(app: AppContext) -> None:
    """Check every item's history hash chain; report the first broken link."""
    from .commands.items import verify_audit

    sys.exit(verify_audit(app))


# --- ledgers and reports (cli_ledger.py) ---------------------------------------------------------

def _register_ledger_commands() -> None:
    from .commands.ledger import item_import, ledger, report

    item.add_command(item_import)
    cli.add_command(ledger)
    cli.add_command(report)


_register_ledger_commands()


def main() -> None:
    from .commands.support import run

    run(cli)


if __name__ == "__main__":
    main()

