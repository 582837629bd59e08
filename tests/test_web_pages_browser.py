"""The staff pages in a real browser (Playwright driving Debian's chromium, never a browser of
its own) against a real uvicorn on loopback: a village cadre on a 360×740 phone works an item
from login to logout; a reviewer on an office PC sees the evidence checks and the board.
Screenshots of the three main pages are written under each test's tmp dir.

Outside CI, without chromium, the tests skip and say why; in CI a missing chromium fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rectify.engine.store import items as store
from rectify.engine.store.db import open_engine, read

from .pages_support import PASSWORD, County, jpeg, seed_county, serving

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 360, "height": 740}
OFFICE = {"width": 1280, "height": 800}


def chromium() -> str:
    found = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if found:
        return found
    message = "chromium is not installed (apt-get install -y chromium): no browser test"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; .ci/run installs it, CI must run these tests")
    pytest.skip(message)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> County:
    root = tmp_path_factory.mktemp("pages-browser")
    return seed_county(f"sqlite:///{root / 'rectify.db'}", root)


@pytest.fixture(scope="module")
def base(county: County) -> Iterator[str]:
    with serving(county.url, county.files) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


def log_in(browser: Any, base: str, person: str, viewport: dict[str, int]) -> Any:
    """A new browser context at `viewport`, through the login page; any JS dialog (an
    injected alert) is recorded on `page.dialogs`."""
    page = browser.new_context(viewport=viewport, locale="zh-CN").new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(base + "/")
    assert "/login?next=/" in page.url  # not logged in: sent to the login page
    page.fill("input[name=person]", person)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(base + "/")
    return page


def shot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000, path  # a rendered page, not a blank image


def fits(page: Any, width: int) -> None:
    """Nothing wider than the screen: no sideways scrolling on a phone."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def see_my_items(page: Any, base: str, county: County, tmp_path: Path) -> None:
    """The home list (each light with its state and deadline) and the village's board."""
    mine = page.locator("section").first
    for item, light in ((county.red, "红灯"), (county.yellow, "黄灯"), (county.green, "绿灯")):
        card = mine.locator(f"a[href='/items/{item}']")
        assert light in card.inner_text() and "整改中" in card.inner_text()
        assert "期限 2025-" in card.inner_text()
    fits(page, PHONE["width"])
    shot(page, tmp_path / "home-360.png")
    page.goto(f"{base}/units/village-a1")
    assert "张庄村" in page.locator("h1").inner_text()
    fits(page, PHONE["width"])
    shot(page, tmp_path / "unit-360.png")


def submit_with_a_photo(page: Any, base: str, county: County) -> None:
    """`submit` without 整改措施: refused in one line, the comment kept; then with it and a
    photo: moved to 待验收, the photo shown with its EXIF time, the history saying 网页."""
    form = page.locator("#fire-submit")
    form.locator("textarea[name=comment]").fill("已到派出所核实")
    form.locator("button[type=submit]").click()
    refusal = page.locator("#fire-submit .refusal")
    assert refusal.inner_text().strip() == "提交验收还需要填写：整改措施、佐证材料"
    assert page.locator("#fire-submit textarea[name=comment]").input_value() == "已到派出所核实"
    form = page.locator("#fire-submit")
    form.locator("textarea[name='f.measures']").fill("已更正户籍信息")
    form.locator("input[type=file]").set_input_files(files=[{
        "name": "现场照片.jpg", "mimeType": "image/jpeg",
        "buffer": jpeg("2025:10:19 15:20:00")}])
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{base}/items/{county.red}?done=submit")
    assert "提交验收" in page.locator(".done").inner_text()
    assert "待验收" in page.locator(".facts").inner_text()
    thumb = page.locator(".evidence img").first
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", thumb.element_handle())
    assert "2025-10-19 15:20" in page.locator(".evidence").inner_text()  # EXIF, shown
    assert "网页" in page.locator(".history li").last.inner_text()


def test_a_village_cadre_works_an_item_on_a_phone(base: str, browser: Any, county: County,
                                                  tmp_path: Path) -> None:
    """At 360×740: log in, see my open items with their lights, deadlines and states; open one;
    fire `submit` without the required 整改措施 and see the one-line refusal above the form with
    the comment still typed; fire it again with a photo; the item moves to 待验收, its history
    says 网页 and the database row says via=web; log out and the pages ask for a login again."""
    page = log_in(browser, base, "zhang", PHONE)
    see_my_items(page, base, county, tmp_path)
    page.goto(f"{base}/")
    page.click(f"a[href='/items/{county.red}']")
    submit_with_a_photo(page, base, county)
    fits(page, PHONE["width"])
    shot(page, tmp_path / "item-360.png")
    engine = open_engine(county.url)
    with read(engine) as conn:
        last = store.history(conn, county.red)[-1]
    engine.dispose()
    assert (last["trigger"], last["actor"], last["via"]) == ("submit", "zhang", "web")

    page.click("header button:has-text('退出')")
    page.wait_for_url(f"{base}/login")
    page.goto(f"{base}/items/{county.red}")
    assert "/login?next=" in page.url
    assert page.dialogs == []


def test_a_reviewer_at_the_office_sees_evidence_checks_and_the_board(
        base: str, browser: Any, county: County, tmp_path: Path) -> None:
    """At 1280×800 the acceptor opens the submitted item: the photo's thumbnail, its EXIF
    capture time and place, a flag that it was taken before the item was assigned and one that
    the same file is evidence on another item; forms for 验收销号 and 验收不通过 and none for
    what they may not do, folded until one is chosen. The township leader's board counts the
    villages by light; a script tag in a description stays text (no dialog ever opens)."""
    page = log_in(browser, base, "zhao", OFFICE)
    page.goto(f"{base}/items/{county.accepting}")
    evidence = page.locator(".evidence").inner_text()
    assert "拍摄时间：2025-10-01 08:30" in evidence and "北纬 36.60000°" in evidence
    assert "早于交办时间" in evidence and "其他事项的佐证材料" in evidence
    assert page.locator("#fire-accept").count() == 1 and page.locator("#fire-reject").count() == 1
    assert page.locator("#fire-submit").count() == 0
    reject = page.locator("#fire-reject textarea[name=comment]")
    assert not reject.is_visible()  # two steps: folded until one is chosen
    page.locator("summary:has-text('验收不通过')").click()
    assert reject.is_visible()
    shot(page, tmp_path / "item-1280.png")

    page = log_in(browser, base, "wang", OFFICE)
    shot(page, tmp_path / "home-1280.png")
    page.goto(f"{base}/units/town-a")
    rows = {r.locator("th").inner_text(): r.locator("td").all_inner_texts()
            for r in page.locator("table.board tbody tr").all()}
    assert rows["李庄村"] == ["1", "0", "0", "1", "0"]  # open, red, yellow, green, closed
    assert rows["张庄村"][4] == "1"  # closed this week
    shot(page, tmp_path / "unit-1280.png")
    page.goto(f"{base}/units/village-a2")
    assert "<script>" in page.locator(f"a[href='/items/{county.script}']").inner_text()
    page.goto(f"{base}/items/{county.script}")
    assert "<script>alert(1)</script>" in page.locator("h1").inner_text()
    assert page.dialogs == []
