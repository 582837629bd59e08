"""HTTP POST with urllib, and the mapping of every HTTP outcome to a delivery failure kind.

4xx means our request is wrong and will stay wrong (permanent), except 429 which asks us to
slow down; 5xx, timeouts and refused connections are the remote side's trouble (transient).
URLs of robots carry their access key in the query string, so messages show only the host.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from ..engine.core.i18n import _
from .delivery import PermanentFailure, RateLimited, TransientFailure

_MAX_RESPONSE = 64 * 1024  # robots answer a few bytes of JSON; never read an unbounded body
DEFAULT_RETRY_AFTER = 60.0


def encode_json(payload: Any) -> bytes:
    """UTF-8 JSON, Chinese kept as is (robots count content bytes, escapes would triple them)."""
    return json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")


def check_url(url: str) -> None:
    """Only http(s): urllib would also open file:// and ftp:// URLs, which no channel wants."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(_("url must start with http:// or https://, got {url!r}").format(
            url=redact(url)))


def redact(url: str) -> str:
    """The URL without its query (where robots keep `key=` / `access_token=`)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib turns a redirected POST into a GET without body; we would rather fail loudly."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(
    url: str, body: bytes, *, timeout: float, headers: Mapping[str, str] | None = None
) -> bytes:
    """POST `body` as JSON; return the response body of a 2xx answer, raise a failure otherwise."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    where = redact(url)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.read(_MAX_RESPONSE)
    except urllib.error.HTTPError as exc:
        raise _status_failure(exc.code, exc.headers.get("Retry-After"), where) from exc
    except urllib.error.URLError as exc:
        raise TransientFailure(f"POST {where}: {exc.reason}") from exc
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise TransientFailure(f"POST {where}: {type(exc).__name__}: {exc}") from exc


def _status_failure(
    status: int, retry_after: str | None, where: str
) -> PermanentFailure | TransientFailure:
    message = f"POST {where}: HTTP {status}"
    if status == 429:
        return RateLimited(_retry_after(retry_after), message)
    if 500 <= status < 600:
        return TransientFailure(message)
    return PermanentFailure(message)  # 4xx, and 3xx: the configured URL is not the endpoint


def _retry_after(raw: str | None) -> float:
    try:
        return max(1.0, float(raw or ""))
    except ValueError:
        return DEFAULT_RETRY_AFTER  # missing, or an HTTP date we do not bother parsing


def json_answer(body: bytes, where: str) -> Mapping[str, Any]:
    """The JSON object a robot answers with; garbage (a proxy page) counts as transient."""
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TransientFailure(_("POST {where}: answer is not JSON: {body!r}").format(
            where=where, body=body[:200])) from exc
    if not isinstance(answer, dict):
        raise TransientFailure(_("POST {where}: answer is not a JSON object: {body!r}").format(
            where=where, body=body[:200]))
    return answer
