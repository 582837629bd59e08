"""The ASGI app: `create_app(runtime)` wires the API, the pages (when present), the static
files and the one place where errors become HTTP answers.

Every error a user sees is one line: the API answers `{"error": LINE}` with the status the
contract gives its kind; a page gets a short HTML page with that line (escaped).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..engine.app.runtime import Runtime
from ..engine.core.errors import RectifyError
from ..engine.core.i18n import _
from .answers import answer, status_of, validation_line
from .auth import HttpRefusal, LoginRefused, LoginRequired, login_refusal

STATIC = Path(__file__).parent / "static"


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
        return answer(request, 500, _("internal error: the server's log has the details"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return answer(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rectify")
    except PackageNotFoundError:
        return "0"
