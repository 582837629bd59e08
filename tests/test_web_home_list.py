"""The home page's candidates on SQLite and PostgreSQL: read a page at a time, source by
source (the person's own items, each state's waiting items walked in deadline order or read
from the person's units), they are exactly the first N of one query that sorts every
candidate — ties on a deadline by id, items without a deadline last — for every N."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rectify.engine.core.clock import FixedClock
from rectify.engine.store import items as store
from rectify.engine.store import worklist
from rectify.engine.store.db import read
from rectify.engine.store.models import ITEMS
from sqlalchemy import and_, event, or_

from .cli_inprocess import prepared_service
from .seeding import seed

NOW = datetime(2025, 10, 20, 2, tzinfo=UTC)
WORKFLOW = """\
workflow: pages
title: 首页
roles: {leader: 分管领导, rectifier: 整改责任人}
initial: a
states:
  a: {label: 甲, deadline: 10 workdays}
  b: {label: 乙, deadline: 10 workdays}
  done: {label: 完成, final: true}
transitions:
  - {trigger: go, source: a, dest: b, roles: [rectifier, leader]}
  - {trigger: end, source: b, dest: done, roles: [leader]}
"""
DAY = timedelta(days=1)
# (state, unit, how many, deadline, assignee): chunks share a deadline, so ids break ties
LEDGER = [("a", "village-a1", 30, NOW + DAY, "zhang"), ("a", "village-b1", 50, NOW - DAY, "zhou"),
          ("b", "village-a2", 20, None, None), ("a", "village-a1", 10, None, None),
          ("b", "village-b1", 40, NOW + 2 * DAY, None), ("b", "village-a1", 15, NOW - 2 * DAY,
                                                          "zhang"),
          ("a", "village-a2", 25, NOW, "sun"), ("a", "town-a", 5, NOW - 3 * DAY, None)]
# who, their grants' unit paths, the states their roles may fire from
PEOPLE = [("zhang", ["/county/town-a/village-a1/"], {"pages": ["a"]}),
          ("qian", ["/county/"], {"pages": ["a", "b"]}),
          ("wang", ["/county/town-a/"], {"pages": ["a", "b"]}),
          ("sun", ["/county/town-a/village-a1/", "/county/town-a/village-a2/"], {"pages": ["a"]}),
          ("nobody", [], {})]


def _everything_sorted(conn, person, paths, states, limit):  # type: ignore[no-untyped-def]
    """The one query the page ran before: every candidate sorted, the first `limit` kept."""
    mine = ITEMS.c.assignee_id == person
    under = [ITEMS.c.unit_path.startswith(p, autoescape=True) for p in paths]
    waiting = [and_(ITEMS.c.workflow == w, ITEMS.c.state.in_(s)) for w, s in states.items()]
    if under and waiting:
        mine = or_(mine, and_(or_(*under), or_(*waiting)))
    query = (store.select_items().where(ITEMS.c.final.is_(False), mine)
             .order_by(ITEMS.c.due_at.is_(None), ITEMS.c.due_at, ITEMS.c.id).limit(limit))
    return [r.id for r in conn.execute(query)]


def _ledger(db_url: str, tmp_path: Path) -> Any:
    service = prepared_service(db_url, FixedClock(NOW), tmp_path / "files", workflows=())
    spec = tmp_path / "pages.yaml"
    spec.write_text(WORKFLOW, "utf-8")
    version = service.load_workflow(spec)[0].id
    for state, unit, n, due, assignee in LEDGER:
        seed(service.engine, version, "pages", state, unit, n, entered=NOW - 9 * DAY,
             due=due, step_at=None, assignee=assignee)  # type: ignore[arg-type]
    return service


@pytest.mark.parametrize("walk", [worklist.WALK, 3])
def test_a_page_of_candidates_equals_sorting_them_all(db_url: str, tmp_path: Path,
                                                      walk: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Five people (own items, a village's, a town's, the county's, two grants, none) and
    page sizes from 1 to more than there are: the same ids in the same order as sorting every
    candidate; with a walk of 3 entries each state is also read from the person's units."""
    monkeypatch.setattr(worklist, "WALK", walk)
    service = _ledger(db_url, tmp_path)
    with read(service.engine) as conn:
        for person, paths, states in PEOPLE:
            for limit in (1, 7, 31, 101, 400):
                got = [r.id for r in worklist.candidate_items(conn, person, paths, states,
                                                              limit)]
                want = _everything_sorted(conn, person, paths, states, limit)
                assert got == want, (person, limit)
    service.engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_first_page_is_read_in_deadline_order_not_sorted(db_url: str,
                                                             tmp_path: Path) -> None:
    """The county leader's page: the person's own items and each state's come from the
    partial indexes of migration 0009 in deadline order, read from the index alone; no
    statement sorts the county's candidates (no temporary B-tree for the ORDER BY)."""
    service = _ledger(db_url, tmp_path)
    caught: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        caught.append((statement, parameters))

    event.listen(service.engine, "before_cursor_execute", grab)
    with read(service.engine) as conn:
        found = worklist.candidate_items(conn, "qian", ["/county/"], {"pages": ["a", "b"]}, 7)
    event.remove(service.engine, "before_cursor_execute", grab)
    assert len(found) == 7
    [(walk, parameters)] = [c for c in caught if "UNION ALL" in c[0]]  # no second pass
    with service.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        plan = [row[3] for row in raw.execute("explain query plan " + walk, parameters)]
    assert not any("TEMP B-TREE" in p for p in plan), plan
    assert any("COVERING INDEX ix_items_open_assignee" in p for p in plan), plan
    assert sum("COVERING INDEX ix_items_open_state" in p for p in plan) == 2, plan
    service.engine.dispose()
