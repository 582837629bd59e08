"""Ledger and report commands: `item import`, `ledger export`, `report weekly`.

Each command declares its own arguments and options here; cli.py registers them on the `item`,
`ledger` and `report` groups. Engine imports happen inside the commands, so `rectify --help`
stays fast. Progress bars go to stderr and only when stderr is a
terminal or the file is large: stdout is the command's own output (one JSON document with
--json), never a progress bar.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import click

from ..engine.core.i18n import N_, _, ngettext, translate
from .items import light_rule
from .support import AppContext, check_output, echo_json, pass_app

LARGE = 10_000  # rows: a bar is shown for files this size even when stderr is not a terminal


# --- item import --------------------------------------------------------------------------------

@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--workflow", required=True, help="The workflow the items belong to.")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False),
              help="YAML column mapping (表头: field) for headers rectify does not recognise.")
@click.option("--unit", "default_unit",
              help="Unit (id or name) for rows that name none; rows with a unit keep theirs.")
@pass_app
def import_(app: AppContext, file: str, workflow: str, mapping: str | None,
                default_unit: str | None) -> None:
    """Import a ledger (.xlsx or .csv): all rows or none; every bad row listed with its number.

    Rows already imported (same 编号, or the same content when there is no 编号 column) are
    skipped, so importing the same file again creates nothing new.
    """
    from ..engine.app.ledger_import import import_ledger
    from ..engine.ledgers import load_mapping

    columns = load_mapping(Path(mapping)) if mapping else None
    names = app.names()
    workflow, default_unit = names.workflow(workflow), names.optional("unit", default_unit)
    with _Progress() as progress:
        result = import_ledger(app.service(), Path(file), workflow, app.actor, mapping=columns,
                               default_unit=default_unit, progress=progress)
    for warning in result.warnings:
        click.echo(_("{name}: warning: {warning}").format(
                       name=Path(file).name, warning=warning), err=True)
    if app.as_json:
        echo_json(result.as_json())
        return
    skipped = _(", {skipped} already imported (skipped)").format(
        skipped=result.skipped) if result.skipped else ""
    span = _(" (items {first}–{last})").format(
        first=min(result.ids), last=max(result.ids)) if result.ids else ""
    click.echo(ngettext("imported {created} item{span} from {name} into {workflow}{skipped}",
                        "imported {created} items{span} from {name} into {workflow}{skipped}",
                        result.created).format(
                   created=result.created, span=span, name=Path(file).name,
                   workflow=result.workflow, skipped=skipped))


class _Progress:
    """click progress bars on stderr, one per stage, created when the first report comes: on a
    terminal, or also elsewhere for a stage of at least LARGE rows (unless `terminal_only`)."""

    LABELS: ClassVar[dict[str, str]] = {"importing": N_("importing ledger")}

    def __init__(self, *, terminal_only: bool = False) -> None:
        self.terminal_only = terminal_only
        self.bar: Any = None
        self.stage: str | None = None
        self.shown = 0

    def __enter__(self) -> Callable[[str, int, int], None]:
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self._close()
            self.stage = stage
            if not (sys.stderr.isatty() or (not self.terminal_only and total >= LARGE)):
                return
            label = translate(self.LABELS.get(stage, stage))
            self.bar = click.progressbar(length=total, label=label, file=sys.stderr,
                                         show_pos=True)
            self.bar.__enter__()
            self.shown = 0
        if self.bar is not None and done > self.shown:
            self.bar.update(done - self.shown)
            self.shown = done

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __exit__(self, *exc: object) -> None:
        self._close()


# --- ledger export ------------------------------------------------------------------------------

@click.command("export")
@click.option("--workflow", help="Only this workflow's items (default: every workflow, one sheet "
              "each).")
@click.option("--unit", help="Only items at this unit and below it (id or name).")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]),
              help="Default: from the file name's extension, else xlsx.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The file to write.")
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@click.option("--public", is_flag=True,
              help="公开版: leave out private fields and the names of responsible people.")
@click.option("--include-private", is_flag=True,
              help="Also the fields marked private (身份证号码 …); needs --as holding one of the "
                   "workflow's roles over the exported unit.")
@pass_app
def export(app: AppContext, workflow: str | None, unit: str | None, fmt: str | None,
           output: str, force: bool, public: bool, include_private: bool) -> None:
    """Write the ledger, one row per item, ready to print on A4 (xlsx) or as data (csv)."""
    from ..engine.app.ledger_export import ExportOptions, export_ledger
    from ..engine.app.views import ItemFilter
    from ..engine.core.errors import UsageError

    path = Path(output)
    check_output(path)
    fmt = fmt or _format_of(path, ("xlsx", "csv"), "xlsx")
    if path.suffix.lower() not in ("", f".{fmt}"):
        raise UsageError(_("-o {output}: the extension does not match --format "
                           "{fmt}").format(output=output, fmt=fmt))
    names = app.names()
    filters = ItemFilter(workflow=names.optional("workflow", workflow),
                         unit=names.optional("unit", unit))
    options = ExportOptions(public=public, include_private=include_private, actor=app.actor,
                            office=issuing_office(app), force=force, rule=light_rule(app),
                            colors=app.settings().lights.colors)

    with _Progress(terminal_only=True) as stages:
        # None when nobody watches: the export then does not count the rows first.
        bar = partial(stages, _("exporting ledger")) if sys.stderr.isatty() else None
        result = export_ledger(app.service(), path, fmt,  # type: ignore[arg-type]
                               filters=filters,
                               options=options, progress=bar)
    if app.as_json:
        echo_json({"file": str(result.path), "format": fmt, "rows": result.rows,
                   "columns": result.columns, "sheets": result.sheets, "public": public,
                   "private": include_private})
    else:
        message = (ngettext("exported {rows} item on {sheets} sheets to {path}",
                            "exported {rows} items on {sheets} sheets to {path}", result.rows)
                   if len(result.sheets) > 1 else
                   ngettext("exported {rows} item to {path}", "exported {rows} items to {path}",
                            result.rows))
        click.echo(message.format(rows=result.rows, sheets=len(result.sheets),
                                  path=result.path))


def issuing_office(app: AppContext) -> str | None:
    """The office named on exports and printed documents (填报单位, 督办单的发文单位), from
    `[report] office` in the settings when it is set."""
    return app.settings().report.office or None


def _format_of(path: Path, allowed: tuple[str, ...], default: str) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in allowed else default


# --- report weekly ------------------------------------------------------------------------------

REPORT_FORMATS = ("md", "html", "xlsx", "csv")
_REPORT_SUFFIXES = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html",
                    ".xlsx": "xlsx", ".csv": "csv"}


@click.command("weekly")
@click.option("--unit", help="Report on this unit and below (id or name; default: everything).")
@click.option("--week", help="ISO week, e.g. 2025-W40 (default: the week of --now).")
@click.option("--workflow", help="Only this workflow's items (default: every workflow).")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS),
              help="Default: from -o's extension (.md .html .xlsx .csv), else md.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write to this file (replaced if it exists) instead of stdout.")
@click.option("--public", is_flag=True, help="公开版: no names of responsible people.")
@pass_app
def weekly(app: AppContext, unit: str | None, week: str | None, workflow: str | None,
           fmt: str | None, output: str | None, public: bool) -> None:
    """The weekly report: per township and village, found, closed, overdue, score and rank;
    the red items; open vs closed over the last weeks. --json prints the same data."""
    from ..engine.core.errors import UsageError
    from ..engine.reports.render import render_report, report_as_json
    from ..engine.reports.weekly import build_weekly_report

    path = Path(output) if output else None
    check_output(path)
    fmt = report_format(path, fmt)
    if fmt == "xlsx" and path is None and not app.as_json:
        raise UsageError(_("an xlsx report needs -o FILE"))
    settings, names = app.settings(), app.names()
    unit, workflow = names.optional("unit", unit), names.optional("workflow", workflow)
    data = build_weekly_report(app.service(), week=week, unit=unit, workflow=workflow,
                               public=public, rule=light_rule(app), options=settings.report,
                               colors=settings.lights.colors)
    text = None
    if path is not None or not app.as_json:
        try:
            text = render_report(data, fmt, path)  # type: ignore[arg-type]
        except OSError as exc:
            raise UsageError(_("cannot write {path}: {reason}").format(
                                 path=path, reason=exc.strerror or exc)) from exc
    if app.as_json:
        echo_json(report_as_json(data))
    elif path is not None:
        click.echo(_("weekly report {week} ({fmt}) written to {path}").format(
                       week=data.week, fmt=fmt, path=path))
    else:
        click.echo(text, nl=False)


def report_format(path: Path | None, fmt: str | None) -> str:
    """The format a report is written in: --format, else -o's extension, else md. An extension
    that names no report format (x.pdf, x.docx) or another format than --format is refused:
    the file would hold something its name does not say."""
    from ..engine.core.errors import UsageError

    if path is None or not path.suffix:
        return fmt or "md"
    named = _REPORT_SUFFIXES.get(path.suffix.lower())
    if named is None:
        raise UsageError(_("-o {path}: a weekly report is written as .md, .html, .xlsx or .csv, "
                           "not {suffix} (for paper, write .html and print it, or .xlsx)")
                         .format(path=path, suffix=path.suffix))
    if fmt is not None and fmt != named:
        raise UsageError(_("-o {path}: the extension does not match --format {fmt}")
                         .format(path=path, fmt=fmt))
    return named
