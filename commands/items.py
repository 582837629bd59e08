"""`rectify item ...`: new, list, show, advance, assign and bulk.

Each command declares its own arguments and options here; cli.py only registers it on the
`item` group. Engine modules are imported inside the commands, so `rectify --help` loads none.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..engine.app.history_words import action
from ..engine.core.i18n import _, current_language, ngettext
from .support import (
    ITEM_ID,
    AppContext,
    JsonStream,
    echo_json,
    item_filters,
    pad,
    parse_fields,
    pass_app,
    printable,
    progress,
    width,
)


@click.command("new")
@click.option("--workflow", required=True)
@click.option("--unit", required=True)
@click.option("--subject", help="What the problem is about, as KIND:KEY (household:HH-0001).")
@click.option("--assignee", help="The responsible person.")
@click.option("--due", help="Deadline (a date is the end of that day); overrides the state's.")
@click.option("--field", "field_values", multiple=True, metavar="KEY=VALUE")
@pass_app
def new(app: AppContext, workflow: str, unit: str, subject: str | None,
        assignee: str | None, due: str | None, field_values: tuple[str, ...]) -> None:
    """Create an item; prints its id alone. WORKFLOW, UNIT and ASSIGNEE by id or by name."""
    names = app.names()
    item_id = app.service().new_item(app.actor, names.workflow(workflow), names.unit(unit),
                                     subject=subject,
                                     assignee=names.person(assignee) if assignee else None,
                                     due=due, values=parse_fields(field_values))
    echo_json({"id": item_id}) if app.as_json else click.echo(str(item_id))


@click.command("list")
@item_filters
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="At most this many rows, then how many more (0: all). "
                   "Default: 100 on a terminal, all when piped.")
@pass_app
def list_(app: AppContext, limit: int | None, **filters: Any) -> None:
    """Items matching the filters, in id order, printed as they are read."""
    from .listing import list_items

    names = app.names()

    list_items(app, names, names.item_filter(**filters), limit, light_rule(app))


@click.command("show")
@click.argument("item_id", type=ITEM_ID)
@pass_app
def show(app: AppContext, item_id: int) -> None:
    """State, deadline, light, fields, history, escalations and the triggers you may fire."""
    from ..engine.app.views import SCREEN_ONLY, item_detail

    detail = item_detail(app.service(), item_id, app.actor, light_rule(app))
    if app.as_json:
        echo_json({k: v for k, v in detail.items() if k not in SCREEN_ONLY})
        return
    click.echo(_card(detail))


def light_rule(app: AppContext) -> Any:
    from ..engine.core.escalation import LightRule

    return LightRule(app.settings().lights.yellow_workdays)


def _card(d: dict[str, Any]) -> str:
    from ..engine.core.i18n import _

    due = (d["due_at"] or "—").replace("T", " ")
    if d["due_provisional"]:
        due += _("  (provisional: calendar data for that year is not loaded)")
    from .listing import light_word

    lines = [_("item {id}  [{workflow} v{version}]").format(
        id=d["id"], workflow=d["workflow"], version=d["version"])]
    lines += _aligned([
        (_("state"), f"{d['state_label']} ({d['state']})"),
        (_("unit"), f"{d['unit_name']} ({d['unit']})"),
        (_("subject"), d["subject"] or "—"),
        (_("assignee"), _named(d["assignee_name"], d["assignee"])),
        (_("due"), f"{due}  {light_word(d['light'])}"),
    ])
    for key, value in d["fields"].items():
        lines.append(f"  {d['field_labels'].get(key, key)}: {_value(value)}")
    lines += ["  {label}: {hidden}".format(label=d["field_labels"].get(key, key),
                                           hidden=_("(private)")) for key in d["hidden_fields"]]
    lines.append(_("history:"))
    said = history_words(d["labels"])
    for h in d["history"]:
        comment = f"  “{h['comment']}”" if h["comment"] else ""
        lines.append(f"  {h['at'][:16].replace('T', ' ')}  {pad(said.actor(h), 10)} "
                     f"{pad(said.trigger(h), 16)} {said.move(h)}{comment}")
    if d["escalations"]:
        lines.append(_("escalations:"))
        lines += ["  " + _("{at}  {state} step {step}: {action}").format(
                      at=e["at"][:16].replace("T", " "), state=said.state(e["state"]),
                      step=e["step"], action=said.step(e)) + (_(" (applied late)") if e["late"]
                                                             else "")
                  for e in d["escalations"]]
    lines += _authority_lines(d)
    lines.append(_("you may: {triggers}").format(
        triggers=_(", ").join(said.firable(t) for t in d["triggers"]) or _("nothing now")))
    return "\n".join(printable(line) for line in lines)  # a value's own breaks/escapes flattened


@dataclass(frozen=True)
class _HistoryWords:
    """How the card names a history row's trigger and states: in Chinese by the workflow's
    labels (提交验收, 整改中) and words for the engine's own rows (history_words); in English by
    their ids,
    which are the words an English reader types."""

    labels: dict[str, dict[str, str]]
    by_label: bool

    def trigger(self, row: dict[str, Any]) -> str:
        if not self.by_label:
            return str(row["trigger"])
        return action(row, self.labels["triggers"])

    def state(self, state: str | None) -> str:
        if not state:
            return ""
        return self.labels["states"].get(state, state) if self.by_label else state

    def move(self, row: dict[str, Any]) -> str:
        """`整改中 -> 待验收`; an escalation, which leaves the item where it is, its state alone."""
        if not row["dest"]:
            return ""
        if row["kind"] == "escalation" and row["source"] == row["dest"]:
            return self.state(row["dest"])
        return f"{self.state(row['source'])} -> {self.state(row['dest'])}"

    def actor(self, row: dict[str, Any]) -> str:
        """Who did it: a person by name; the engine's own steps as the system, in words."""
        name = row["actor_name"] or ""
        return _("system") if row["actor"] == "system" and name == "system" else name

    def step(self, applied: dict[str, Any]) -> str:
        """An applied ladder step: its level (督办), and the transition it fired, by label."""
        action, level = str(applied["action"]), applied["level"]
        if not action.startswith("fire:"):
            return level or action
        trigger = action.removeprefix("fire:")
        label = self.labels["triggers"].get(trigger, trigger) if self.by_label else trigger
        fired = _("fired {trigger}").format(trigger=label)
        return _("{level}, {fired}").format(level=level, fired=fired) if level else fired

    def firable(self, trigger: str) -> str:
        """A trigger the reader may fire: 交办 (assign) in Chinese, the id they type kept."""
        label = self.labels["triggers"].get(trigger) if self.by_label else None
        return f"{label} ({trigger})" if label and label != trigger else trigger


def history_words(labels: dict[str, dict[str, str]]) -> _HistoryWords:
    return _HistoryWords(labels, current_language() != "en")


def _aligned(rows: list[tuple[str, str]]) -> list[str]:
    """`  label  value` with the values in one column (labels in either language)."""
    column = max(width(label) for label, _value in rows)
    return [f"  {pad(label, column)}  {value}" for label, value in rows]


def _named(name: str | None, key: str | None) -> str:
    """王五 (wang): what people read, with the id scripts and --as take."""
    if not key:
        return "—"
    return f"{name} ({key})" if name and name != key else key


def _authority_lines(d: dict[str, Any]) -> list[str]:
    """The waiting 延期申请 and the 会签 so far (contract section 6)."""
    lines = []
    # people by the names they use: each asked or signed, so each has a history row
    names = {row["actor"]: row.get("actor_name") or row["actor"] for row in d["history"]}
    ext = d.get("extension")
    if ext:
        lines.append(_("extension asked by {person}: to {due} — “{reason}” (waiting for a "
                       "decision)").format(person=names.get(ext["requested_by"],
                                                            ext["requested_by"]),
                                           due=ext["due_requested"][:10], reason=ext["reason"]))
    labels = (d.get("labels") or {}).get("triggers") or {}
    for trigger, awaited in (d.get("awaited") or {}).items():
        signed = [names.get(s["actor"], s["actor"]) for s in d.get("signatures", [])
                  if s["trigger"] == trigger]
        lines.append(_("会签 {trigger}: signed by {people}").format(
                         trigger=labels.get(trigger) or trigger,
                         people=_(", ").join(signed) or _("nobody yet"))
                     + (_("; awaiting {awaited}").format(awaited=awaited) if awaited else ""))
    return lines


def _value(value: Any) -> str:
    from ..engine.core.fields import display

    return display(value)


@click.command("advance")
@click.argument("item_id", type=ITEM_ID)
@click.argument("trigger")
@click.option("--comment")
@click.option("--field", "field_values", multiple=True, metavar="KEY=VALUE")
@click.option("--attach", multiple=True, type=click.Path(exists=True, dir_okay=False))
@pass_app
def advance(app: AppContext, item_id: int, trigger: str, comment: str | None,
            field_values: tuple[str, ...], attach: tuple[str, ...]) -> None:
    """Fire TRIGGER on the item."""
    from ..engine.app.views import advanced

    service = app.service()
    outcome = service.advance(item_id, app.actor, trigger, values=parse_fields(field_values),
                              comment=comment, attach=[Path(a) for a in attach])
    moved = advanced(service, item_id, outcome)
    if app.as_json:
        echo_json(moved)
        return
    name = f"{moved['trigger_label']} ({trigger})" if moved["trigger_label"] else trigger
    text = (_("item {id}: {trigger} — {source} -> {dest}") if not moved["signed"] else
            _("item {id}: {trigger} signed; still {source}, awaiting the other signatures"))
    click.echo(text.format(id=item_id, trigger=name, source=moved["source_label"],
                           dest=moved["dest_label"]))


@click.command("assign")
@click.argument("item_id", type=ITEM_ID)
@click.argument("person")
@click.option("--due", help="A new deadline for the current state (needs --comment).")
@click.option("--comment", help="Why: kept in the item's history (required with --due).")
@pass_app
def assign(app: AppContext, item_id: int, person: str, due: str | None,
           comment: str | None) -> None:
    """Give the item to PERSON, by id or name (and optionally a new deadline). Only the
    workflow's assigners may; nobody sets the deadline of an item assigned to themselves."""
    names = app.names()
    person_id = names.person(person)
    app.service().assign(item_id, app.actor, person_id, due, comment=comment)
    if app.as_json:
        from ..engine.app.views import item_detail

        due_at = item_detail(app.service(), item_id, app.actor)["due_at"]  # at its offset
        echo_json({"id": item_id, "assignee": person_id,
                   "assignee_name": names.person_name(person_id), "due_at": due_at})
    else:
        click.echo(_("item {id} assigned to {person}").format(
            id=item_id, person=_named(names.person_name(person_id), person_id))
            + (_(", due {due}").format(due=due) if due else ""))


@click.command("bulk")
@click.argument("trigger")
@item_filters
@click.option("--field", "field_values", multiple=True, metavar="KEY=VALUE")
@click.option("--comment")
@click.option("--dry-run", is_flag=True, help="Decide every item; write nothing.")
@pass_app
def bulk(app: AppContext, trigger: str, field_values: tuple[str, ...], comment: str | None,
         dry_run: bool, **filters: Any) -> None:
    """Fire TRIGGER on every matching item, each checked as a single advance would be.

    Refused items are listed with the reason and left unchanged; the rest commit in batches.
    Exit 0 when every matched item fired, 3 when some were refused."""
    sys.exit(_bulk(app, trigger, filters, parse_fields(field_values), comment, dry_run))


def _bulk(app: AppContext, trigger: str, filters: dict[str, Any], values: dict[str, str],
          comment: str | None, dry_run: bool) -> int:
    """Run a bulk action; per-item results stream out (one JSON document written as it goes,
    or refusals on stderr), so memory stays flat however many items match."""
    from ..engine.app.bulk import BulkResult, count_matching
    from ..engine.app.bulk import bulk as run_bulk
    service = app.service()
    item_filter = app.names().item_filter(**filters)
    out = JsonStream(app.as_json, "results")
    out.head({"trigger": trigger})

    def on_result(result: BulkResult) -> None:
        out.item(result.as_json())
        if not result.fired and not app.as_json:
            click.echo(_("item {item}: refused — {message}").format(
                           item=result.item, message=result.message), err=True)

    with progress(count_matching(service, item_filter), _("items"), from_items=2000) as bar:
        summary = run_bulk(service, app.actor, trigger, item_filter, values=values,
                       comment=comment, dry_run=dry_run, on_result=on_result,
                       progress=bar or (lambda _: None))
    out.tail(summary.as_json())
    if not app.as_json:
        done = (ngettext("{trigger}: would fire on {fired} of {matched} item",
                         "{trigger}: would fire on {fired} of {matched} items", summary.matched)
                if dry_run else
                ngettext("{trigger}: fired on {fired} of {matched} item",
                         "{trigger}: fired on {fired} of {matched} items", summary.matched))
        reasons = _(", ").join(f"{k}: {n}" for k, n in sorted(summary.reasons.items()))
        click.echo(done.format(trigger=trigger, fired=summary.fired, matched=summary.matched)
                   + (_("; {refused} refused ({reasons})").format(
                       refused=summary.refused, reasons=reasons) if summary.refused else ""))
    return 3 if summary.refused else 0
