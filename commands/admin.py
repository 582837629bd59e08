"""Setting up a database: init, demo, org load, calendar load (the audit commands are in
authority.py). Org and calendar loads need an admin once an org with one is loaded
(engine/app/admin.py).

Each command declares its own arguments and options here; cli.py registers them (`init` and
`demo` on the root group, the others on `org` and `calendar`). Engine modules are
imported inside the commands, so `rectify --help` loads none of them.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..engine.core.i18n import _, ngettext
from .support import AppContext, configure_logging, echo_json, pass_app


@click.command()
@pass_app
def init(app: AppContext) -> None:
    """Create or upgrade the database and load the bundled workflows."""
    from ..engine.store.db import upgrade
    from ..workflows import bundled_files

    upgrade(app.engine(create=True))
    service = app.service()
    loaded = []
    for path in bundled_files():
        version, created = service.load_workflow(path)
        loaded.append({"workflow": version.name, "version": version.version, "new": created})
    if app.as_json:
        echo_json({"database": app.db_display(), "workflows": loaded})
        return
    click.echo(_("database ready: {db_display}").format(db_display=app.db_display()))
    for w in loaded:
        said = (_("  workflow {name} v{version} (new)") if w["new"]
                else _("  workflow {name} v{version} (unchanged)"))
        click.echo(said.format(name=w["workflow"], version=w["version"]))


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
    """Load units and people with their roles; loading the same file twice changes nothing.
    Once an org with an admin (admin: true) is loaded, only admins may (--as)."""
    from ..engine.app.admin import load_org

    changes = load_org(app.service(), Path(file), app.actor)
    if app.as_json:
        echo_json(changes.__dict__)
    elif changes.changed:
        click.echo(_("org loaded: {units} and {people} changed, {grants_added} granted, "
                     "{grants_removed} withdrawn").format(
                       units=ngettext("{count} unit", "{count} units", changes.units).format(
                           count=changes.units),
                       people=ngettext("{count} person", "{count} people", changes.people).format(
                           count=changes.people),
                       grants_added=ngettext("{count} role", "{count} roles",
                                             changes.grants_added).format(
                           count=changes.grants_added),
                       grants_removed=changes.grants_removed))
    else:
        click.echo(_("org unchanged"))


@click.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_app
def calendar_load(app: AppContext, file: str) -> None:
    """Add or correct years of holidays and make-up workdays; recompute provisional deadlines."""
    from ..engine.app.admin import load_calendar

    years, recomputed = load_calendar(app.service(), Path(file), app.actor)
    if app.as_json:
        echo_json({"years": years, "recomputed": recomputed})
    else:
        click.echo(ngettext("calendar loaded for {join}; {recomputed} provisional deadline "
                            "recomputed", "calendar loaded for {join}; {recomputed} provisional "
                            "deadlines recomputed", recomputed).format(
                       join=', '.join(map(str, years)), recomputed=recomputed))
