"""The ASGI app: `create_app(runtime)` wires the API, the pages (when present), the static
files and the one place where errors become HTTP answers.

Every error a user sees is one line: the API answers `{"error": LINE}` with the status the
contract gives its kind; a page gets a short HTML page with that line (escaped).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..engine.app.runtime import Runtime
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
from .auth import HttpRefusal, LoginRefused, LoginRequired, login_refusal

STATIC = Path(__file__).parent / "static"

# The contract's statuses for each kind of refusal (section 7).
REFUSAL_STATUS = {
    Refusal.ROLE: 403, Refusal.ASSIGNEE: 403, Refusal.SEPARATION: 403, Refusal.FIELD: 403,
    Refusal.STATE: 409,
    Refusal.MISSING_FIELD: 422, Refusal.COMMENT: 422, Refusal.GUARD: 422, Refusal.VALUE: 422,
}


def create_app(runtime: Runtime) -> FastAPI:
    from . import api

    app = FastAPI(title="rectify", version=_version(), openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="Pages for staff and a JSON API over the rectify ledger.")
    app.state.runtime = runtime
    app.state.settings = runtime.settings()
    app.state.service = runtime.service()
    app.include_router(api.router)
    try:
        pages = import_module(f"{__package__}.pages")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.pages":
            raise
    else:
        app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _handlers(app)
    return app


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


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(HttpRefusal)
    async def _refusal(request: Request, exc: HttpRefusal) -> Response:
        return answer(request, exc.status, exc.message, exc.headers)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.location(), 303)

    @app.exception_handler(LoginRefused)
    async def _login_refused(request: Request, exc: LoginRefused) -> Response:
        refusal = login_refusal(exc)
        return answer(request, refusal.status, refusal.message, refusal.headers)

    @app.exception_handler(RectifyError)
    async def _ours(request: Request, exc: RectifyError) -> Response:
        return answer(request, status_of(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return answer(request, 422, validation_line(exc.errors()))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # A bug, not a refusal: the user still reads one line; the traceback goes to the
        # server's log (Starlette logs it after this answer).
        return answer(request, 500, "internal error: the server's log has the details")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return answer(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rectify")
    except PackageNotFoundError:
        return "0"
