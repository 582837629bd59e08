"""The staff pages over HTTP against a real uvicorn on loopback, on SQLite and PostgreSQL:
logins, CSRF, visibility (404, never 403), a script tag shown as text on every page, uploads
checked by content and size, evidence served safely, and `via: web` on every web change.
Notices carry the item's page address when `[web] base_url` is set, and nothing secret."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.store import items as store
from rectify.engine.store.db import open_engine, read
from rectify.engine.store.outbox import OUTBOX
from rectify.notifications.notices import Notices
from rectify.notifications.render import render
from sqlalchemy import select

from .cli_inprocess import prepared_service
from .conftest import START
from .pages_support import PASSWORD, SCRIPT, County, jpeg, seed_county, serving
from .webserver import database

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@dataclass
class Site:
    base: str
    county: County

    def login(self, person: str) -> httpx.Client:
        client = httpx.Client(base_url=self.base, timeout=30)
        answer = client.post("/login", data={"person": person, "password": PASSWORD,
                                             "next": "/"})
        assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
        return client

    def history(self, item: int) -> list[dict[str, Any]]:
        engine = open_engine(self.county.url)
        try:
            with read(engine) as conn:
                return store.history(conn, item)
        finally:
            engine.dispose()


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         pg_ok: bool) -> Iterator[Site]:
    if request.param == "postgres" and not pg_ok:
        pytest.skip("PostgreSQL not reachable")
    root = tmp_path_factory.mktemp(f"pages-{request.param}")
    (root / "rectify.toml").write_text(
        '[web]\nupload_mb = 1\nbase_url = "https://rectify.example"\n'
        '[lights]\ncolors = {red = "#5b2a86", green = "#cdeccd"}\n', encoding="utf-8")
    with database(request.param, root) as url:
        county = seed_county(url, root)
        with serving(url, county.files, config=root / "rectify.toml") as base:
            yield Site(base, county)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no csrf field in the page"
    return found.group(1)


def test_pages_send_strangers_to_the_login_page(site: Site) -> None:
    """Without a session every page, and an evidence file, redirects to /login?next=…; a wrong
    password is refused with one line (401), the typed name kept and shown as text; after a
    login `next` leads back to the page asked for, and only ever inside the site; a login
    posted from another site (Origin) is refused."""
    c = site.county
    for path in ("/", "/units/town-a", f"/items/{c.red}", f"/items/{c.accepting}/files/" +
                 "0" * 64):
        answer = httpx.get(site.base + path)
        assert answer.status_code == 303 and answer.headers["location"].startswith(
            "/login?next=/"), path
    refused = httpx.post(site.base + "/login", data={"person": SCRIPT, "password": "nope"})
    assert refused.status_code == 401
    assert SCRIPT not in refused.text and ESCAPED in refused.text
    assert 'class="refusal" role="alert">用户名或密码不正确<' in refused.text
    away = httpx.post(site.base + "/login", data={"person": "zhang", "password": PASSWORD,
                                                  "next": "//evil.example/x"})
    assert away.status_code == 303 and away.headers["location"] == "/"
    forged = httpx.post(site.base + "/login", data={"person": "zhang", "password": PASSWORD},
                        headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and "rectify_session" not in forged.cookies
    back = httpx.post(site.base + "/login", data={"person": "zhang", "password": PASSWORD,
                                                  "next": f"/items/{c.red}"},
                      headers={"Origin": site.base})
    assert back.headers["location"] == f"/items/{c.red}"  # a notice's link, after the login


def test_a_form_post_without_its_csrf_token_is_refused(site: Site) -> None:
    """A logged-in post without the token, or with another one, is 403 and changes nothing;
    logging out needs the token too."""
    client = site.login("zhang")
    item = site.county.yellow
    before = len(site.history(item))
    for data in ({"f.measures": "已改"}, {"f.measures": "已改", "csrf": "forged"}):
        answer = client.post(f"/items/{item}/fire/submit", data=data,
                             files={"photos": ("a.jpg", jpeg(), "image/jpeg")})
        assert answer.status_code == 403, answer.text
    assert len(site.history(item)) == before
    assert client.post("/logout").status_code == 403
    assert client.get("/").status_code == 200  # still logged in


def test_a_web_change_goes_through_the_use_case_and_says_via_web(site: Site) -> None:
    """A form post with its token fires the transition through Service.advance: the history
    row names the person and `via=web`, the photo is an attachment of the item, served only
    from the content-addressed store with a safe type and Content-Disposition, whatever name
    it was uploaded under."""
    client = site.login("zhang")
    item = site.county.green
    page = client.get(f"/items/{item}")
    answer = client.post(f"/items/{item}/fire/submit",
                         data={"csrf": csrf_of(page.text), "f.measures": "已补充台账",
                               "comment": "请验收"},
                         files={"photos": ("../../x.jpg", jpeg("2025:10:20 09:00:00"),
                                           "text/html")})
    assert answer.status_code == 303, answer.text
    last = site.history(item)[-1]
    assert (last["trigger"], last["actor"], last["via"], last["comment"]) == \
        ("submit", "zhang", "web", "请验收")
    record = last["data"]["attachments"][0]
    assert record["name"] == "x.jpg"
    stored = site.county.files / record["sha256"][:2] / record["sha256"]
    assert stored.is_file() and not (site.county.files.parent / "x.jpg").exists()
    served = client.get(f"/items/{item}/files/{record['sha256']}")
    assert served.status_code == 200 and served.content == stored.read_bytes()
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith('inline; filename="x.jpg"')
    assert "sandbox" in served.headers["content-security-policy"]
    thumb = client.get(f"/items/{item}/files/{record['sha256']}?thumb=1")
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"


def test_uploads_are_checked_by_content_and_size(site: Site) -> None:
    """A script named .jpg and a photo over `[web] upload_mb` are refused with one line above
    the form, which keeps what was typed; nothing is fired."""
    client = site.login("zhang")
    item = site.county.yellow
    before = len(site.history(item))
    big = jpeg() + b"\0" * (1024 * 1024)
    for name, content, words in (("photo.jpg", b"<script>alert(1)</script>", "不是"),
                                 ("big.jpg", big, "超过 1 MB")):
        page = client.get(f"/items/{item}")
        answer = client.post(f"/items/{item}/fire/submit",
                             data={"csrf": csrf_of(page.text), "f.measures": "已拍照<b>"},
                             files={"photos": (name, content, "image/jpeg")})
        assert answer.status_code == 422
        line = re.search(r'class="refusal" role="alert">([^<]*)<', answer.text)
        assert line and words in line.group(1), answer.text
        assert "已拍照&lt;b&gt;</textarea>" in answer.text
    assert len(site.history(item)) == before


def test_people_see_only_their_units_and_never_learn_what_exists(site: Site) -> None:
    """A township leader gets 404 for another township's item, board and files, exactly as for
    an item that does not exist; a village cadre cannot open the township's board."""
    c = site.county
    wang = site.login("wang")
    missing = wang.get("/items/99999")
    assert missing.status_code == 404
    assert wang.get("/items/99999999999").status_code in (404, 422)  # never a 500
    for path in (f"/items/{c.other_town}", "/units/town-b", "/units/county", "/units/nowhere",
                 f"/items/{c.other_town}/files/{'a' * 64}", f"/items/{c.accepting}/files/x"):
        answer = wang.get(path)
        assert answer.status_code == 404, path
    assert "东关村" not in wang.get(f"/items/{c.other_town}").text
    assert site.login("zhang").get("/units/town-a").status_code == 404


def test_a_script_in_a_field_is_text_on_every_page(site: Site) -> None:
    """`<script>alert(1)</script>` as a description is escaped on the home list, the boards
    and the item page, never written raw."""
    c = site.county
    sun = site.login("sun")
    wang = site.login("wang")
    pages = [sun.get("/"), wang.get("/units/village-a2"), wang.get(f"/items/{c.script}"),
             wang.get("/units/town-a"), sun.get(f"/items/{c.script}")]
    for answer in pages:
        assert answer.status_code == 200
        assert SCRIPT not in answer.text, answer.url
    assert all(ESCAPED in a.text for a in pages[:3] + pages[4:])


def test_notices_link_to_the_item_page_when_base_url_is_set(db_url: str, tmp_path: Path) -> None:
    """With a base URL, an assignment notice's context carries `item_url` and both rendered
    forms print it; without one, neither prints a link. No session or token is in a notice."""
    for base in ("https://rectify.example/", None):
        url = db_url if base else f"sqlite:///{tmp_path / 'plain.db'}"
        service = prepared_service(url, FixedClock(START), tmp_path / "files")
        service = Service(service.engine, service.clock, files_dir=tmp_path / "files",
                          notices=Notices({"log": None}, base_url=base))
        item = service.new_item("li", "rectification", "village-a1", assignee="zhang",
                                values={"description": "路灯不亮"})
        service.advance(item, "li", "assign")
        with read(service.engine) as conn:
            data = conn.execute(select(OUTBOX.c.data)
                                .where(OUTBOX.c.item_id == item)).scalar_one()
        service.engine.dispose()
        _subject, text, markdown = render("assignment", data)
        link = f"https://rectify.example/items/{item}"
        assert (data["item_url"] == link) == bool(base)
        assert (link in text and link in (markdown or "")) == bool(base)
        assert "rectify_session" not in str(data) and "rt_" not in str(data)


def test_photo_facts_and_thumbnails_from_the_bytes(tmp_path: Path) -> None:
    """EXIF capture time and place are read from a photo, absent ones say nothing; a thumbnail
    is a small upright JPEG; an image whose header claims a huge size gets no thumbnail (its
    pixels are never decoded); the type comes from the bytes, not the name."""
    from PIL import Image
    from rectify.web.evidence import photo_facts, sniff, thumbnail

    photo = tmp_path / "a"
    photo.write_bytes(jpeg("2025:10:01 08:30:00", size=(1200, 900)))
    facts = photo_facts(photo)
    assert facts.taken_at == datetime(2025, 10, 1, 8, 30)
    assert facts.place is not None and round(facts.place[0], 2) == 36.6
    plain = tmp_path / "b"
    plain.write_bytes(jpeg())
    assert photo_facts(plain).taken_at is None and photo_facts(plain).place is None
    small = thumbnail(photo)
    assert small is not None and max(Image.open(io.BytesIO(small)).size) <= 320
    huge = tmp_path / "c"
    Image.new("1", (8_000, 8_000)).save(huge, "PNG")  # 64 MP, a few KB on disk
    assert thumbnail(huge) is None
    assert sniff(b"<script>") is None and sniff(photo.read_bytes()[:16]) == "image/jpeg"


def test_a_step_someone_else_took_first_is_refused_in_words(site: Site) -> None:
    """Two sessions open the same submitted item; the first accepts it; the second's stale
    form for the same step is refused with the line saying the item has moved on (409),
    shown above the forms (the step has no form any more), and the history holds one accept."""
    item = site.county.accepting
    first, second = site.login("zhao"), site.login("zhao")
    stale = csrf_of(second.get(f"/items/{item}").text)
    done = first.post(f"/items/{item}/fire/accept",
                      data={"csrf": csrf_of(first.get(f"/items/{item}").text)})
    assert done.status_code == 303
    late = second.post(f"/items/{item}/fire/accept", data={"csrf": stale, "comment": "同意"})
    assert late.status_code == 409
    assert '<p class="refusal" role="alert">事项现在是“已销号”，不能验收销号' in late.text
    assert [h["trigger"] for h in site.history(item)].count("accept") == 1


def test_pages_draw_the_lights_in_the_settings_colours(site: Site) -> None:
    """`[lights] colors` reaches the pages: each page sets the lights' colours (and a text
    colour that reads on each) over the stylesheet's defaults, which draws the badges with
    them; an unset colour keeps its default."""
    client = site.login("zhang")
    page = client.get("/").text
    assert "--red: #5b2a86; --red-text: #ffffff;" in page
    assert "--green: #cdeccd; --green-text: #000000;" in page
    assert "--yellow: #f9a825;" in page
    css = client.get("/static/rectify.css").text
    assert ".light.red { background: var(--red); color: var(--red-text, #fff); }" in css
