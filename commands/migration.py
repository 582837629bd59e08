"""`rectify workflow migrate` and `workflow diff`: move running items to another version of
their workflow, and say what changed between two versions and how many items each change touches.

Each command declares its own arguments and options here; cli.py registers them on the
`workflow` group. Engine modules are imported inside the commands.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..engine.core.i18n import N_, _, ngettext, translate
from .support import AppContext, JsonStream, echo_json, pass_app, progress, table

PROGRESS_FROM = 1000  # items: from this many, a progress bar on stderr (when it is a terminal)
MARKS = {"added": "+", "removed": "-", "changed": "~"}
# The words among a change's details that are not YAML keys (those are shown as written).
DETAIL_WORDS = {"entry notice": N_("entry notice")}


def version_number(text: str, what: str) -> int:
    """`2` or `v2`."""
    from ..engine.core.errors import UsageError

    value = text.strip().lower().removeprefix("v")
    if not value.isdigit():
        raise UsageError(_("{what} {text!r}: expected a version number such as 2 "
                           "or v2").format(what=what, text=text))
    return int(value)


@click.command("migrate")
@click.argument("name")
@click.option("--to", "to_version", required=True, metavar="VERSION",
              help="The version to move running items to (2 or v2).")
@click.option("--map", "mappings", multiple=True, metavar="OLD=NEW",
              help="Where items in state OLD go (a state of the target version); repeatable.")
@click.option("--comment", help="Why: recorded on each item's migrate history row.")
@click.option("--dry-run", is_flag=True, help="Print the plan and per-item results; write nothing.")
@pass_app
def migrate(app: AppContext, name: str, to_version: str, mappings: tuple[str, ...],
            comment: str | None, dry_run: bool) -> None:
    """Move NAME's running items to another version; each move is recorded in the item's
    history (actor: --as, or system without it). Exit 3 if a state has nowhere to go."""
    sys.exit(_migrate(app, name, to_version, mappings, comment, dry_run))


def _migrate(app: AppContext, name: str, to_text: str, mappings: tuple[str, ...],
             comment: str | None, dry_run: bool) -> int:
    """Exit status: 0 all moved; 3 some items were refused (a state with nowhere to go);
    5 some changed underneath (run again). A plan that leaves a state unmapped raises."""
    from ..engine.app.migration import actor_id, prepare
    from ..engine.app.migration import migrate as run_migration
    from ..engine.core.state_map import parse_mapping

    service = app.service()
    name = app.names().workflow(name)  # its id or its title
    plan = prepare(service, name, version_number(to_text, "--to"), parse_mapping(mappings))
    actor = actor_id(service, app.actor)
    if not dry_run:  # refused before the plan is printed: --json stays one document
        from ..engine.app.admin import may_migrate

        may_migrate(service, app.actor)
    out = JsonStream(app.as_json, "items")
    out.head({"workflow": name, "to_version": plan.to_version, "dry_run": dry_run,
              "plan": plan.as_json()})
    if not app.as_json:
        click.echo(_plan_text(plan, dry_run))
    refused = plan.refusal()
    if refused is not None:
        out.tail(None)
        raise refused
    if not dry_run:  # an admin's action: checked and logged before any item moves
        from ..engine.app.admin import allow_migration

        allow_migration(service, app.actor, name, plan.to_version, plan.mapping)

    def on_item(result: dict[str, Any]) -> None:
        out.item(result)
        if "error" in result:
            click.echo(_("item {item}: not moved: {reason}").format(
                           item=result['id'], reason=result['error']), err=True)

    with progress(plan.items, _("migrating"), from_items=PROGRESS_FROM) as bar:
        report = run_migration(service, plan, actor=actor, comment=comment, dry_run=dry_run,
                         progress=bar, on_item=on_item)
    out.tail(report.as_json())
    if not app.as_json:
        click.echo(_summary_text(report.as_json(), plan.to_version, dry_run))
    return 3 if report.refused else 5 if report.conflicts else 0


def _plan_text(plan: Any, dry_run: bool) -> str:
    head = ngettext("{workflow} -> v{version}: {count} running item on other versions",
                    "{workflow} -> v{version}: {count} running items on other versions",
                    plan.items).format(workflow=plan.workflow, version=plan.to_version,
                                       count=plan.items)
    if dry_run:
        head += _(" (dry run: nothing is written)")
    if not plan.moves:
        return head
    rows = []
    for m in plan.moves:
        if m.problem == "missing":
            dest = _("✗ v{version} has no such state").format(version=plan.to_version)
        else:
            dest = f"{m.dest_label} ({m.dest})" + (" --map" if m.mapped else "")
            if m.problem == "final":
                dest += _(" ✗ final in v{version}").format(version=plan.to_version)
        rows.append([f"v{m.version}", f"{m.source_label} ({m.source})", dest, m.items])
    headers = [_("from"), _("state"), _("to"), _("items")]
    return head + "\n" + table(headers, rows, max_width=60)


def _summary_text(summary: dict[str, Any], version: int, dry_run: bool) -> str:
    moved = summary["would_migrate" if dry_run else "migrated"]
    line = (ngettext("would migrate {count} item to v{version}",
                     "would migrate {count} items to v{version}", moved) if dry_run else
            ngettext("migrated {count} item to v{version}", "migrated {count} items to v{version}",
                     moved)).format(count=moved, version=version)
    if summary["conflicts"]:
        line += _("; {count} changed underneath (run again)").format(count=summary["conflicts"])
    if summary["refused"]:
        line += _("; {count} refused").format(count=summary["refused"])
    lines = [line]
    if summary["fields_dropped"]:
        lines.append(_("fields removed from items (kept in their migrate history row): "
                       "{fields}").format(fields=", ".join(
                           f"{k} {n}" for k, n in summary["fields_dropped"].items())))
    if summary["steps_already_applied"]:
        lines.append(_("escalation steps already applied in the current stay, not repeated: "
                       "{count}").format(count=summary["steps_already_applied"]))
    if summary["steps_due_now"]:
        lines.append(_("escalation steps already due under v{version} (the next sweep applies "
                       "them, marked late): {count}").format(version=version,
                                                             count=summary["steps_due_now"]))
    return "\n".join(lines)


@click.command("diff")
@click.argument("name")
@click.argument("v1")
@click.argument("v2")
@pass_app
def diff(app: AppContext, name: str, v1: str, v2: str) -> None:
    """What changed from version V1 to V2, and how many running items on V1 each change touches."""
    from ..engine.app.migration import diff as version_diff

    name = app.names().workflow(name)  # its id or its title
    report = version_diff(app.service(), name, version_number(v1, "V1"), version_number(v2, "V2"))
    if app.as_json:
        echo_json(report.as_json())
        return
    items = report.in_flight
    lines = [ngettext("{name} v{old} -> v{new}: {count} running item on v{old}",
                      "{name} v{old} -> v{new}: {count} running items on v{old}", items).format(
                          name=name, old=report.old, new=report.new, count=items)]
    if not report.changes:
        lines.append(_("no differences"))
    for kind, title in (("workflow", N_("settings")), ("role", N_("roles")),
                        ("field", N_("fields")), ("state", N_("states")),
                        ("transition", N_("transitions"))):
        changes = [(c, n) for c, n in report.changes if c.kind == kind]
        if changes:
            lines.append(f"\n{translate(title)}")
            lines += [line for c, n in changes for line in _change_lines(c, n)]
    click.echo("\n".join(lines))


def _change_lines(change: Any, items: int) -> list[str]:
    label = f"  {change.label}" if change.label != change.name else ""
    touches = ""
    if change.touches is not None:
        touches = "  [" + (ngettext("{count} item with a value", "{count} items with a value",
                                    items) if change.touches[0] == "field" else
                           ngettext("{count} item running", "{count} items running", items)
                           ).format(count=items) + "]"
    lines = [f"  {MARKS[change.change]} {change.name}{label}{touches}"]
    for key, old, new in change.details:
        what = translate(DETAIL_WORDS[key]) if key in DETAIL_WORDS else key  # else a YAML key
        if len(old) + len(new) > 70:
            lines += [f"      {what}:", _("        was: {value}").format(value=old),
                      _("        now: {value}").format(value=new)]
        else:
            lines.append(f"      {what}: {old} -> {new}")
    return lines
