"""The JSON API over a real `rectify serve` on loopback (contract section 7), on SQLite and
PostgreSQL: authentication, visibility, refusals with the CLI's words and statuses, uploads,
throttled logins, revoked tokens and `via: api` on history rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rectify.engine.app import identity
from rectify.engine.core.errors import RectifyError
from rectify.engine.store import items as store
from rectify.engine.store.db import read

from .webserver import PASSWORD, Server, new_item, running


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           pg_ok: bool) -> Iterator[Server]:
    if request.param == "postgres" and not pg_ok:
        pytest.skip("PostgreSQL not reachable")
    with running(request.param, tmp_path_factory.mktemp(f"web-{request.param}")) as srv:
        yield srv


def history(server: Server, item: int) -> list[dict[str, Any]]:
    with read(server.service.engine) as conn:
        return store.history(conn, item)


def cli_words(server: Server, item: int, person: str, trigger: str, **kw: Any) -> str:
    """What the CLI would print after `rectify: ` for the same refused advance."""
    with pytest.raises(RectifyError) as refused:
        server.service.advance(item, person, trigger, **kw)
    return str(refused.value)


def test_every_api_route_needs_credentials(server: Server) -> None:
    """Each route in /openapi.json but the login answers 401 with a one-line error, without
    a cookie or token and with a made-up token."""
    spec = httpx.get(server.url + "/openapi.json").json()
    item = server.items["a1"]
    calls = [(method.upper(), path.replace("{item_id}", str(item)))
             for path, ops in spec["paths"].items() for method in ops
             if path != "/api/login"]
    assert {c[1] for c in calls} >= {"/api/items", f"/api/items/{item}",
                                     f"/api/items/{item}/advance"}
    for headers in ({}, {"Authorization": "Bearer rt_madeup"}, {"Authorization": "Basic x"}):
        for method, path in calls:
            answer = httpx.request(method, server.url + path, headers=headers,
                                   json={"trigger": "submit"})
            assert answer.status_code == 401, (method, path, headers)
            assert "\n" not in answer.json()["error"]


def test_another_village_is_not_found(server: Server) -> None:
    """周九 (rectifier of 东关村) sees his own village's item but gets 404 — the same answer
    as for an item that does not exist — for 张庄村's, and it is not in his list."""
    a1, b1 = server.items["a1"], server.items["b1"]
    with server.client("zhou") as zhou:
        assert zhou.get(f"/api/items/{b1}").status_code == 200
        hidden = zhou.get(f"/api/items/{a1}")
        missing = zhou.get("/api/items/999999")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == {"error": f"item {a1} not found"}
        refused = zhou.post(f"/api/items/{a1}/advance", json={"trigger": "submit"})
        assert refused.status_code == 404
        listed = {row["id"] for row in zhou.get("/api/items").json()}
    assert b1 in listed and a1 not in listed
    with server.client("wang") as wang:  # the town-a leader sees the villages below
        listed = {row["id"] for row in wang.get("/api/items").json()}
    assert a1 in listed and b1 not in listed


def test_list_and_show_have_the_cli_shapes(server: Server) -> None:
    """`GET /api/items` rows and `GET /api/items/{id}` carry the `item list/show --json` keys,
    and the filters narrow the list, by id or by name; a typo is 404 with the nearest name."""
    a1 = server.items["a1"]
    with server.client("wang") as wang:
        rows = wang.get("/api/items", params={"state": "rectifying", "unit": "village-a1"})
        detail = wang.get(f"/api/items/{a1}").json()
        none = wang.get("/api/items", params={"state": "closed"}).json()
        bad_unit = wang.get("/api/items", params={"unit": "nowhere"})
        by_name = wang.get("/api/items", params={"state": "整改中", "unit": "张庄村"})
        typo = wang.get("/api/items", params={"state": "整改终"})
    assert rows.status_code == 200 and none == []
    assert {"id", "workflow", "state", "unit", "assignee", "due_at", "light"} <= set(rows.json()[0])
    assert all(r["unit"] == "village-a1" for r in rows.json())
    assert {"id", "workflow", "version", "state", "state_label", "unit", "assignee", "due_at",
            "light", "fields", "history", "escalations", "triggers"} <= set(detail)
    assert detail["id"] == a1 and detail["state"] == "rectifying"
    assert bad_unit.status_code == 404 and "nowhere" in bad_unit.json()["error"]
    assert by_name.json() == rows.json()  # names, as the CLI takes them
    assert typo.status_code == 404 and "did you mean '整改中'" in typo.json()["error"]


def test_openapi_describes_each_item_answer_by_its_json_shape(server: Server) -> None:
    """/openapi.json describes the 200 answers of list, show and advance as the contract's
    item shapes (before: `{"type": "string"}`), and real answers fit those schemas with every
    key they carry declared, so a client generated from the schema reads them whole."""
    from jsonschema import Draft202012Validator

    spec = httpx.get(server.url + "/openapi.json").json()

    def schema(path: str, method: str) -> dict[str, Any]:
        answer = spec["paths"][path][method]["responses"]["200"]
        return answer["content"]["application/json"]["schema"]  # type: ignore[no-any-return]

    shown = {"$ref": "#/components/schemas/ItemShown"}
    assert schema("/api/items/{item_id}/advance", "post") == shown
    assert schema("/api/items/{item_id}", "get") == shown
    assert schema("/api/items", "get")["items"] == {"$ref": "#/components/schemas/ItemListed"}
    item = new_item(server.service, "village-a1", "li", "zhang", "违规搭建")
    with server.client("wang") as wang:
        listed = wang.get("/api/items", params={"unit": "village-a1"}).json()
        before = wang.get(f"/api/items/{item}").json()
        after = wang.post(f"/api/items/{item}/advance",
                          json={"trigger": "hold_accountable", "comment": "逾期"})
    assert after.status_code == 200, after.text
    components = spec["components"]["schemas"]
    for answer, described, name in ((listed, schema("/api/items", "get"), "ItemListed"),
                                    (before, shown, "ItemShown"), (after.json(), shown,
                                                                   "ItemShown")):
        Draft202012Validator({**described, "components": spec["components"]}).validate(answer)
        for one in answer if isinstance(answer, list) else [answer]:
            assert set(one) <= set(components[name]["properties"]), name
    assert set(after.json()["history"][-1]) <= set(components["HistoryEntry"]["properties"])


def test_refusals_answer_the_cli_words_with_their_status(server: Server) -> None:
    """A role refusal is 403, a trigger not possible in the state 409, a missing field or a
    bad value (a choice not in the list: it was 403) 422; each body is the one line the CLI
    prints for the same advance."""
    item = new_item(server.service, "village-a1", "li", "zhang", "占道经营")
    cases = [("li", {"trigger": "submit"}, 403),
             ("zhang", {"trigger": "accept"}, 409),
             ("zhang", {"trigger": "submit", "fields": {}}, 422),
             ("zhang", {"trigger": "submit", "fields": {"category": "瞎填"}}, 422)]
    for person, body, status in cases:
        with server.client(person) as client:
            answer = client.post(f"/api/items/{item}/advance", json=body)
        assert answer.status_code == status, (person, body, answer.text)
        assert answer.json() == {"error": cli_words(server, item, person, body["trigger"],
                                                    values=body.get("fields"))}
    with server.client("zhang") as zhang:
        bad = zhang.post(f"/api/items/{item}/advance", content=b"{not json",
                         headers={"content-type": "application/json"})
    assert bad.status_code == 422 and "\n" not in bad.json()["error"]


def test_multipart_advance_with_evidence(server: Server) -> None:
    """A file named `../../x` holding a script is stored only under its SHA-256 in the
    evidence store, recorded as `x`; the answer is the item after; history says via api."""
    item = new_item(server.service, "village-a1", "li", "zhang", "河道垃圾")
    script = b"<script>alert(1)</script>"
    with server.client("zhang") as zhang:
        answer = zhang.post(f"/api/items/{item}/advance",
                            data={"trigger": "submit", "comment": "已清理",
                                  "fields": json.dumps({"measures": "已清理"})},
                            files=[("attach", ("../../x", script, "text/html"))])
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert after["state"] == "accepting"
    [record] = after["fields"]["evidence"]
    assert record["name"] == "x" and record["size"] == len(script)
    stored = server.files / record["sha256"][:2] / record["sha256"]
    assert stored.read_bytes() == script
    outside = [p for p in (server.files.parent / "x", server.files.parent.parent / "x",
                           Path.cwd() / "x") if p.exists()]
    assert outside == []
    last = history(server, item)[-1]
    assert (last["trigger"], last["actor"], last["via"]) == ("submit", "zhang", "api")


def test_multipart_fields_that_are_not_json_say_where_in_plain_words(server: Server) -> None:
    """A multipart `fields` that is not JSON is 422 with where it breaks, in the API's own
    words — before: "fields: not a JSON object (Expecting property name enclosed in double
    quotes: line 1 column 2 (char 1))", Python's json wording."""
    item = new_item(server.service, "village-a1", "li", "zhang", "坏的字段")
    with server.client("zhang") as zhang:
        answer = zhang.post(f"/api/items/{item}/advance",
                            data={"trigger": "submit", "fields": "{measures: 已清理}"},
                            files=[("attach", ("a.txt", b"x", "text/plain"))])
    assert answer.status_code == 422
    assert answer.json() == {"error": "fields: not valid JSON (line 1, column 2): a JSON object "
                                      "such as {\"KEY\": \"VALUE\"}"}


def test_upload_size_is_limited(server: Server) -> None:
    """A file over the limit (20 MB by default) is refused with 413 and nothing changes."""
    item = new_item(server.service, "village-a1", "li", "zhang", "超大附件")
    big = b"\0" * (20 * 1024 * 1024 + 1)
    with server.client("zhang") as zhang:
        answer = zhang.post(f"/api/items/{item}/advance",
                            data={"trigger": "submit",
                                  "fields": json.dumps({"measures": "已清理"})},
                            files=[("attach", ("big.bin", big, "application/octet-stream"))])
        state = zhang.get(f"/api/items/{item}").json()["state"]
    assert answer.status_code == 413 and "20 MB" in answer.json()["error"]
    assert state == "rectifying"


def test_revoked_token_is_refused_at_once(server: Server) -> None:
    """A token works until `token revoke`; the very next request is 401."""
    name, token = identity.create_token(server.service, "sun", "sun-script")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers) as client:
        assert client.get("/api/items").status_code == 200
        identity.revoke_token(server.service, name)
        assert client.get("/api/items").status_code == 401


def test_cookie_login_and_csrf(server: Server) -> None:
    """`POST /api/login` sets an HttpOnly SameSite=Lax session cookie; with it the API
    answers, and a post made with the cookie needs the session's CSRF token; the refusal tells
    a script how to send it (before, it said to reload a page the script never had)."""
    item = new_item(server.service, "village-a1", "li", "zhang", "路灯损坏")
    with httpx.Client(base_url=server.url) as browser:
        login = browser.post("/api/login", json={"person": "zhang", "password": PASSWORD})
        assert login.status_code == 200, login.text
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert browser.get(f"/api/items/{item}").status_code == 200
        body = {"trigger": "submit", "fields": {"measures": "已修复"}}
        forged = browser.post(f"/api/items/{item}/advance", json=body)
        assert forged.status_code == 403
        assert "X-CSRF-Token" in forged.json()["error"], forged.text
        assert "reload" not in forged.json()["error"]
        done = browser.post(f"/api/items/{item}/advance", json=body,
                            headers={"X-CSRF-Token": login.json()["csrf"]})
    # The 403 was the CSRF check, not the workflow: the same post with the token got to it.
    assert done.status_code == 422 and "佐证材料" in done.json()["error"]


def test_wrong_passwords_slow_down_and_never_log_in(server: Server) -> None:
    """20 wrong passwords in a row for 王五: the first few are 401, then every attempt is
    throttled (429 with Retry-After, growing), and the right password does not get in either
    while the wait lasts; an unknown person gets the same 401 words."""
    statuses, waits = [], []
    with httpx.Client(base_url=server.url) as client:
        for n in range(20):
            answer = client.post("/api/login", json={"person": "wang", "password": f"x{n}"})
            statuses.append(answer.status_code)
            waits.append(int(answer.headers.get("retry-after", 0)))
            assert "set-cookie" not in answer.headers
        right = client.post("/api/login", json={"person": "wang", "password": PASSWORD})
        nobody = client.post("/api/login", json={"person": "nobody", "password": "x"})
    free = identity.PERSON_FREE
    assert statuses[:free] == [401] * free and set(statuses[free:]) == {429}
    assert waits[free] >= 1
    assert right.status_code == 429 and "set-cookie" not in right.headers
    assert nobody.status_code == 401 and nobody.json() == {"error": identity.WRONG}


def test_a_person_who_left_cannot_log_in(server: Server) -> None:
    """Someone dropped from the org file: the right password answers like a wrong one, and
    their token stops working."""
    from rectify.engine.store.db import write
    from rectify.engine.store.models import PEOPLE

    with server.client("li") as li:
        assert li.get("/api/items").status_code == 200
    with write(server.service.engine) as conn:
        conn.execute(PEOPLE.update().where(PEOPLE.c.id == "li").values(active=False))
    try:
        with httpx.Client(base_url=server.url) as client:
            answer = client.post("/api/login", json={"person": "li", "password": PASSWORD})
        with server.client("li") as li:
            gone = li.get("/api/items")
    finally:
        with write(server.service.engine) as conn:
            conn.execute(PEOPLE.update().where(PEOPLE.c.id == "li").values(active=True))
    assert answer.status_code == 401 and answer.json() == {"error": identity.WRONG}
    assert gone.status_code == 401


def test_nul_characters_are_refused_in_one_line(server: Server) -> None:
    """A NUL in a filter, a trigger, a field value, a form's `fields` or a login name is a 422
    with one line (PostgreSQL cannot store NUL: unchecked, each of these was a 500)."""
    a1 = server.items["a1"]
    with server.client("zhang") as zhang:
        answers = [
            zhang.get("/api/items", params={"state": "a\0b"}),
            zhang.get("/api/items", params={"unit": "\0"}),
            zhang.post(f"/api/items/{a1}/advance", json={"trigger": "sub\0mit"}),
            zhang.post(f"/api/items/{a1}/advance",
                       json={"trigger": "submit", "fields": {"measures": ["a\0"]}}),
            zhang.post(f"/api/items/{a1}/advance",
                       data={"trigger": "submit", "fields": '{"measures": "a\\u0000"}'}),
            zhang.post("/api/login", json={"person": "\0", "password": "x"}),
        ]
        still = zhang.get(f"/api/items/{a1}")
    assert [a.status_code for a in answers] == [422] * len(answers), [a.text for a in answers]
    assert all("NUL" in a.json()["error"] for a in answers)
    assert still.status_code == 200 and still.json()["state"] == "rectifying"


def test_a_second_server_shares_sessions_through_the_database(
        server: Server, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A session started on one `rectify serve` process works on another over the same
    database (nothing is kept in a process), and a logout on either ends it on both."""
    from .webserver import serve

    folder = tmp_path_factory.mktemp("second")
    with serve(server.db, server.files, folder / "serve.log") as second, \
            httpx.Client(base_url=server.url) as first:
        login = first.post("/api/login", json={"person": "zhou", "password": PASSWORD})
        cookie = {"rectify_session": login.cookies["rectify_session"]}
        with httpx.Client(base_url=second, cookies=cookie) as other:
            assert other.get("/api/items").status_code == 200
            first.post("/logout", headers={"X-CSRF-Token": login.json()["csrf"]})
            assert other.get("/api/items").status_code == 401
