"""Outbox rows as stored -> notifications as sent: the dispatcher's rendering step.

An item notice is stored as its template's name and context (fixed when the event happened);
its text is rendered here, when it is sent or listed, with the workflow's own templates. A
digest or report was rendered when it was made and is stored with its text.
"""

from __future__ import annotations

from typing import Any

from ..engine.core.i18n import _
from .message import Forms, Notification, Recipient, Texts


def to_notification(row: Any) -> Notification:
    """The stored row (anything with the outbox's columns as attributes) as a notification.
    An item notice's forms are rendered when a channel reads them (render.Rendered): reading
    one may raise RenderError."""
    recipients = tuple(Recipient(**r) for r in (row.recipients or {}).get("people", []))
    return Notification(key=row.dedupe_key, template=row.template, forms=forms(row),
                        recipients=recipients, item_id=row.item_id, unit=row.unit_id,
                        data=row.data or {})


def forms(row: Any) -> Forms:
    """A stored row's texts: as stored, or its template's forms, rendered when read."""
    if row.subject is not None:  # rendered when queued (digests, reports)
        return Texts(row.subject, row.body_text, row.body_markdown)
    from .render import Rendered

    return Rendered(row.template, row.data or {}, row.templates_dir)


def texts(row: Any) -> tuple[str, str, str]:
    """(subject, text, markdown) of a stored row: as stored, or rendered from its context."""
    return forms(row).every()


def failure(row: Any, error: Exception) -> str:
    """Why a stored row cannot be sent or shown: its template does not render."""
    return _("template '{template}' does not render: {reason}").format(
        template=row.template, reason=error)
