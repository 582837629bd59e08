"""Item commands' output: lists, the item card, advancing, the audit check."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import click

from .support import AppContext, JsonStream, echo_json, exit_code, progress, table

LIGHTS = {"green": "绿", "yellow": "黄", "red": "红", None: ""}


def list_items(app: AppContext, filters: dict[str, Any], limit: int) -> None:
    from ..engine.app.views import ItemFilter, item_rows

    rows = item_rows(app.service(), ItemFilter(**filters), rule=_light_rule(app))
    if limit:
        rows = itertools.islice(rows, limit)
    if app.as_json:
        echo_json(list(rows))
        return
    listed = list(rows)
    click.echo(table(["id", "workflow", "state", "unit", "assignee", "due", "light", "问题"],
                     [[r["id"], r["workflow"], r["state_label"], r["unit"], r["assignee"],
                       (r["due_at"] or "")[:16].replace("T", " "), LIGHTS[r["light"]],
                       r["description"]] for r in listed]))
    click.echo(f"{len(listed)} items")


def show_item(app: AppContext, item_id: int) -> None:
    from ..engine.app.views import item_detail

    detail = item_detail(app.service(), item_id, app.actor, _light_rule(app))
    if app.as_json:
        echo_json({k: v for k, v in detail.items() if k != "field_labels"})
        return
    click.echo(_card(detail))


def _light_rule(app: AppContext) -> Any:
    from ..engine.core.escalation import LightRule

    return LightRule(app.settings().lights.yellow_workdays)


def _card(d: dict[str, Any]) -> str:
    due = (d["due_at"] or "—").replace("T", " ")
    if d["due_provisional"]:
        due += "  (provisional: calendar data for that year is not loaded)"
    lines = [
        f"item {d['id']}  [{d['workflow']} v{d['version']}]",
        f"  state     {d['state_label']} ({d['state']})",
        f"  unit      {d['unit_name']} ({d['unit']})",
        f"  subject   {d['subject'] or '—'}",
        f"  assignee  {d['assignee'] or '—'}",
        f"  due       {due}  {LIGHTS[d['light']]}",
    ]
    for key, value in d["fields"].items():
        lines.append(f"  {d['field_labels'].get(key, key)}: {_value(value)}")
    lines.append("history:")
    for h in d["history"]:
        move = f"{h['source'] or ''} -> {h['dest']}" if h["dest"] else ""
        comment = f"  “{h['comment']}”" if h["comment"] else ""
        lines.append(f"  {h['at'][:16].replace('T', ' ')}  {h['actor']:<10} {h['trigger']:<16}"
                     f" {move}{comment}")
    if d["escalations"]:
        lines.append("escalations:")
        lines += [f"  {e['at'][:16].replace('T', ' ')}  {e['state']} step {e['step'] + 1}: "
                  f"{e['action']}" + (" (applied late)" if e["late"] else "")
                  for e in d["escalations"]]
    lines.append("you may: " + (", ".join(d["triggers"]) or "nothing now"))
    return "\n".join(lines)


def _value(value: Any) -> str:
    from ..engine.core.fields import display

    return display(value)


def advance_item(app: AppContext, item_id: int, trigger: str, comment: str | None,
                 values: dict[str, str], attach: list[Path]) -> None:
    service = app.service()
    outcome = service.advance(item_id, app.actor, trigger, values=values, comment=comment,
                              attach=attach)
    if app.as_json:
        echo_json({"id": item_id, "trigger": trigger, "source": outcome.source,
                   "dest": outcome.dest, "at": outcome.at.isoformat()})
        return
    click.echo(f"item {item_id}: {trigger} — {outcome.source} -> {outcome.dest}")


def bulk_items(app: AppContext, trigger: str, filters: dict[str, Any], values: dict[str, str],
               comment: str | None, dry_run: bool) -> int:
    """Run a bulk action; per-item results stream out (one JSON document written as it goes,
    or refusals on stderr), so memory stays flat however many items match."""
    from ..engine.app.bulk import BulkResult, bulk, count_matching
    from ..engine.app.views import ItemFilter

    service = app.service()
    item_filter = ItemFilter(**filters)
    out = JsonStream(app.as_json, "results")
    out.head({"trigger": trigger})

    def on_result(result: BulkResult) -> None:
        out.item(result.as_json())
        if not result.fired and not app.as_json:
            click.echo(f"item {result.item}: refused — {result.message}", err=True)

    with progress(count_matching(service, item_filter), "items", from_items=2000) as bar:
        summary = bulk(service, app.actor, trigger, item_filter, values=values,
                       comment=comment, dry_run=dry_run, on_result=on_result,
                       progress=bar or (lambda _: None))
    out.tail(summary.as_json())
    if not app.as_json:
        verb = "would fire" if dry_run else "fired"
        click.echo(f"{trigger}: {verb} on {summary.fired} of {summary.matched} items"
                   + (f"; {summary.refused} refused ("
                      + ", ".join(f"{k}: {n}" for k, n in sorted(summary.reasons.items()))
                      + ")" if summary.refused else ""))
    return 3 if summary.refused else 0


def verify_audit(app: AppContext) -> int:
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
