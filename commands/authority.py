"""Commands of contract section 6 (who may change what): 延期申请 (`item extend`, `item
extension`), 转办 (`item transfer`), 催办 (`item urge`), spot checks (`item sample`), and the
audit commands (`audit verify [--anchor]`, `audit anchor`, `audit log`). Each declares its own
options; cli.py registers them; engine modules are imported inside the commands, so
`rectify --help` stays fast."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..engine.core.i18n import _, ngettext
from .support import (
    ITEM_ID,
    AppContext,
    check_output,
    echo_json,
    exit_code,
    item_filters,
    pass_app,
    progress,
    table,
)


@click.command("verify")
@click.option("--anchor", "anchor_file", type=click.Path(exists=True, dir_okay=False),
              help="An anchor file from `audit anchor -o`: also prove nothing before it changed.")
@pass_app
def audit_verify(app: AppContext, anchor_file: str | None) -> None:
    """Check every item's history chain, its ends, the item rows, ladders, attachments and the
    admin log; exit 7 with one line per broken item."""
    from ..engine.app.integrity import anchor_time, item_count, read_anchor, verify
    from ..engine.core.errors import IntegrityFailed

    anchor = read_anchor(Path(anchor_file)) if anchor_file else None
    service = app.service()
    # A bar on a terminal (counting the items costs a scan, so only for a person watching);
    # otherwise only the one-line verdict.
    total = item_count(service) if sys.stderr.isatty() else 0
    with progress(total, _("verifying the history"), from_items=5000) as bar:
        verdict = verify(service, anchor, progress=bar)
    if app.as_json:
        echo_json(verdict.as_json())
    elif verdict.ok:
        click.echo(ngettext("audit ok: the {items} item verifies",
                            "audit ok: all {items} items verify",
                            verdict.items).format(items=verdict.items)
                   + (_(", and everything the anchor of {when} pinned").format(
                       when=anchor_time(anchor)) if anchor else ""))
    else:
        for line in verdict.findings:
            click.echo(_("audit FAILED: {line}").format(line=line), err=True)
    sys.exit(0 if verdict.ok else exit_code(IntegrityFailed(verdict.broken)))


@click.command("anchor")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the anchor file (the heads behind the digest) for `verify --anchor`.")
@pass_app
def audit_anchor(app: AppContext, output: str | None) -> None:
    """One digest over every chain head: publish it (print it, post it) to pin the history."""
    import json

    from ..engine.app.integrity import make_anchor

    check_output(Path(output) if output else None)
    anchor = make_anchor(app.service())
    if output:
        Path(output).write_text(json.dumps(anchor, ensure_ascii=False, indent=1) + "\n",
                                encoding="utf-8")
    if app.as_json:
        echo_json({k: v for k, v in anchor.items() if k != "heads"})
    else:
        click.echo(anchor["digest"])


@click.command("log")
@pass_app
def audit_log(app: AppContext) -> None:
    """The admin actions (org, workflow and calendar loads, migrations) and the ways in given
    or taken away (passwords set, tokens made and revoked): who, what, digest."""
    from zoneinfo import ZoneInfo

    from ..engine.app.admin import admin_log
    from ..engine.app.integrity import ANCHOR_TZ  # the bundled workflows' timezone

    rows = admin_log(app.service())
    office = ZoneInfo(ANCHOR_TZ)  # the table in the office's time, as every other table
    if app.as_json:
        echo_json([{k: v for k, v in r.items() if k != "prev_hash"} for r in rows])
        return
    click.echo(table(["#", _("at"), _("who"), _("os user"), _("action"), _("what"), "sha256"],
                     [[r["seq"], r["at"].astimezone(office).strftime("%Y-%m-%d %H:%M"),
                       r["actor"],
                       r["os_user"] or "", r["action"], r["target"], r["digest"][:16]]
                      for r in rows], max_width=60))


@click.command("extend")
@click.argument("item_id", type=ITEM_ID)
@click.option("--to", "to", required=True, help="The deadline asked for (a date: end of day).")
@click.option("--reason", required=True, help="Why more time is needed.")
@pass_app
def item_extend(app: AppContext, item_id: int, to: str, reason: str) -> None:
    """延期申请: the assignee asks, before the deadline, for a later one; approvers decide."""
    from ..engine.app.extensions import request_extension

    result = request_extension(app.service(), item_id, app.actor, to, reason)
    if app.as_json:
        echo_json(result)
    else:
        click.echo(_("item {item_id}: extension to {due} requested").format(
                       item_id=item_id, due=result['due_requested'][:10]))


@click.command("extension")
@click.argument("item_id", type=ITEM_ID)
@click.argument("decision", type=click.Choice(["grant", "refuse"]))
@click.option("--comment", help="The decision's reason, kept in the history.")
@pass_app
def item_extension(app: AppContext, item_id: int, decision: str, comment: str | None) -> None:
    """Grant or refuse the item's waiting extension request (an approver, not the requester).
    A grant moves the deadline and the escalation steps not yet applied."""
    from ..engine.app.extensions import decide_extension

    result = decide_extension(app.service(), item_id, app.actor, decision, comment)
    if app.as_json:
        echo_json(result)
    else:
        said = (_("item {item_id}: extension granted; due {due}") if result["status"] == "granted"
                else _("item {item_id}: extension refused; due {due}"))
        click.echo(said.format(item_id=item_id,
                               due=(result["due_at"] or "—")[:16].replace("T", " ")))


@click.command("transfer")
@click.argument("item_id", type=ITEM_ID)
@click.option("--unit", required=True, help="The unit the item moves to (id or name).")
@click.option("--assignee", help="Its new assignee there, id or name (none: the unit assigns).")
@click.option("--comment", required=True, help="Why: kept in the history and sent.")
@pass_app
def item_transfer(app: AppContext, item_id: int, unit: str, assignee: str | None,
                  comment: str) -> None:
    """转办: move the item to another unit (an assigner at a unit above both)."""
    from ..engine.app.transfers import transfer

    names = app.names()
    unit_id, person = names.unit(unit), names.person(assignee) if assignee else None
    result = transfer(app.service(), item_id, app.actor, unit_id, person, comment)
    if app.as_json:
        echo_json(result)
    else:
        click.echo(_("item {id} transferred to {unit}").format(
            id=item_id, unit=f"{names.unit_name(unit_id)} ({unit_id})")
            + (_(", assigned to {person}").format(
                person=f"{names.person_name(person)} ({person})") if person else ""))


@click.command("urge")
@click.argument("item_id", type=ITEM_ID)
@click.option("--comment", required=True, help="What is urged: kept and sent to the assignee.")
@pass_app
def item_urge(app: AppContext, item_id: int, comment: str) -> None:
    """催办: recorded in the history and sent to the assignee (a role above the item's unit)."""
    from ..engine.app.transfers import urge

    result = urge(app.service(), item_id, app.actor, comment)
    echo_json(result) if app.as_json else click.echo(_("item {item_id}: urged").format(
                                                         item_id=item_id))


@click.command("sample")
@item_filters
@click.option("--size", type=int, required=True, help="How many items to draw.")
@click.option("--seed", required=True, help="The draw's seed: the same seed and filters give "
                                            "the same items.")
@click.option("--fire", "trigger", help="Fire this trigger on each drawn item (normal checks).")
@pass_app
def item_sample(app: AppContext, size: int, seed: str, trigger: str | None,
                **filters: object) -> None:
    """三随机 / 回头看: a reproducible random draw; each drawn item's history records it."""
    from ..engine.app.sampling import sample

    item_filter = app.names().item_filter(**filters)  # type: ignore[arg-type]
    result = sample(app.service(), app.actor, item_filter, size, seed, trigger)
    if app.as_json:
        echo_json(result)
    else:
        click.echo(ngettext("drew {drawn} of {candidates} item with seed {seed!r}: {items}",
                            "drew {drawn} of {candidates} items with seed {seed!r}: {items}",
                            result["candidates"]).format(
            drawn=len(result["items"]), candidates=result["candidates"], seed=seed,
            items=", ".join(map(str, result["items"]))))
        for f in result["fired"]:
            if not f["fired"]:
                click.echo(_("item {item}: refused — {reason}").format(
                               item=f['item'], reason=f['error']), err=True)
    refused = [f for f in result["fired"] if not f["fired"]]
    sys.exit(3 if refused else 0)
