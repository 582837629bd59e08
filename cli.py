"""The `rectify` command line: the groups and which command goes where. No business rules here.

Each command lives in a module of `commands/` that declares its own arguments, options and help
and imports engine modules inside the command, so `rectify --help` starts without loading
SQLAlchemy, Alembic or APScheduler. This file only builds the groups and registers commands,
one line each. Errors become the contract's exit codes in `commands.support.run`.
"""

from __future__ import annotations

import click

from .commands import admin, authority, items, jobs, ledger, migration, printing, web, workflow
from .commands.support import AppContext, accept_global_options


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="Global options may also come after the command: "
                    "rectify item show 1 --json --as wang")
@click.version_option(package_name="rectify", prog_name="rectify",
                      message="%(prog)s %(version)s")
@click.option("--db", envvar="RECTIFY_DB", default="sqlite:///rectify.db", show_default=True,
              help="SQLAlchemy database URL (sqlite:///FILE or postgresql+psycopg://...).")
@click.option("--as", "actor", envvar="RECTIFY_USER", help="Who is acting (a person id).")
@click.option("--now", envvar="RECTIFY_NOW", help="The clock, ISO-8601 (default: real time).")
@click.option("--config", envvar="RECTIFY_CONFIG", type=click.Path(dir_okay=False),
              help="Settings file (default: rectify.toml here, if present).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.option("--lang", type=click.Choice(["zh", "en"]),
              help="Language of messages (default: LANG / LC_MESSAGES, zh when it starts with zh).")
@click.pass_context
def cli(ctx: click.Context, db: str, actor: str | None, now: str | None, config: str | None,
        as_json: bool, lang: str | None) -> None:
    """rectify: the rectification cycle (整改闭环) — problems found, rectified, accepted, closed."""
    ctx.obj = AppContext(db=db, now_text=now, config=config, actor=actor, as_json=as_json)
    ctx.call_on_close(ctx.obj.close)


@cli.group("workflow")
def workflow_group() -> None:
    """Validate, load and inspect workflow definitions."""


@cli.group()
def org() -> None:
    """Units and people."""


@cli.group()
def calendar() -> None:
    """Working-day calendar data."""


@cli.group()
def item() -> None:
    """Problems in the ledger: create, list, show, advance, assign."""


@cli.group()
def outbox() -> None:
    """Notifications waiting, sent and failed."""


@cli.group()
def audit() -> None:
    """Tamper evidence of the history."""


@cli.group("ledger")
def ledger_group() -> None:
    """The problem ledger (问题台账) as a spreadsheet."""


@cli.group()
def report() -> None:
    """Reports: the weekly ranking (每周通报)."""


@cli.group()
def user() -> None:
    """People's logins for the web pages."""


@cli.group()
def token() -> None:
    """API tokens for scripts."""


cli.add_command(admin.init)
cli.add_command(admin.demo)
org.add_command(admin.org_load)
calendar.add_command(admin.calendar_load)
audit.add_command(authority.audit_verify)
audit.add_command(authority.audit_anchor)
audit.add_command(authority.audit_log)

workflow_group.add_command(workflow.validate)
workflow_group.add_command(workflow.load)
workflow_group.add_command(workflow.list_)
workflow_group.add_command(workflow.show)
workflow_group.add_command(workflow.graph)
workflow_group.add_command(migration.migrate)
workflow_group.add_command(migration.diff)

item.add_command(items.new)
item.add_command(items.list_)
item.add_command(items.show)
item.add_command(items.advance)
item.add_command(items.assign)
item.add_command(items.bulk)
item.add_command(ledger.import_)

cli.add_command(jobs.sweep)
cli.add_command(jobs.scheduler)
outbox.add_command(jobs.outbox_list)
outbox.add_command(jobs.outbox_dispatch)
outbox.add_command(jobs.outbox_retry)

ledger_group.add_command(ledger.export)
report.add_command(ledger.weekly)

# New command modules register here, one line per command.
item.add_command(authority.item_extend)
item.add_command(authority.item_extension)
item.add_command(authority.item_transfer)
item.add_command(authority.item_urge)
item.add_command(authority.item_sample)
cli.add_command(web.serve)
user.add_command(web.user_password)
token.add_command(web.token_create)
token.add_command(web.token_revoke)
cli.add_command(printing.print_group)
accept_global_options(cli)  # after every command is registered


def main() -> None:
    from .commands.support import run

    run(cli)


if __name__ == "__main__":
    main()
