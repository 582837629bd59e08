"""What one notification is: rendered text, who gets it, and what it is about.

Its context is fixed when the event happens and stored in the outbox with it, so a retry days
later says what was true then, not what the item looks like now. An item notice's text is
rendered from that context when it is sent (notifications/stored.py); digests and reports are
rendered when made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recipient:
    """A person to notify; channels use whichever address they need and skip the rest."""

    person_id: str
    name: str
    email: str | None = None
    mobile: str | None = None


@dataclass(frozen=True)
class Notification:
    """One rendered message for a set of recipients.

    `key` is the dedupe key: the outbox keeps one row per (channel, key), so firing the same
    escalation step twice never notifies twice. `data` is the template context (JSON-ready),
    carried for webhook consumers; it holds only what the templates could see.
    """

    key: str
    template: str
    subject: str
    text: str
    markdown: str
    recipients: tuple[Recipient, ...] = ()
    item_id: int | None = None
    unit: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `from_dict` turns it back (the outbox stores it this way)."""
        return {
            "key": self.key,
            "template": self.template,
            "subject": self.subject,
            "text": self.text,
            "markdown": self.markdown,
            "recipients": [_recipient_dict(r) for r in self.recipients],
            "item_id": self.item_id,
            "unit": self.unit,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Notification:
        return cls(
            key=raw["key"],
            template=raw["template"],
            subject=raw["subject"],
            text=raw["text"],
            markdown=raw["markdown"],
            recipients=tuple(Recipient(**r) for r in raw.get("recipients", ())),
            item_id=raw.get("item_id"),
            unit=raw.get("unit"),
            data=dict(raw.get("data") or {}),
        )


def _recipient_dict(recipient: Recipient) -> dict[str, str | None]:
    return {
        "person_id": recipient.person_id,
        "name": recipient.name,
        "email": recipient.email,
        "mobile": recipient.mobile,
    }
