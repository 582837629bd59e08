"""`rectify print`: documents for paper — the 督办单 of an item and the 公示表 of a workflow's
public-notice states. HTML for the browser to print (to stdout, or -o FILE.html), a PDF when
-o ends in .pdf."""

from __future__ import annotations

from pathlib import Path

import click

from ..engine.core.i18n import _
from .ledger import issuing_office
from .support import ITEM_ID, AppContext, check_output, pass_app


@click.group("print")
def print_group() -> None:
    """Documents to print: 督办单 (notice) and 公示表 (publicity)."""


_OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False),
                       help="Write to this file (replaced if it exists): .pdf for a PDF, "
                            "otherwise HTML. Default: HTML on stdout.")


@print_group.command("notice")
@click.argument("item_id", type=ITEM_ID)
@_OUTPUT
@pass_app
def notice(app: AppContext, item_id: int, output: str | None) -> None:
    """督办单: a one-page supervision notice for item ITEM_ID, with a 签收 line."""
    from ..engine.app.printing import Issuer
    from ..engine.app.printing import notice as build

    document = build(app.service(), item_id, Issuer(app.actor, issuing_office(app)))
    _emit(app, document, output, _("督办单 of item {item}").format(item=item_id))


@print_group.command("publicity")
@click.option("--workflow", required=True, help="The workflow (e.g. identification).")
@click.option("--state", help="One public-notice state (id or label; default: all of them).")
@click.option("--unit", help="Items at this unit and below (id or name; default: everything).")
@click.option("--contact", help="Where to object (default: the unit, the unit above it and the "
                                "issuing office).")
@_OUTPUT
@pass_app
def publicity(app: AppContext, workflow: str, state: str | None, unit: str | None,
              contact: str | None, output: str | None) -> None:
    """公示表: the items in a public-notice (公示) state, names and ID numbers masked."""
    from ..engine.app.printing import Board, Issuer
    from ..engine.app.printing import publicity as build

    names = app.names()
    workflow = names.workflow(workflow)
    board = Board(workflow, state=names.state(state, workflow) if state else None,
                  unit=names.optional("unit", unit), contact=contact)
    document = build(app.service(), board, Issuer(app.actor, issuing_office(app)))
    _emit(app, document, output, _("公示表 of {workflow}").format(workflow=workflow))


def _emit(app: AppContext, document: object, output: str | None, what: str) -> None:
    from ..engine.core.errors import UsageError
    from ..engine.printing import Document, render

    assert isinstance(document, Document)
    path = Path(output) if output else None
    check_output(path)
    try:
        page = render(document, path)
    except OSError as exc:
        raise UsageError(_("cannot write {path}: {reason}").format(
            path=path, reason=exc.strerror or exc)) from exc
    if page is not None:
        click.echo(page, nl=False)
    elif not app.as_json:
        click.echo(_("{what} written to {path}").format(what=what, path=path))
    else:
        from .support import echo_json

        echo_json({"file": str(path), "format": path.suffix.lstrip(".") if path else "html"})
