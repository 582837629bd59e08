"""Setting up and checking a database: init, demo, org load, calendar load, audit verify.

Each command declares its own arguments and options here; cli.py registers them (`init` and
`demo` on the root group, the others on `org`, `calendar` and `audit`). Engine modules are
imported inside the commands, so `rectify --help` loads none of them.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import click

from .support import AppContext, configure_logging, echo_json, exit_code, pass_app


@click.command()
@pass_app
def init(app: AppContext) -> None:
    """Create or upgrade the database and load the bundled workflows."""
    from ..engine.store.db import upgrade
    from ..workflows import bundled_files

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


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              help="Where to create the demo database (default: a new temporary folder).")
@click.option("--quiet", is_flag=True, help="Only say where the results are.")
def demo(directory: str | None, quiet: bool) -> None:
    """A guided run of the whole cycle on a fresh SQLite file."""
    from ..engine.demo.rectification import run_demo

    configure_logging(level="WARNING")
    run_demo(Path(directory) if directory else None, echo=(lambda *_: None) if quiet
             else click.echo)


@click.command("load")
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


@click.command("load")
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


@click.command("verify")
@pass_app
def audit_verify(app: AppContext) -> None:
    """Check every item's history hash chain; report the first broken link."""
    sys.exit(_verify(app))


def _verify(app: AppContext) -> int:
    from ..engine.core.audit import verify_chain
    from ..engine.core.errors import IntegrityFailed
    from ..engine.store.db import read
    from ..engine.store.items import iter_history

    items, broken = 0, None
    with read(app.service().engine) as conn:
        for item_id, rows in itertools.groupby(iter_history(conn), key=lambda r: r["item_id"]):
            items += 1
            broken = verify_chain(item_id, rows)
            if broken:
                break
    if app.as_json:
        echo_json({"ok": broken is None, "items": items,
                   "broken": str(broken) if broken else None})
    elif broken:
        click.echo(f"audit FAILED: {broken}", err=True)
    else:
        click.echo(f"audit ok: all {items} items verify")
    return 0 if broken is None else exit_code(IntegrityFailed([str(broken)]))
