"""Outbox rows as stored -> notifications as sent: the dispatcher's rendering step.

An item notice is stored as its template's name and context (fixed when the event happened);
its text is rendered here, when it is sent or listed, with the workflow's own templates. A
digest or report was rendered when it was made and is stored with its text.
"""

from __future__ import annotations

from typing import Any

from ..engine.core.i18n import _
from .message import Notification, Recipient


def to_notification(row: Any) -> Notification:
    """The stored row (anything with the outbox's columns as attributes) as a notification;
    an item notice is rendered here (RenderError if it cannot be)."""
    recipients = tuple(Recipient(**r) for r in (row.recipients or {}).get("people", []))
    subject, text, markdown = texts(row)
    return Notification(key=row.dedupe_key, template=row.template, subject=subject,
                        text=text, markdown=markdown, recipients=recipients,
                        item_id=row.item_id, unit=row.unit_id, data=row.data or {})


def texts(row: Any) -> tuple[str, str, str]:
    """(subject, text, markdown) of a stored row: as stored, or rendered from its context."""
    if row.subject is not None:  # rendered when queued (digests, reports)
        return row.subject, row.body_text, row.body_markdown
    from .render import render

    return render(row.template, row.data or {}, extra_dir=row.templates_dir)


def failure(row: Any, error: Exception) -> str:
    """Why a stored row cannot be sent or shown: its template does not render."""
    return _("template '{template}' does not render: {reason}").format(
        template=row.template, reason=error)
