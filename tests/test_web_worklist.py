"""The pages' lists on SQLite and PostgreSQL: a unit board's counts by light agree item for
item with the light `item show` gives (deadlines every six hours across the yellow boundary,
weekends included), and a person's list holds what is assigned to them and what waits for
their role — not items on which their only move is a ladder's backstop."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rectify.engine.app.views import ItemFilter, item_rows
from rectify.engine.app.worklist import my_items, unit_board
from rectify.engine.core.clock import FixedClock
from sqlalchemy import event

from .cli_inprocess import prepared_service
from .pages_support import NOW, seed_county


def test_board_lights_agree_with_each_items_light(db_url: str, tmp_path: Path) -> None:
    """40 items due every 6 hours from a day ago (red) through the yellow window to green:
    per village, the board's red/yellow/green counts equal the count of items with that
    light, on a Monday and on a Saturday (when the quick guess of the yellow boundary is
    checked against the calendar)."""
    now = datetime.fromisoformat(NOW)
    clock = FixedClock(now - timedelta(days=3))
    service = prepared_service(db_url, clock, tmp_path / "files")
    for n in range(40):
        unit = ("village-a1", "village-a2")[n % 2]
        due = (now + timedelta(hours=6 * n - 24)).isoformat()
        item = service.new_item("li", "rectification", unit, assignee="zhang", due=due,
                                values={"description": f"第{n}项"})
        service.advance(item, "li", "assign")
    for at in (now - timedelta(days=2), now):  # a Saturday (no workday), then a Monday
        clock.set(at)
        board = unit_board(service, "town-a", "wang")
        assert board is not None
        for line in board.lines:
            rows = item_rows(service, ItemFilter(unit=line.unit_id))
            expected = Counter(r["light"] or "none" for r in rows)
            assert +line.lights == +expected, (at, line.name)
        lights = board.total.lights
        assert lights["yellow"] and lights["green"]  # the window was crossed
    assert lights["red"]  # on the Monday, the first ones are past due
    assert unit_board(service, "town-b", "wang") is None  # not his: the page says 404
    service.engine.dispose()


def test_my_items_hold_what_is_mine_and_what_waits_for_my_role(db_url: str,
                                                               tmp_path: Path) -> None:
    """张三 sees the items assigned to him; 赵六 (验收人) sees the submitted one waiting for
    acceptance; 王五 (分管领导) may fire 追责问责 on every open item, but that is the ladder's
    backstop: his waiting list stays empty until something waits for him alone."""
    county = seed_county(db_url, tmp_path)
    service = prepared_service(db_url, FixedClock(datetime.fromisoformat(NOW)),
                               county.files, workflows=())
    zhang = my_items(service, "zhang")
    assert {w.id for w in zhang.assigned} == {county.red, county.yellow, county.green,
                                              county.accepting}
    assert [w.light for w in zhang.assigned[:1]] == ["red"]  # nearest deadline first
    zhao = my_items(service, "zhao")
    assert [w.id for w in zhao.waiting] == [county.accepting]
    assert zhao.waiting[0].actions == ("验收销号", "验收不通过")
    assert my_items(service, "wang").waiting == []
    service.engine.dispose()


PRIVATE_ORG = """\
units:
  - id: county
    name: 某县
    children:
      - id: town-a
        name: 大杨集镇
        children: [{id: village-a1, name: 张庄村}]
people:
  - {id: sec, name: 党支书, roles: {party_secretary: village-a1}}
  - {id: cadre, name: 村干部, roles: {village_cadre: village-a1}}
  - {id: fixer, name: 整改员, roles: {rectifier: village-a1}}
"""


def test_private_fields_show_only_to_the_people_working_the_item(tmp_path: Path) -> None:
    """An identification item's 身份证号码 is shown to the 村党组织书记 (a role of that
    workflow) and hidden, though listed, from someone who sees the village through another
    workflow's role; its number, date and text fields render in the page either way."""
    from rectify.engine.app.item_page import item_page
    from rectify.web.render import item_context, make_templates

    org = tmp_path / "org.yaml"
    org.write_text(PRIVATE_ORG, "utf-8")
    service = prepared_service(f"sqlite:///{tmp_path / 'p.db'}",
                               FixedClock(datetime.fromisoformat(NOW)), tmp_path / "files",
                               org=org, workflows=("identification", "rectification"))
    item = service.new_item("cadre", "identification", "village-a1", assignee="cadre",
                            values={"applicant_name": "王大山", "household_size": 4,
                                    "id_number": "370000199001011234"})
    template = make_templates().env.get_template("item.html")
    for person, shown in (("sec", True), ("fixer", False)):
        page = item_context(item_page(service, item, person), service.files_dir)
        html = template.render(page=page, person=None, csrf="", board_links=[], upload_mb=20)
        assert ("370000199001011234" in html) is shown, person
        assert "身份证号码" in html and "家庭人口数" in html
    html = template.render(page=item_context(item_page(service, item, "sec"),
                                             service.files_dir),
                           person=None, csrf="", board_links=[], upload_mb=20)
    assert 'id="fire-propose"' in html  # 提议: the secretary's step, as a form
    service.engine.dispose()


def test_a_form_offers_photos_only_when_its_step_may_set_them(tmp_path: Path) -> None:
    """A step whose `sets` leaves out the files field (退回: only 批改意见) draws no photo
    upload — before, it did, and every photo sent with it was refused ("'send_back' may not
    set 照片 (photos)"); a step without `sets` keeps the upload."""
    from rectify.engine.app.item_page import item_page

    from .conftest import FIXTURES

    path = tmp_path / "helpcheck.yaml"
    path.write_text((FIXTURES / "helpcheck.yaml").read_text("utf-8").replace(
        "roles: [acceptor], comment: required}",
        "roles: [acceptor], comment: required,\n     sets: [findings]}"), "utf-8")
    service = prepared_service(f"sqlite:///{tmp_path / 'p.db'}",
                               FixedClock(datetime.fromisoformat(NOW)), tmp_path / "files",
                               org=FIXTURES / "org.yaml", workflows=())
    service.load_workflow(path)
    item = service.new_item("li", "helpcheck", "village-a1", assignee="zhang",
                            values={"description": "帮扶手册未更新"})
    service.advance(item, "li", "start")
    service.advance(item, "zhang", "complete", values={"fix_note": "已改"})
    forms = {f.trigger: f for f in item_page(service, item, "zhao").forms}
    assert forms["send_back"].photos_field is None
    assert [f.name for f in forms["send_back"].fields] == ["findings"]
    assert forms["review"].photos_field == "photos"
    service.engine.dispose()


BOARD_WORKFLOW = """\
workflow: boardlights
title: 看板灯色
roles: {leader: 分管领导}
initial: early
states:
  early:
    label: 提前提醒
    deadline: 10 workdays
    escalate:
      - {at: -3 workdays, notify: [assignee]}
  plain: {label: 默认黄灯, deadline: 10 workdays}
  parked: {label: 无期限}
  done: {label: 完成, final: true}
transitions:
  - {trigger: move, source: early, dest: plain, roles: [leader]}
  - {trigger: park, source: early, dest: parked, roles: [leader]}
  - {trigger: finish, source: [early, plain, parked], dest: done, roles: [leader]}
"""


def test_board_counts_in_sql_equal_each_items_light_in_python(db_url: str,
                                                             tmp_path: Path) -> None:
    """The board's counts, each an index range count in the database, equal what the engine's
    `light` says item by item: a state whose yellow starts at its early step (3 workdays) and
    one with the default 2 workdays, deadlines every 5 hours across both windows, items
    without a deadline, and items closed this week and just before it (Sunday night)."""
    now = datetime.fromisoformat(NOW)  # a Monday, 10:00
    clock = FixedClock(now - timedelta(days=12))
    service = prepared_service(db_url, clock, tmp_path / "files", workflows=())
    spec_file = tmp_path / "boardlights.yaml"
    spec_file.write_text(BOARD_WORKFLOW, "utf-8")
    service.load_workflow(spec_file)
    units = ("village-a1", "village-a2", "town-a")
    for n in range(36):  # early, own deadlines from a day ago to a week ahead
        service.new_item("wang", "boardlights", units[n % 3],
                         due=(now + timedelta(hours=5 * n - 24)).isoformat())
    moved = [service.new_item("wang", "boardlights", units[n % 3]) for n in range(24)]
    for n, item in enumerate(moved):  # plain, entered 12 days ago to now: red to green
        clock.set(now - timedelta(hours=12 * n))
        service.advance(item, "wang", "move" if n % 6 else "park")
    closed = {}
    for n, at in enumerate((now - timedelta(hours=11), now - timedelta(hours=1))):
        clock.set(at)  # Sunday 23:00 (last week), then Monday 09:00 (this week)
        item = service.new_item("wang", "boardlights", units[n])
        service.advance(item, "wang", "finish")
        closed[units[n]] = int(at >= now - timedelta(hours=10))
    clock.set(now)
    board = unit_board(service, "town-a", "wang")
    assert board is not None
    for line in board.lines:
        own = line.unit_id == "town-a"  # the town's own line: its items, not its villages'
        rows = [r for r in item_rows(service, ItemFilter(unit=line.unit_id))
                if not own or r["unit"] == "town-a"]
        expected = Counter(r["light"] or "none" for r in rows if r["state"] != "done")
        assert +line.lights == +expected, line.name
        assert line.closed_week == closed.get(line.unit_id, 0), line.name
    lights = board.total.lights
    assert all(lights[k] for k in ("red", "yellow", "green", "none")), lights
    service.engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_board_reads_the_open_items_index_alone(db_url: str, tmp_path: Path) -> None:
    """A county board never walks the items table: its counts of open items (without a
    deadline, past it, not yet past it, yellow) are searches of ix_items_open by unit path and
    deadline that read the index alone (migration 0009 put `final` in it), and closed this
    week starts from
    ix_items_closed_path; the whole county's items are no longer scanned row by row."""
    county = seed_county(db_url, tmp_path)
    service = prepared_service(db_url, FixedClock(datetime.fromisoformat(NOW)),
                               county.files, workflows=())
    caught: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        caught.append((statement, parameters))

    event.listen(service.engine, "before_cursor_execute", grab)
    try:
        assert unit_board(service, "county", "qian") is not None
    finally:
        event.remove(service.engine, "before_cursor_execute", grab)
    [(statement, parameters)] = [c for c in caught if "UNION ALL" in c[0]]
    with service.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        plan = [row[3] for row in raw.execute("explain query plan " + statement, parameters)]
    items = [p for p in plan if " items " in p]
    assert len(items) == 5 and all(p.startswith("SEARCH") for p in items), plan
    assert sum("COVERING INDEX ix_items_open (unit_path=? AND due_at" in p for p in items) == 4, \
        plan
    assert any("ix_items_closed_path (closed_at>?)" in p for p in items), plan
    service.engine.dispose()
