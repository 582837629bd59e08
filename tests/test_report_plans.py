"""`report weekly` at a million items costs what its counts cost, not what the tables cost:
on SQLite, the plan of each of its statements (EXPLAIN QUERY PLAN) reads the indexes meant for
it (migration 0008), and the anchor at its foot is the digest `audit anchor` computes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rectify.engine.app.integrity import anchor_digest_now
from rectify.engine.core.audit import ADMIN_HEAD, anchor_digest
from rectify.engine.reports.weekly import build_weekly_report
from rectify.engine.store.db import read
from rectify.engine.store.models import ADMIN_LOG, ITEMS
from sqlalchemy import event, select

from .test_weekly_report import service  # noqa: F401  (the fixture: a known week)


def _plans(svc: Any) -> dict[str, str]:
    """Each statement the report runs (whitespace folded) -> its query plan, one line."""
    caught: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        caught.append((statement, parameters))

    event.listen(svc.engine, "before_cursor_execute", grab)
    try:
        build_weekly_report(svc)
    finally:
        event.remove(svc.engine, "before_cursor_execute", grab)
    plans = {}
    with svc.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for statement, parameters in caught:
            plan = raw.execute("explain query plan " + statement, parameters).fetchall()
            plans[" ".join(statement.split())] = " | ".join(row[3] for row in plan)
    return plans


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_weekly_counts_read_their_indexes(service: Any) -> None:  # noqa: F811
    """Rejections and 延期/催办 come from their small partial indexes (not the week's whole
    history); items created or closed in a week are counted by unit path from the time
    indexes alone (a covering index: no table row is fetched)."""
    plans = _plans(service)

    def plan_of(*words: str) -> list[str]:
        return [p for s, p in plans.items() if all(w in s for w in words)]

    assert all("ix_history_rejections" in p for p in plan_of("FROM history", "'reject'"))
    assert all("ix_history_authority" in p for p in plan_of("FROM history", "'urge'"))
    assert len(plan_of("FROM history", "'reject'")) == len(plan_of("'urge'")) == 1
    created = plan_of("count(*)", "items.created_at >=")
    closed = plan_of("count(*)", "items.closed_at >=")
    assert created and closed
    assert all("COVERING INDEX ix_items_created_path" in p for p in created), created
    assert all("COVERING INDEX ix_items_closed_path" in p for p in closed if
               "escalation_steps" not in p), closed
    assert not any("SCAN history" in p for p in plans.values())


def test_the_anchor_at_the_foot_is_audit_anchors_digest(service: Any,  # noqa: F811
                                                        tmp_path: Path) -> None:
    """The heads written as lines by the database digest to what the heads digest to in
    Python (`audit anchor`'s own computation), the admin log's head last."""
    with read(service.engine) as conn:
        heads: list[tuple[int | str, int, str]] = [
            (i, s, h) for i, s, h in conn.execute(
                select(ITEMS.c.id, ITEMS.c.last_seq, ITEMS.c.last_hash))]
        admin = conn.execute(select(ADMIN_LOG.c.seq, ADMIN_LOG.c.hash)
                             .order_by(ADMIN_LOG.c.seq.desc()).limit(1)).first()
    if admin:
        heads.append((ADMIN_HEAD, admin[0], admin[1]))
    assert len(heads) >= 4
    assert anchor_digest_now(service) == anchor_digest(heads)
