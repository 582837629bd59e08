"""The JSON API (contract section 7): log in, list, show, advance.

No route holds a rule: each calls the use case the CLI calls (`views.item_rows`,
`views.item_detail`, `Service.advance`) as the authenticated person, with `via="api"`.
Visibility (engine/app/access.py) answers 404 for items the person may not see.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path as FsPath
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.datastructures import UploadFile

from ..engine.app import access
from ..engine.app.names import Names
from ..engine.app.service import Service
from ..engine.app.views import SCREEN_ONLY, item_detail, item_rows
from ..engine.core.escalation import LightRule
from ..engine.core.i18n import _
from ..engine.store.evidence import safe_name
from .answers import validation_line
from .auth import HttpRefusal, Person, api_person, check_csrf, login, login_refusal, service_of
from .schemas import ItemListed, ItemShown

router = APIRouter(prefix="/api", tags=["api"])

ItemId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the item's id")]
# No NUL anywhere: PostgreSQL cannot store it in text, and no one types it.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, Field(max_length=10_000, pattern=NO_NUL)]
Name = Annotated[str, Field(max_length=64, pattern=NO_NUL)]
QueryName = Annotated[str | None, Query(max_length=64, pattern=NO_NUL)]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}
    for code, text in [(401, "not authenticated"), (403, "not allowed to you"),
                       (404, "no such item, or one you may not see"),
                       (409, "not possible in this state, or the item changed underneath"),
                       (413, "a file is larger than allowed"),
                       (422, "a required field or comment missing, a guard false, a bad value")]
}


class Json(JSONResponse):
    """JSON written by orjson straight from the use case's dicts: FastAPI's own encoder walks
    every value of an item's history first, which cost more than reading it. (A JSONResponse,
    so /openapi.json describes the answer by the route's `response_model`.)"""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class LoginBody(BaseModel):
    person: Name
    password: Annotated[str, Field(max_length=1024)]


class LoggedIn(BaseModel):
    person: str
    name: str
    csrf: str = Field(description="send as header X-CSRF-Token with posts made with the cookie")


class AdvanceBody(BaseModel):
    trigger: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
    comment: Text | None = None
    fields: dict[Name, Any] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _no_nul(cls, fields: dict[str, Any]) -> dict[str, Any]:
        if _has_nul(fields):
            raise ValueError(_("field values cannot contain NUL characters"))
        return fields


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@router.post("/login", response_model=LoggedIn, responses={401: ERRORS[401]})
async def api_login(body: LoginBody, request: Request, response: Response) -> LoggedIn:
    """Log in with a password: the answer sets the session cookie."""
    done = await login(request, body.person, body.password, response)
    if not isinstance(done, Response):
        raise login_refusal(done)
    session = request.state.session
    return LoggedIn(person=session.person.id, name=session.person.name, csrf=session.csrf)


# `response_model` describes the answer in /openapi.json only: a route that returns a Response
# (here `Json`, the use case's dict as it is) is neither validated nor converted by FastAPI.
@router.get("/items", response_class=Json, response_model=list[ItemListed],
            responses={401: ERRORS[401], 404: ERRORS[404]})
def list_items(
    request: Request, person: Annotated[Person, Depends(api_person)],
    state: QueryName = None,
    unit: QueryName = None,
    assignee: QueryName = None,
    overdue: bool = False,
    workflow: QueryName = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """The items you may see, as `item list --json` (at most `limit`, in id order). The
    filters take ids or names (`unit=张庄村`, `state=整改中`), as the CLI's do; one that names
    nothing is 404 with the nearest names, never an empty list."""
    service = service_of(request)
    within = access.roots(service, person.id)
    filters = replace(Names(service).item_filter(
        state=state, unit=unit, assignee=assignee, workflow=workflow, overdue=overdue),
        within=within)
    rows = item_rows(service, filters, batch=min(limit, 2000), rule=_rule(request))
    return Json([row for _, row in zip(range(limit), rows, strict=False)])


@router.get("/items/{item_id}", response_class=Json, response_model=ItemShown,
            responses={401: ERRORS[401], 404: ERRORS[404]})
def show_item(item_id: ItemId, request: Request,
              person: Annotated[Person, Depends(api_person)]) -> Response:
    """One item, as `item show --json`: fields, history, escalations, the triggers you may
    fire now."""
    service = service_of(request)
    # Visibility is checked in the same read as the item (no role there: not found).
    return Json(_detail(service, item_id, person, _rule(request)))


@router.post("/items/{item_id}/advance", response_class=Json, response_model=ItemShown,
             responses={200: {"description": "the item after, as `item show --json`"},
                        **{code: ERRORS[code] for code in (401, 403, 404, 409, 413, 422)}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": AdvanceBody.model_json_schema()},
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["trigger"], "properties": {
                         "trigger": {"type": "string", "minLength": 1, "maxLength": 64},
                         "comment": {"type": "string", "maxLength": 10_000},
                         "fields": {"type": "string",
                                    "description": "a JSON object of field values"},
                         "attach": {"type": "array",
                                    "items": {"type": "string", "format": "binary"}}}}}}}})
async def advance_item(item_id: ItemId, request: Request,
                       person: Annotated[Person, Depends(api_person)],
                       _csrf: Annotated[None, Depends(check_csrf)]) -> Response:
    """Fire a trigger (JSON, or multipart with evidence files in `attach`); answers the item
    after. A refusal answers with the CLI's one line."""
    service, rule = service_of(request), _rule(request)
    if not _is_multipart(request):
        body = _json_body(await request.body())
        return Json(await _run(_advance, service, item_id, person, body, [], rule))
    await _run(access.check_item, service, person.id, item_id)  # before reading any file
    # A folder per request only when files may come: making and removing one cost more than
    # the whole advance.
    with tempfile.TemporaryDirectory(prefix="rectify-upload-") as tmp:
        body, files = await _form_body(request, FsPath(tmp))
        return Json(await _run(_advance, service, item_id, person, body, files, rule))


def _advance(service: Service, item_id: int, person: Person, body: AdvanceBody,
             files: list[FsPath], rule: LightRule) -> dict[str, Any]:
    """The advance (which tells an item the person may not see as not found, from its own
    read) and the item after, in one trip to a worker thread."""
    service.advance(item_id, person.id, body.trigger, values=body.fields,
                    comment=body.comment or None, attach=files, via="api", hidden=True)
    return _detail(service, item_id, person, rule)


def _is_multipart(request: Request) -> bool:
    """A form (multipart, or urlencoded without files) rather than a JSON body."""
    return request.headers.get("content-type", "").startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded"))


def _json_body(raw: bytes) -> AdvanceBody:
    try:
        return AdvanceBody.model_validate_json(raw)
    except ValueError as exc:
        raise HttpRefusal(422, _first_problem(exc)) from None


async def _form_body(request: Request, tmp: FsPath) -> tuple[AdvanceBody, list[FsPath]]:
    """The form's trigger, comment and fields, and its files saved under `tmp` (each under
    its own folder, named by the last component of its given name only)."""
    form = await request.form()
    try:
        fields = json.loads(str(form.get("fields") or "{}"))
        body = AdvanceBody.model_validate({"trigger": form.get("trigger"),
                                           "comment": form.get("comment"), "fields": fields})
    except ValueError as exc:
        raise HttpRefusal(422, _first_problem(exc)) from None
    limit = request.app.state.settings.web.upload_bytes
    saved = []
    for n, upload in enumerate(form.getlist("attach")):
        if isinstance(upload, UploadFile):
            saved.append(await _save(upload, tmp / str(n), limit))
    return body, saved


async def _save(upload: UploadFile, folder: FsPath, limit: int) -> FsPath:
    """Copy one upload to `folder/NAME`, refusing it past `limit` bytes."""
    folder.mkdir()
    target = folder / safe_name(upload.filename or "file")
    size = 0
    with target.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise HttpRefusal(413, _("{name} is larger than {limit} MB").format(
                    name=safe_name(upload.filename or "file"), limit=limit // (1024 * 1024)))
            out.write(chunk)
    return target


def _first_problem(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return validation_line(errors())
    if isinstance(exc, json.JSONDecodeError):  # where, without Python's wording of what
        return _("fields: not valid JSON (line {line}, column {column}): a JSON object such "
                 "as {example}").format(line=exc.lineno, column=exc.colno,
                                        example='{"KEY": "VALUE"}')
    return _("fields: not a JSON object ({problem})").format(problem=exc)


def _detail(service: Service, item_id: int, person: Person, rule: LightRule) -> dict[str, Any]:
    detail = item_detail(service, item_id, person.id, rule, hidden=True)
    for key in SCREEN_ONLY:
        detail.pop(key, None)
    return detail


def _rule(request: Request) -> LightRule:
    return LightRule(request.app.state.settings.lights.yellow_workdays)


async def _run(fn: Any, *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
