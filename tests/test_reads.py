"""Staff reads cost what their answer costs: `item list` pages and streams, its filters are
answered by indexes (SQLite's and PostgreSQL's own plans say so), `audit verify` reads each
table once, and the long commands print one summary line when nobody watches a terminal."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from rectify.commands.support import clip, width
from rectify.engine.app.integrity import verify
from rectify.engine.app.service import Service
from rectify.engine.app.views import ItemFilter, item_rows
from rectify.engine.core.clock import FixedClock
from rectify.engine.store import reads
from rectify.engine.store.db import read
from sqlalchemy import text

from .cli_inprocess import Rectify, prepared_service
from .conftest import START, make_service


def _items(svc: Service, n: int, unit: str = "village-a1", assign: bool = False) -> list[int]:
    assignee = "zhou" if unit == "village-b1" else "zhang"
    made = [svc.new_item("qian", "rectification", unit, assignee=assignee,
                         values={"description": f"问题{i}"}) for i in range(n)]
    for item in made if assign else ():
        svc.advance(item, "qian", "assign")
    return made


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> tuple[Service, Rectify]:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    svc = prepared_service(url, FixedClock(START), tmp_path / "files")
    return svc, Rectify(url, capsys, monkeypatch, now=START.isoformat())


def test_limit_cuts_the_list_and_says_how_many_more(world: tuple[Service, Rectify]) -> None:
    """`--limit N` prints N rows (table or JSON) and "… and M more" on stderr only; without a
    terminal the default is every row, and `--limit 0` is every row too."""
    svc, cli = world
    made = _items(svc, 5) + _items(svc, 2, unit="village-b1")
    table = cli.ok("item", "list", "--limit", "3")
    assert table.out.splitlines()[-1] == "3 items"
    assert [line.split()[0] for line in table.out.splitlines()[2:-1]] == [str(i) for i in made[:3]]
    assert table.err == "… and 4 more (--limit 0 lists them all)\n"
    listed = cli.ok("item", "list", "--limit", "2", "--unit", "town-a", as_json=True)
    assert [r["id"] for r in listed.json()] == made[:2] and "and 3 more" in listed.err
    assert [r["id"] for r in cli.ok("item", "list", as_json=True).json()] == made
    everything = cli.ok("item", "list", "--limit", "0")
    assert everything.out.splitlines()[-1] == "7 items" and everything.err == ""
    assert cli("item", "list", "--limit", "-1").code == 2


def test_json_list_is_one_document_even_when_empty(world: tuple[Service, Rectify]) -> None:
    """The streamed `--json` list parses as one JSON list: empty, one item, several."""
    svc, cli = world
    assert cli.ok("item", "list", as_json=True).json() == []
    _items(svc, 1)
    assert len(cli.ok("item", "list", as_json=True).json()) == 1
    _items(svc, 2)
    assert len(cli.ok("item", "list", as_json=True).json()) == 3


def test_table_widths_come_from_the_first_rows_and_cjk_counts_double(
        world: tuple[Service, Rectify]) -> None:
    """Columns line up with Chinese text (two columns a character); a long description is
    clipped to 40 columns with "…"."""
    svc, cli = world
    svc.new_item("li", "rectification", "village-a1", values={"description": "很长的描述" * 20})
    svc.new_item("li", "rectification", "village-a1", values={"description": "short"})
    lines = cli.ok("item", "list").out.splitlines()
    header, first, second = lines[0], lines[2], lines[3]
    start = header.index("problem")  # the table in English (the tests run under en)
    assert width(first[:first.index("很")]) == width(header[:start])
    assert first.endswith("…") and width(first[first.index("很"):]) in (39, 40)
    assert second.endswith("short")


def test_clip_is_exact_and_linear() -> None:
    """clip keeps the longest prefix that fits with "…" in `limit` columns, and handles a
    100,000-character text in one pass (the old clip re-measured the prefix per character)."""
    assert clip("abc", 3) == "abc" and clip("abcd", 3) == "ab…"
    assert clip("问题描述", 8) == "问题描述" and clip("问题描述", 7) == "问题描…"
    assert clip("问题描述", 6) == "问题…" and width(clip("a问题", 4)) <= 4
    long = "很" * 100_000
    assert clip(long, 40) == "很" * 19 + "…"


def _plan(svc: Service, f: ItemFilter) -> str:
    """The database's own plan for one page of `item list` with filter `f`."""
    with read(svc.engine) as conn:
        query = reads._filtered(conn, f, START, reads.select(*reads._LIST_COLUMNS)) \
            .where(reads.ITEMS.c.id > 0).order_by(reads.ITEMS.c.id).limit(2000)
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            return " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        conn.execute(text("SET LOCAL enable_seqscan = off"))  # tiny tables: force the choice
        return " ".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))


@pytest.mark.parametrize(("name", "given", "indexes"), [
    ("unit (one village)", {"unit": "village-a1"}, ("ix_items_unit_id",)),
    ("state alone", {"state": "rectifying"}, ("ix_items_state",)),
    ("assignee", {"assignee": "zhang"}, ("ix_items_assignee_id",)),
    ("workflow and state", {"workflow": "rectification", "state": "rectifying"},
     ("ix_items_workflow_state", "ix_items_state")),
])
def test_filters_are_answered_by_an_index(service: Service, name: str, given: dict[str, str],
                                          indexes: tuple[str, ...]) -> None:
    """Each filter is a condition the database takes to an index, on both backends (a LIKE on
    the unit path was a full scan on SQLite; there was no index on state alone)."""
    _items(service, 3, assign=True)
    plan = _plan(service, ItemFilter(**given))
    assert any(index in plan for index in indexes), (name, plan)


def test_unit_filter_takes_the_subtree_and_nothing_beside_it(service: Service) -> None:
    """A town gives its villages' items, the county everything, a village only its own; the
    result is the same in id order whichever plan the database picks."""
    a, b = _items(service, 2), _items(service, 2, unit="village-b1")
    c = _items(service, 1, unit="village-a2")
    def ids(unit: str) -> list[int]:
        return [r["id"] for r in item_rows(service, ItemFilter(unit=unit), batch=2)]
    assert ids("county") == a + b + c
    assert ids("town-a") == a + c and ids("town-b") == b and ids("village-a2") == c


def test_verify_reads_in_one_pass_and_still_finds_deleted_items(
        sqlite_service: Service, tmp_path: Path) -> None:
    """Items whose row was deleted (first, between batches, last) are each reported once,
    with batches of two, and the rest verify."""
    made = _items(sqlite_service, 7)
    assert verify(sqlite_service, batch=2).ok
    db = sqlite3.connect(tmp_path / "rectify.db")
    db.execute("pragma foreign_keys = off")
    for gone in (made[0], made[3], made[6]):
        db.execute("delete from escalation_steps where item_id = ?", (gone,))
        db.execute("delete from items where id = ?", (gone,))
    db.commit()
    db.close()
    verdict = verify(sqlite_service, batch=2)
    assert verdict.items == 4
    assert verdict.broken == [f"item {i}: the item was deleted but its history remains"
                              for i in (made[0], made[3], made[6])]


def test_verify_and_sweep_print_one_line_without_a_terminal(
        world: tuple[Service, Rectify]) -> None:
    """Piped or logged, `audit verify` and `sweep` print one summary line (the per-step lines
    were one per escalation: thousands in a cron log); `--json` still has every step."""
    svc, cli = world
    _items(svc, 3, assign=True)
    assert cli.ok("audit", "verify").out == "audit ok: all 3 items verify\n"
    later = (START + timedelta(days=30)).isoformat()
    preview = cli.ok("sweep", "--dry-run", now=later).out.splitlines()  # a preview lists all
    assert preview[-1].startswith("sweep (dry run): 12 escalations, 3 transitions")
    assert len(preview) == 1 + 12 + 3
    swept = cli.ok("sweep", now=later).out.splitlines()
    assert swept == ["sweep: 12 escalations, 3 transitions fired, 0 errors"]
    assert cli.ok("sweep", now=later, as_json=True).json()["escalations"] == []  # all done


HAZARD = """\
workflow: hazard
roles: {inspector: 安全员}
fields:
  owner_id: {type: text, label: 身份证号, private: true}
  hazard: {type: text, label: 隐患描述}
initial: open
states:
  open: {label: 待整改, deadline: 5 workdays}
  done: {label: 已办结, final: true}
transitions:
  - {trigger: close, source: open, dest: done, roles: [inspector]}
"""


def test_a_list_line_shows_what_a_workflow_without_description_is_about(
        db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    """A workflow whose problem field is not called `description` shows its first public
    text field on the list line (before, the problem column was empty for it), never a
    private one; rectification's 问题描述 is shown as before, on SQLite and PostgreSQL."""
    svc = make_service(db_url, clock, tmp_path)
    (tmp_path / "hazard.yaml").write_text(HAZARD, encoding="utf-8")
    svc.load_workflow(tmp_path / "hazard.yaml")
    hazard = svc.new_item("li", "hazard", "village-a1",
                          values={"owner_id": "370102199001011234", "hazard": "配电箱无防护"})
    secret = svc.new_item("li", "hazard", "village-a1", values={"owner_id": "370102199001015678"})
    problem = svc.new_item("li", "rectification", "village-a1", values={"description": "占道"})
    shown = {r["id"]: r["description"] for r in item_rows(svc, ItemFilter())}
    assert shown == {hazard: "配电箱无防护", secret: "", problem: "占道"}
    only = {r["id"]: r["description"] for r in item_rows(svc, ItemFilter(workflow="hazard"))}
    assert only == {hazard: "配电箱无防护", secret: ""}
    svc.engine.dispose()
