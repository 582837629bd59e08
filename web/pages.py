"""The staff pages: `/login`, `/logout`, `/` (my open items), `/units/ID` (a unit's board),
`/items/ID` (the item, its evidence, one form per trigger the person may fire now) and the
item's files.

Routes parse, call the use cases the CLI calls and render; no rule lives here. A form post
goes to `Service.advance(..., via="web")`; a refusal comes back as the one line the CLI would
print, above the form, with what the person typed still in it. Items and boards the person
may not see answer 404, exactly as missing ones (engine/app/access.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..engine.app import access, worklist
from ..engine.app.item_page import item_page
from ..engine.app.service import Service
from ..engine.core.errors import NotFound, RectifyError
from ..engine.core.escalation import LightRule
from ..engine.store import evidence as store_files
from ..engine.store import worklist as rows
from ..engine.store.db import read
from . import auth
from .auth import HttpRefusal, Person, check_csrf, csrf_token, page_person, service_of
from .evidence import UploadRefused, file_response, save_uploads, thumbnail, thumbnail_response
from .render import board_links, item_context, light_styles, make_templates
from .words import login_words, refusal_words

router = APIRouter(include_in_schema=False)
templates = make_templates()
HOME_LIMIT = 100  # a phone screen of cards; the boards hold the rest
MAX_FILES = 10  # photos in one post; with the per-file limit, bounds a post before it is read

LoggedIn = Annotated[Person, Depends(page_person)]
ItemId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]  # what an INTEGER column holds


# --- login and logout ---------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return _page(request, "login.html", None, next=_safe_next(next), person_id="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login_post(request: Request) -> Response:
    # No session yet, so no CSRF token: a login posted from another site (which would sign
    # the victim in as someone else) is told apart by the Origin browsers send with posts.
    origin = request.headers.get("origin")
    host = urlsplit("//" + request.headers.get("host", "")).hostname
    if origin and urlsplit(origin).hostname != host:  # hosts only: nginx's $host drops ports
        raise HttpRefusal(403, "登录页面须从本系统打开")
    form = await request.form()
    person_id, password = str(form.get("person") or "").strip(), str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or "/"))
    done = await auth.login(request, person_id, password, RedirectResponse(target, 303))
    if isinstance(done, Response):
        return done
    status = 429 if done.wait else 401
    return _page(request, "login.html", None, status=status, next=target, person_id=person_id,
                 error=login_words(str(done)))


@router.get("/logout", response_class=HTMLResponse)
def logout_page(request: Request, person: LoggedIn) -> Response:
    return _page(request, "logout.html", person)


@router.post("/logout")
async def logout_post(request: Request, _csrf: Annotated[None, Depends(check_csrf)]) -> Response:
    return await auth.logout(request, RedirectResponse("/login", 303))


def _safe_next(target: str) -> str:
    """Only a path on this site: never `//evil.example` or `https://…` (an open redirect)."""
    if not target.startswith("/") or target.startswith(("//", "/\\")) or "\n" in target:
        return "/"
    return target


# --- lists ------------------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def home(request: Request, person: LoggedIn) -> Response:
    items = worklist.my_items(service_of(request), person.id, rule=_rule(request),
                              limit=HOME_LIMIT)
    return _page(request, "home.html", person, items=items, limit=HOME_LIMIT,
                 grants=items.units)


@router.get("/units/{unit_id}", response_class=HTMLResponse)
def unit_page(request: Request, unit_id: str, person: LoggedIn) -> Response:
    try:
        board = worklist.unit_board(service_of(request), unit_id, person.id, rule=_rule(request))
    except NotFound:
        board = None
    if board is None:
        return _not_found(request, person, "没有这个单位，或您无权查看它。")
    return _page(request, "unit.html", person, board=board)


# --- the item ---------------------------------------------------------------------------------

@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_view(request: Request, item_id: ItemId, person: LoggedIn, done: str = "") -> Response:
    if not _sees(service_of(request), person, item_id):
        return _not_found(request, person, "没有这个事项，或您无权查看它。")
    return _item(request, person, item_id, done=done)


def _item(request: Request, person: Person, item_id: int, *, status: int = 200,
          done: str = "", errors: dict[str, tuple[str, str | None]] | None = None,
          typed: dict[str, dict[str, str]] | None = None) -> Response:
    """The item page; `errors`: per trigger, a refusal's line and kind, said in Chinese."""
    service = service_of(request)
    page = item_page(service, item_id, person.id, _rule(request))
    labels = {t.trigger: t.label for t in page.spec.transitions if t.label}
    said = {trigger: refusal_words(line, reason, triggers=labels, people=page.names)
            for trigger, (line, reason) in (errors or {}).items()}
    context = item_context(page, service.files_dir, errors=said, typed=typed)
    done_label = worklist.trigger_label(page.spec, done) if done in page.spec.triggers else ""
    return _page(request, "item.html", person, status=status, page=context,
                 done=done_label, upload_mb=_settings(request).web.upload_mb)


async def _upload_fits(request: Request) -> None:
    """Refuse a post larger than MAX_FILES files at the limit before reading it: the form
    parser would otherwise spool all of it to disk first."""
    limit = _settings(request).web.upload_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FILES * limit + (1 << 20):
        raise HttpRefusal(413, f"一次最多上传 {MAX_FILES} 个文件，每个不超过 "
                               f"{limit // (1024 * 1024)} MB")


@router.post("/items/{item_id}/fire/{trigger}", response_class=HTMLResponse)
async def fire(request: Request, item_id: ItemId, trigger: str, person: LoggedIn,
               _size: Annotated[None, Depends(_upload_fits)],
               _csrf: Annotated[None, Depends(check_csrf)]) -> Response:
    service = service_of(request)
    if not await run_in_threadpool(_sees, service, person, item_id):
        return _not_found(request, person, "没有这个事项，或您无权查看它。")
    form = await request.form()
    typed = {k: str(v) for k, v in form.multi_items() if isinstance(v, str) and k != "csrf"}
    values = {k[2:]: v for k, v in typed.items() if k.startswith("f.") and v.strip()}
    comment = typed.get("comment", "").strip() or None
    try:
        with tempfile.TemporaryDirectory(prefix="rectify-upload-") as tmp:
            limit = _settings(request).web.upload_bytes
            files = await save_uploads(form.getlist("photos"), Path(tmp), limit)
            await run_in_threadpool(_advance, service, item_id, person, trigger, values,
                                    comment, files)
    except (UploadRefused, RectifyError) as refused:
        from .answers import one_line, status_of

        status = status_of(refused) if isinstance(refused, RectifyError) else 422
        errors = {trigger: (one_line(str(refused)), getattr(refused, "reason", None))}
        return await run_in_threadpool(
            lambda: _item(request, person, item_id, status=status, errors=errors,
                          typed={trigger: typed}))
    return RedirectResponse(f"/items/{item_id}?done={trigger}", 303)


def _advance(service: Service, item_id: int, person: Person, trigger: str,
             values: dict[str, str], comment: str | None, files: list[Path]) -> None:
    service.advance(item_id, person.id, trigger, values=values, comment=comment, attach=files,
                    via="web")


@router.get("/items/{item_id}/files/{sha256}")
def item_file(request: Request, item_id: ItemId, sha256: str, person: LoggedIn,
              thumb: bool = False) -> Response:
    """A stored evidence file of an item the person may see, found by its digest in the
    attachments table (never by a path from the request)."""
    service = service_of(request)
    found = None
    if _sees(service, person, item_id):
        with read(service.engine) as conn:
            found = rows.attachment(conn, item_id, sha256.lower())
    if found is None:
        return _not_found(request, person, "没有这个文件。")
    path = store_files.path_for(service.files_dir, found.sha256)
    if not path.is_file():
        return _not_found(request, person, "这个文件不在文件库中，请联系管理员。")
    if thumb:
        small = thumbnail(path)
        if small is not None:
            return thumbnail_response(small)
    return file_response(path, found.name)


# --- helpers ----------------------------------------------------------------------------------

def _sees(service: Service, person: Person, item_id: int) -> bool:
    try:
        access.check_item(service, person.id, item_id)
    except NotFound:
        return False
    return True


def _not_found(request: Request, person: Person, message: str) -> Response:
    return _page(request, "error.html", person, status=404, title="未找到", message=message)


def _page(request: Request, name: str, person: Person | None, *, status: int = 200,
          **context: Any) -> Response:
    links = []
    if person is not None:
        grants = context.pop("grants", None)
        if grants is None:
            grants = _grants(service_of(request), person.id)
        links = board_links(grants)
    return templates.TemplateResponse(
        request, name, {"person": person, "csrf": csrf_token(request), "board_links": links,
                        "lights": light_styles(_settings(request).lights.colors), **context},
        status_code=status,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                 "X-Content-Type-Options": "nosniff"})


def _grants(service: Service, person_id: str) -> list[rows.Grant]:
    with read(service.engine) as conn:
        return rows.grants(conn, person_id)


def _settings(request: Request) -> Any:
    return request.app.state.settings


def _rule(request: Request) -> LightRule:
    return LightRule(_settings(request).lights.yellow_workdays)
