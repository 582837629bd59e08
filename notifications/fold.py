"""Late escalation notices folded: one message per recipient set and channel, listing the items.

After a long outage one sweep applies every step that came due meanwhile; telling each person
once per item per step would send them thousands of messages (robots take 20 a minute). Those
rows share a `fold_key` (notices.fold_key: the sweep's time and the recipients), and the
dispatcher sends each (fold key, channel) as one `late_steps` message. Exactly once is kept by
the rows themselves: all of a fold's rows are claimed together and their outcome is written in
one transaction, so a crash before it leaves them all pending, to be folded and sent again
whole (the same window as one row's); none is sent twice apart from that, none is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .context import ESCALATION_LEVELS
from .message import Notification, Recipient

FOLD_LIST = 100  # items a folded message lists; the rest are counted ("另有 N 项")
TEMPLATE = "late_steps"


def notification(key: str, rows: Sequence[Any], total: int) -> Notification:
    """The one message of a fold: `rows` as stored (the first of it, at most FOLD_LIST), of
    `total` rows in all. RenderError if the template does not render."""
    from .render import render

    first = rows[0]
    context = {
        "recipients": list(first.data.get("recipients", [])),
        "count": total,
        "entries": [_entry(row) for row in rows[:FOLD_LIST]],
        "more": max(0, total - FOLD_LIST),
        "item_url": None,
    }
    subject, text, markdown = render(TEMPLATE, context, extra_dir=first.templates_dir)
    recipients = tuple(Recipient(**r) for r in (first.recipients or {}).get("people", []))
    return Notification(key=f"{key}:{first.channel}", template=TEMPLATE, subject=subject,
                        text=text, markdown=markdown, recipients=recipients, item_id=None,
                        unit=first.unit_id, data=context)


def _entry(row: Any) -> dict[str, Any]:
    """One listed item: the item as its own notice showed it, the step's level and time."""
    data = row.data or {}
    step = data.get("step") or {}
    return {"item": data.get("item", {}), "at": step.get("at"),
            "level": step.get("level") or ESCALATION_LEVELS.get(row.template, "提醒"),
            "fired": step.get("fired"), "refused": step.get("refused"), "who": step.get("who")}

