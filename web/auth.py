"""Who a request acts as: a session cookie (pages and API) or `Authorization: Bearer` (API).

Nothing here decides a rule: the identities come from `engine/app/identity.py`. This module
turns them into FastAPI dependencies and responses:

- `api_person` (API routes): cookie or bearer token, else 401 `{"error": ...}`;
- `page_person` (pages): cookie only, else a redirect to `/login?next=...` (`LoginRequired`);
- `csrf_token` / `check_csrf`: the session's token, put in every form as hidden field `csrf`
  (or sent as header `X-CSRF-Token`), and the check of state-changing posts (403 without it);
- `login` / `logout`: what the `/login`, `/logout` and `/api/login` routes call.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ..engine.app import identity
from ..engine.app.identity import LoginRefused, Person, Session
from ..engine.app.service import Service
from ..engine.core.i18n import _

__all__ = ["COOKIE", "HttpRefusal", "LoginRefused", "LoginRequired", "Person", "api_person",
           "check_csrf", "client_address", "csrf_token", "login", "logout", "page_person"]

COOKIE = "rectify_session"
CSRF_FIELD, CSRF_HEADER = "csrf", "x-csrf-token"

# Declared so that /openapi.json says how to authenticate (schemathesis and clients read it);
# auto_error off: our own 401 carries the contract's one-line body.
_bearer = HTTPBearer(auto_error=False, description="an API token from `rectify token create`")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False,
                       description="the session cookie set by POST /api/login or /login")


class HttpRefusal(Exception):
    """An answer other than success, told in one line: JSON `{"error"}` for the API, a short
    page elsewhere (handled in `web/app.py`)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.headers = headers or {}
        super().__init__(message)


class LoginRequired(Exception):
    """A page asked for without a session: `web/app.py` redirects to `/login?next=...`."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url
        super().__init__(next_url)

    def location(self) -> str:
        return "/login?next=" + quote(self.next_url, safe="/")


def service_of(request: Request) -> Service:
    return request.app.state.service


def client_address(request: Request) -> str:
    """The client's address (behind nginx: uvicorn's --proxy-headers put the real one here)."""
    return request.client.host if request.client else "unknown"


async def current_session(request: Request) -> Session | None:
    """The request's live session, looked up once per request."""
    if not hasattr(request.state, "session"):
        session_id = request.cookies.get(COOKIE, "")
        request.state.session = (await run_in_threadpool(identity.session, service_of(request),
                                                         session_id)) if session_id else None
    return request.state.session


async def api_person(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _cookie_value: Annotated[str | None, Depends(_cookie)],
) -> Person:
    """The person an API request acts as (token first, then session cookie); 401 otherwise."""
    if bearer is not None:
        person = await run_in_threadpool(identity.token_person, service_of(request),
                                         bearer.credentials)
        if person is None:
            raise HttpRefusal(401, _("this API token is not valid (unknown, revoked, or its "
                                     "person has left)"), {"WWW-Authenticate": "Bearer"})
        request.state.via_token = True
        return person
    session = await current_session(request)
    if session is None:
        raise HttpRefusal(401, _("not logged in: send a session cookie from POST /api/login or "
                                 "Authorization: Bearer TOKEN"), {"WWW-Authenticate": "Bearer"})
    request.state.via_token = False
    return session.person


async def page_person(request: Request) -> Person:
    """The person a page is shown to (session cookie only); else off to the login page."""
    session = await current_session(request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return session.person


def csrf_token(request: Request) -> str:
    """The session's CSRF token, for a hidden `csrf` field in every form ('' without one)."""
    session = getattr(request.state, "session", None)
    return session.csrf if session else ""


async def check_csrf(request: Request) -> None:
    """A state-changing post made with a session must carry its token (form field `csrf` or
    header `X-CSRF-Token`); requests authenticated by a bearer token need none."""
    if getattr(request.state, "via_token", False):
        return
    session = await current_session(request)
    sent: object = request.headers.get(CSRF_HEADER)
    if sent is None and _is_form(request):
        sent = (await request.form()).get(CSRF_FIELD)  # parsed once: FastAPI reuses it
    if session is None or not isinstance(sent, str) or \
            not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        if request.url.path.startswith("/api/"):  # a script, not a page: say what to send
            raise HttpRefusal(403, _("a POST made with the session cookie must send the 'csrf' "
                                     "value POST /api/login answered, as header X-CSRF-Token"))
        raise HttpRefusal(403, _("this form has expired or did not come from rectify: reload "
                                 "the page and try again"))


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded"))


async def login(request: Request, person: str, password: str,
                response: Response) -> Response | LoginRefused:
    """Check the password; on success start a session, set its cookie on `response` and
    return it; else the refusal (its one line is `str(refusal)`, `refusal.wait` > 0 when
    throttled). The answer is the same whether or not the person exists."""
    service = service_of(request)
    try:
        who = await run_in_threadpool(identity.log_in, service, person, password,
                                      client_address(request))
    except LoginRefused as refused:
        return refused
    hours = request.app.state.settings.web.session_hours
    session_id, session = await run_in_threadpool(identity.start_session, service, who,
                                                  hours=hours)
    response.set_cookie(COOKIE, session_id, max_age=hours * 3600, path="/", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    request.state.session = session
    return response


async def logout(request: Request, response: Response) -> Response:
    """End the session (its row is deleted: the cookie opens nothing any more)."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        await run_in_threadpool(identity.end_session, service_of(request), session_id)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    request.state.session = None
    return response


def login_refusal(refused: LoginRefused) -> HttpRefusal:
    """How the API answers a failed login: 401, or 429 with Retry-After when throttled."""
    if refused.wait:
        return HttpRefusal(429, str(refused), {"Retry-After": str(refused.wait)})
    return HttpRefusal(401, str(refused))
