"""The outbox's use cases: list it, dispatch what is due, requeue what failed.

The store keeps an item notice as its template's context; it is rendered here for the listing
as the dispatcher renders it to send it. One whose template no longer renders says why.

A row names the channel it was queued for. When the settings change (a `rectify.toml` added
where the implicit `log` channel served, a robot renamed), rows queued for a channel that is
gone are re-routed before each dispatch: copied to the channels that take such a notice now
(personal channels for a notice with recipients, group channels for its unit), each copy keyed
by the notice's key and its new channel, so a rerun copies nothing twice. Nothing queued is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..core.i18n import _
from ..store import outbox
from ..store.db import Connection, read, write

if TYPE_CHECKING:
    from ...notifications.dispatch import DispatchReport
    from ...notifications.notices import Notices
    from ..core.clock import Clock
    from ..store.db import Engine


class Place(Protocol):
    """What the outbox's use cases use: the database and the clock. A Service has both, and
    so has the runtime's `Store`, which `outbox dispatch` takes instead of building a Service."""

    @property
    def engine(self) -> Engine: ...

    @property
    def clock(self) -> Clock: ...


def list_rows(conn: Connection, status: str | None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest rows (of `status`, or all), newest first, with subject and bodies."""
    from types import SimpleNamespace

    from ...notifications.render import RenderError
    from ...notifications.stored import failure, texts

    listed = []
    for row in outbox.newest(conn, status, limit):
        stored = SimpleNamespace(**row)
        try:
            row["subject"], row["body_text"], row["body_markdown"] = texts(stored)
        except RenderError as exc:
            row["subject"] = f"({failure(stored, exc)})"
        listed.append(row)
    return listed


@dataclass(frozen=True)
class Rerouted:
    rows: int = 0  # stranded rows re-routed to the channels configured now
    unroutable: int = 0  # stranded rows no configured channel takes: failed, with the reason


def reroute_stranded(service: Place, notices: Notices) -> Rerouted:
    """Re-route every pending row whose channel is no longer configured (see the module)."""
    configured = set(notices.routes)
    rows = unroutable = 0
    while True:
        with write(service.engine) as conn:
            stranded = outbox.stranded(conn, configured)
            for row in stranded:
                copies = _copies(notices, row, service.clock.now())
                outbox.reroute(conn, row["id"], copies, _note(row["channel"], copies))
                rows, unroutable = rows + bool(copies), unroutable + (not copies)
        if len(stranded) < 1000:
            return Rerouted(rows, unroutable)


def _copies(notices: Notices, row: dict[str, Any], now: Any) -> list[dict[str, Any]]:
    key = row["dedupe_key"].removesuffix(f":{row['channel']}")
    people = bool((row["recipients"] or {}).get("people"))
    fields = {k: row[k] for k in outbox.COLUMNS}
    return [{**fields, "dedupe_key": f"{key}:{channel}", "channel": channel,
             "status": "pending", "attempts": 0, "next_attempt_at": now}
            for channel in notices.channels_for(people, row["unit_path"])]


def _note(channel: str, copies: Sequence[dict[str, Any]]) -> str:
    if copies:
        return _("channel '{channel}' is no longer configured; re-routed to {to}").format(
            channel=channel, to=", ".join(c["channel"] for c in copies))
    return _("channel '{channel}' is no longer configured and no configured channel takes "
             "this notice").format(channel=channel)


def dispatch_due(service: Place, settings: Any,
                 progress: Callable[[int], None] | None = None,
                 should_stop: Callable[[], bool] = lambda: False,
                 ) -> tuple[Rerouted, DispatchReport]:
    """Re-route stranded rows, then send everything due, pass after pass, until nothing is
    left to try (or `should_stop` says so between passes); `progress` is told how many rows
    each pass handled."""
    from ...notifications.dispatch import DispatchReport, dispatch
    from ...notifications.notices import Notices
    from ...notifications.settings import build_channels
    from ..store.outbox import OutboxTable

    channels = build_channels(settings)
    rerouted = reroute_stranded(service, Notices.from_settings(settings))
    total, table, now = DispatchReport(failed=rerouted.unroutable), OutboxTable(service.engine), \
        service.clock.now()
    while True:
        report = dispatch(table, channels, now)
        total += report
        if progress:
            progress(report.handled + report.postponed)
        if report.handled == 0 or should_stop():
            return rerouted, total


def count_due(service: Place) -> int:
    with read(service.engine) as conn:
        return outbox.count_due(conn, service.clock.now())


def retry(service: Place, status: str, ids: Sequence[int]) -> list[int]:
    """Requeue the rows of `status` (default failed), or only those of `ids`: due now, their
    attempts counted afresh. An id that is not a row of that status is an error (NotFound)."""
    from ..core.errors import NotFound

    with write(service.engine) as conn:
        found = outbox.requeue(conn, status, ids, service.clock.now())
        missing = sorted(set(ids) - set(found))
        if missing:
            raise NotFound(_("{status} outbox row").format(status=status),
                           ", ".join(map(str, missing)))
    return found
