"""`rectify outbox list`: the newest outbox rows, each with the text it is (or was) sent with.

The store keeps an item notice as its template's context; it is rendered here for the listing
as the dispatcher renders it to send it. One whose template no longer renders says why.
"""

from __future__ import annotations

from typing import Any

from ..store import outbox
from ..store.db import Connection


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
