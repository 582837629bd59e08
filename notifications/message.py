"""What one notification is: rendered text, who gets it, and what it is about.

Its context is fixed when the event happens and stored in the outbox with it, so a retry days
later says what was true then, not what the item looks like now. An item notice's text is
rendered from that context when it is sent (notifications/stored.py); digests and reports are
rendered when made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Recipient:
    """A person to notify; channels use whichever address they need and skip the rest."""

    person_id: str
    name: str
    email: str | None = None
    mobile: str | None = None


class Forms(Protocol):
    """A notification's texts: the subject and text body (mail, the log, WeCom's text mode)
    and Markdown (robots). An item notice's are rendered when first read (render.Rendered): a
    channel renders only the forms it sends."""

    @property
    def subject(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def markdown(self) -> str: ...

    def every(self) -> tuple[str, str, str]:
        """(subject, text, markdown), for a channel that sends them all."""
        ...


@dataclass(frozen=True)
class Texts:
    """Forms given as they are: rendered when made (digests, reports, folds), or read back."""

    subject: str
    text: str
    markdown: str

    def every(self) -> tuple[str, str, str]:
        return self.subject, self.text, self.markdown


@dataclass(frozen=True, init=False)
class Notification:
    """One message for a set of recipients.

    `key` is the dedupe key: the outbox keeps one row per (channel, key), so firing the same
    escalation step twice never notifies twice. `data` is the template context (JSON-ready),
    carried for webhook consumers; it holds only what the templates could see. The texts are
    given (`subject`, `text`, `markdown`) or as `forms`, which may render them when read:
    a RenderError can then come from reading `subject`, `text` or `markdown`.
    """

    key: str
    template: str
    forms: Forms
    recipients: tuple[Recipient, ...]
    item_id: int | None
    unit: str | None
    data: Mapping[str, Any] = field(hash=False)

    def __init__(self, key: str, template: str, subject: str = "", text: str = "",
                 markdown: str = "", recipients: tuple[Recipient, ...] = (),
                 item_id: int | None = None, unit: str | None = None,
                 data: Mapping[str, Any] | None = None, *, forms: Forms | None = None) -> None:
        put = object.__setattr__  # frozen: as a dataclass's own __init__ sets its fields
        put(self, "key", key)
        put(self, "template", template)
        put(self, "forms", Texts(subject, text, markdown) if forms is None else forms)
        put(self, "recipients", recipients)
        put(self, "item_id", item_id)
        put(self, "unit", unit)
        put(self, "data", {} if data is None else data)

    @property
    def subject(self) -> str:
        return self.forms.subject

    @property
    def text(self) -> str:
        return self.forms.text

    @property
    def markdown(self) -> str:
        return self.forms.markdown

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `from_dict` turns it back (the outbox stores it this way)."""
        subject, text, markdown = self.forms.every()
        return {
            "key": self.key,
            "template": self.template,
            "subject": subject,
            "text": text,
            "markdown": markdown,
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
