"""How the web answers what went wrong: the HTTP status for each kind of error, and the one
line the user reads (JSON `{"error"}` for the API, a short page elsewhere). Shared by the app's
handlers, the API and the pages."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..engine.app.identity import LoginRefused
from ..engine.core.errors import (
    Conflict,
    DatabaseError,
    InvalidInput,
    NotFound,
    RectifyError,
    Refusal,
    Refused,
    UsageError,
)

# The contract's statuses for each kind of refusal (section 7).
REFUSAL_STATUS = {
    Refusal.ROLE: 403, Refusal.ASSIGNEE: 403, Refusal.SEPARATION: 403, Refusal.FIELD: 403,
    Refusal.STATE: 409,
    Refusal.MISSING_FIELD: 422, Refusal.COMMENT: 422, Refusal.GUARD: 422, Refusal.VALUE: 422,
}


def status_of(error: RectifyError) -> int:
    """The HTTP status for one of our errors."""
    if isinstance(error, Refused):
        return REFUSAL_STATUS.get(error.reason, 422)
    if isinstance(error, LoginRefused):
        return 429 if error.wait else 401
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, UsageError | InvalidInput):
        return 422
    if isinstance(error, DatabaseError):
        return 503
    return 500


def one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or "error"


def answer(request: Request, status: int, message: str,
           headers: dict[str, str] | None = None) -> Response:
    """JSON `{"error"}` under /api/ (and for clients that ask for JSON), a small page else."""
    message = one_line(message)
    if request.url.path.startswith("/api/") or \
            "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": message}, status, headers=headers)
    page = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>rectify</title><p>{html.escape(message)}</p>"
            f'<p><a href="/">返回首页</a></p></html>')
    return HTMLResponse(page, status, headers=headers)


def validation_line(errors: Sequence[Any]) -> str:
    """The first problem pydantic found, as one line: where, then what."""
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    message = str(first.get("msg", "not valid"))
    if first.get("type") == "string_pattern_mismatch":  # our only pattern: no NUL characters
        message = "must not contain NUL characters"
    return f"{where}: {message}"
