"""延期申请 (extension requests): who may ask, when, for how long, and who decides. Pure rules.

A deadline moves only by a request asked before it passes, by the assignee, with a reason and a
new date, decided by an approver who is not the requester. Without a granted extension an item
is judged against the deadline its state entry began with (the weekly report does so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .authority import roles_text
from .calendar import WorkCalendar, shift
from .errors import Refusal, Refused
from .i18n import _, ngettext
from .machine import Actor
from .spec import Duration, WorkflowSpec


@dataclass(frozen=True)
class Asked:
    """What the rules need to know about an item and its requests in this state entry."""

    state: str
    assignee: str | None
    due_at: datetime | None
    final: bool
    granted: int  # extensions granted in this state entry
    pending: bool  # a request is waiting for a decision
    assignee_name: str | None = None  # the name people use, said when someone else asks


def request_refusal(spec: WorkflowSpec, item: Asked, actor: Actor, new_due: datetime,
                    now: datetime, calendar: WorkCalendar) -> Refused | None:
    """Why `actor` may not ask to move the deadline to `new_due` now, or None."""
    ext = spec.extensions
    label = f"{spec.state_label(item.state)} ({item.state})"
    if ext is None:
        return Refused(_("workflow '{workflow}' has no extensions (延期申请)").format(
                           workflow=spec.name),
                       reason=Refusal.STATE)
    if item.state not in ext.states or item.due_at is None or item.final:
        return Refused(_("an extension cannot be asked in state {label}; it can in "
                         "{states}").format(
                           label=label, states=", ".join(spec.state_label(s) for s in ext.states)),
                       reason=Refusal.STATE)
    if actor.id != item.assignee:
        return Refused(_("only the assignee ({assignee}) may ask for an extension").format(
                           assignee=item.assignee_name or item.assignee
                           or _("nobody assigned")),
                       reason=Refusal.ASSIGNEE)
    if now >= item.due_at:
        return Refused(_("the deadline has passed: an extension must be asked before it"),
                       reason=Refusal.STATE)
    if item.pending:
        return Refused(_("an extension request is already waiting for a decision"),
                       reason=Refusal.STATE)
    if item.granted >= ext.max:
        return Refused(ngettext("{count} extension already granted in {label}; at most {max} per "
                                "entry", "{count} extensions already granted in {label}; at most "
                                "{max} per entry", item.granted).format(
                                    count=item.granted, label=label, max=ext.max),
                       reason=Refusal.STATE)
    if new_due <= item.due_at:
        return Refused(_("the new date must be after the current deadline"),
                       reason=Refusal.VALUE)
    if ext.limit is not None and new_due > _latest(spec, item.due_at, ext.limit, calendar):
        return Refused(_("an extension may add at most {limit}").format(limit=ext.limit.words()),
                       reason=Refusal.VALUE)
    return None


def _latest(spec: WorkflowSpec, due: datetime, limit: Duration,
            calendar: WorkCalendar) -> datetime:
    return shift(due, limit, spec.timezone, calendar).at


def decision_refusal(spec: WorkflowSpec, actor: Actor, requested_by: str,
                     where: str) -> Refused | None:
    """Why `actor` may not grant or refuse a request made by `requested_by`, or None."""
    ext = spec.extensions
    approvers = ext.approvers if ext else ()
    if not actor.roles & set(approvers):
        return Refused(_("{actor} may not decide extensions: it needs the role {roles} at "
                         "{unit} or a unit above it").format(
                           actor=actor.name or actor.id, roles=roles_text(spec, approvers),
                           unit=where),
                       reason=Refusal.ROLE)
    if actor.id == requested_by:
        return Refused(_("{actor} asked for this extension and so may not decide it "
                         "(separation of duties)").format(actor=actor.name or actor.id),
                       reason=Refusal.SEPARATION)
    return None
