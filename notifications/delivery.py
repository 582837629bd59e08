"""The channel interface and the two ways a delivery can fail.

The dispatcher decides what to do next from the kind of failure alone: a `PermanentFailure`
is never retried (a bad address, a rejected request), a `TransientFailure` is retried with
backoff (server error, timeout, connection refused), and `RateLimited` pauses the channel
without counting an attempt.
"""

from __future__ import annotations

from typing import Protocol

from ..engine.core.errors import RectifyError
from ..engine.core.i18n import _
from .message import Notification


class DeliveryError(RectifyError):
    """A channel could not deliver a notification."""


class PermanentFailure(DeliveryError):
    """Retrying cannot help: the request or the address is wrong."""


class TransientFailure(DeliveryError):
    """The remote side is unavailable for now; retrying later may succeed."""


class RateLimited(TransientFailure):
    """Over the channel's send rate: wait `retry_after` seconds before sending on this channel."""

    def __init__(self, retry_after: float, message: str = "") -> None:
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(message or _("rate limited; retry after {seconds:.1f} s").format(
            seconds=self.retry_after))


class Channel(Protocol):
    """Something that delivers notifications.

    `units` is None for a personal channel (mail, log ...); for a group channel (a robot in a
    unit's group chat) it names the units whose items it receives. A group channel sends one
    message per notification that mentions every recipient.
    """

    name: str
    units: tuple[str, ...] | None

    def send(self, notification: Notification) -> None:
        """Deliver, or raise PermanentFailure / TransientFailure (RateLimited before sending)."""
        ...
