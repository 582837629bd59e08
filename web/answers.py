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
from ..engine.core.i18n import N_, _, translate

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


# pydantic's own words are English: the kinds of problem our bodies and queries can have, in
# the session's language ({placeholders} from the problem's `ctx`); others keep pydantic's.
PROBLEMS = {
    "missing": N_("required"),
    "string_pattern_mismatch": N_("must not contain NUL characters"),  # our only pattern
    "string_too_long": N_("at most {max_length} characters"),
    "string_too_short": N_("at least {min_length} characters"),
    "string_type": N_("must be text"),
    "int_parsing": N_("must be a whole number"),
    "int_type": N_("must be a whole number"),
    "bool_parsing": N_("must be true or false"),
    "greater_than_equal": N_("must be at least {ge}"),
    "less_than_equal": N_("must be at most {le}"),
    "dict_type": N_("must be a JSON object"),
    "json_invalid": N_("not valid JSON"),
    "model_attributes_type": N_("must be a JSON object"),
}


def validation_line(errors: Sequence[Any]) -> str:
    """The first problem pydantic found, as one line: where, then what."""
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or _("request")
    message = str(first.get("msg", _("not valid")))
    known = PROBLEMS.get(str(first.get("type")))
    if known:
        try:
            message = translate(known).format(**(first.get("ctx") or {}))
        except (KeyError, IndexError, ValueError):
            message = translate(known)
    return _("{where}: {problem}").format(where=where, problem=message)
