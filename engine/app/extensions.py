"""延期申请: `item extend` (the assignee asks) and `item extension grant|refuse` (an approver
decides). The rules are core/extensions.py; here each is one write transaction: the request or
decision row, the item's history row, its notices, and on a grant the new deadline with its
pending escalation steps moved (a step already applied stays applied: it is never re-applied).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ...engine.core.i18n import N_, _, translate
from ..core.dates import end_of_day
from ..core.errors import Conflict, Refusal, Refused, UsageError
from ..core.escalation import schedule
from ..core.extensions import Asked, decision_refusal, request_refusal
from ..core.spec import WorkflowSpec
from ..store import authority as grants
from ..store import items as store
from ..store import repo
from ..store.db import write
from . import lookups
from .service import Service


def request_extension(service: Service, item_id: int, actor_id: str | None, to: str,
                      reason: str, *, via: str = "cli") -> dict[str, Any]:
    """The assignee asks to move the deadline to `to`; the approvers are told."""
    if not (reason or "").strip():
        raise Refused(_("an extension request needs its reason (--reason)"),
                      reason=Refusal.COMMENT)
    now = service.clock.now()
    with write(service.engine) as conn:
        item = store.get_item(conn, item_id)
        spec = service.compiled(conn, item.workflow_version_id).spec
        actor = service.actor(conn, actor_id, item.unit_path)
        new_due = _date(to, spec)
        asked = Asked(item.state, item.assignee_id, item.due_at, item.final,
                      grants.granted_count(conn, item.id, item.entry_no),
                      grants.pending_request(conn, item.id, item.entry_no) is not None,
                      _name(conn, item.assignee_id) if actor.id != item.assignee_id else None)
        refusal = request_refusal(spec, asked, actor, new_due, now, service.calendar())
        if refusal:
            raise refusal
        assert item.due_at is not None and spec.extensions is not None
        request = grants.insert_request(conn, {
            "item_id": item.id, "entry_no": item.entry_no, "state": item.state,
            "requested_by": actor.id, "requested_at": now, "due_before": item.due_at,
            "due_requested": new_due, "reason": reason})
        entry = service.entry("extension", actor.id, now, via=via, trigger="extend",
                              comment=reason, data={"request": request, "due_at": [
                                  _iso(item.due_at), _iso(new_due)]})
        approvers = spec.extensions.approvers
        directory = lookups.read(conn, lookups.wanted().item(item, approvers, actor.id))
        outbox = service.notices.for_event(
            directory, spec, item, key=f"item:{item.id}:h{item.last_seq + 1}:x",
            template="extension_request", notify=approvers, now=now,
            comment=f"申请延期至 {_shown(new_due, spec)}：{reason}", actor=actor.id)
        store.apply_write(conn, store.ItemWrite(item=item, values={}, history=entry,
                                                outbox=outbox))
    return {"id": item_id, "request": request, "due_requested": _local(new_due, spec)}


def decide_extension(service: Service, item_id: int, actor_id: str | None, decision: str,
                     comment: str | None = None, *, via: str = "cli") -> dict[str, Any]:
    """An approver grants (the deadline and its pending steps move) or refuses the request."""
    if decision not in ("grant", "refuse"):
        raise UsageError(_("expected grant or refuse, got {decision!r}").format(
                             decision=decision))
    now = service.clock.now()
    with write(service.engine) as conn:
        item = store.get_item(conn, item_id)
        spec = service.compiled(conn, item.workflow_version_id).spec
        request = grants.pending_request(conn, item.id, item.entry_no)
        if request is None:
            raise Refused(_nothing_waiting(conn, item.id), reason=Refusal.STATE)
        actor = service.actor(conn, actor_id, item.unit_path)
        refusal = decision_refusal(spec, actor, request["requested_by"],
                                   repo.unit(conn, item.unit_id).name)
        if refusal:
            raise refusal
        status = "granted" if decision == "grant" else "refused"
        if not grants.decide_request(conn, request["id"], status, actor.id, now, comment):
            raise Conflict(_("the extension request on item {id} was decided by "
                             "someone else at the same moment; nothing was written").format(
                               id=item.id), item=item.id)
        plan = schedule(spec, item.state, item.entered_at, service.calendar(),
                        request["due_requested"]) if status == "granted" else None
        values: dict[str, Any] = {} if plan is None else {
            "due_at": plan.due_at, "due_provisional": plan.provisional, "due_override": True}
        entry = service.entry("extension", actor.id, now, via=via, trigger=f"extension:{status}",
                              comment=comment, data={"request": request["id"], "due_at": [
                                  _iso(item.due_at), _iso(values.get("due_at", item.due_at))]})
        words = ("同意延期" if plan else "不同意延期") + (f"：{comment}" if comment else "")
        after = item._replace(**values)
        directory = lookups.read(conn, lookups.wanted().item(after, ("assignee",), actor.id))
        outbox = service.notices.for_event(
            directory, spec, after, key=f"item:{item.id}:h{item.last_seq + 1}:x",
            template="extension_decision", notify=("assignee",), now=now, comment=words,
            actor=actor.id)
        # on a grant, the steps not yet applied move with the deadline (`replan`)
        store.apply_write(conn, store.ItemWrite(
            item=item, values=values, history=entry, outbox=outbox,
            replan=None if plan is None else plan.steps))
    return {"id": item_id, "request": request["id"], "status": status,
            "due_at": _local(values.get("due_at", item.due_at), spec)}


# A request's decided status (a word of the database) as the message says it.
DECISIONS = {"granted": N_("granted"), "refused": N_("refused")}


def _nothing_waiting(conn: Any, item_id: int) -> str:
    latest = grants.latest_request(conn, item_id)
    message = _("item {item} has no extension request waiting for a decision").format(
        item=item_id)
    if latest is not None and latest["status"] != "pending":
        said = DECISIONS.get(latest["status"])
        message += _(" (the last one was {status} by {person})").format(
            status=translate(said) if said else latest["status"],
            person=_name(conn, latest["decided_by"]))
    return message


def _name(conn: Any, person_id: str | None) -> str | None:
    """The name people use for `person_id` (the id when the org file no longer has them)."""
    person = repo.person(conn, person_id) if person_id else None
    return person.name if person else person_id


def open_request(conn: Any, item: store.ItemRecord, spec: WorkflowSpec) -> dict[str, Any] | None:
    """The request waiting in the item's current state entry, as `item show --json` gives it."""
    return shown_request(grants.pending_request(conn, item.id, item.entry_no), spec)


def shown_request(request: dict[str, Any] | None, spec: WorkflowSpec) -> dict[str, Any] | None:
    """A request row as `item show --json` gives it."""
    if request is None:
        return None
    return {"id": request["id"], "requested_by": request["requested_by"],
            "requested_at": _local(request["requested_at"], spec),
            "due_requested": _local(request["due_requested"], spec),
            "reason": request["reason"]}


def _date(text: str, spec: WorkflowSpec) -> datetime:
    try:
        return end_of_day(text, spec.timezone)
    except ValueError as exc:
        raise UsageError(_("--to {text!r}: expected a date like 2026-12-01 or an "
                           "ISO-8601 time").format(text=text)) from exc


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _local(at: datetime | None, spec: WorkflowSpec) -> str | None:
    return at.astimezone(ZoneInfo(spec.timezone)).isoformat() if at else None


def _shown(at: datetime, spec: WorkflowSpec) -> str:
    """A time as notices say it to people: local wall time, `2025-10-20 23:59`."""
    from ...notifications.context import show_time

    return show_time(at.astimezone(ZoneInfo(spec.timezone))) or ""
