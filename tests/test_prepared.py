"""The prepared hot statements (engine/store/prepared.py) against real databases: an IN list
padded to a power of two finds exactly the rows asked for, RETURNING and SELECT rows come back
through their column types, and a row lacking a bind says which."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rectify.engine.store import db
from rectify.engine.store.models import OUTBOX, UNITS, WORKFLOW_VERSIONS
from rectify.engine.store.prepared import Prepared, PreparedIn
from sqlalchemy import bindparam, insert, select, update

LOADED = datetime(2025, 9, 26, 2, tzinfo=UTC)


@pytest.fixture
def engine(db_url):
    engine = db.open_engine(db_url)
    db.upgrade(engine)
    with db.write(engine) as conn:
        conn.execute(insert(UNITS), [{"id": f"u{i}", "name": f"单位{i}", "parent_id": None,
                                      "path": f"/u{i}/"} for i in range(1, 601)])
    yield engine
    engine.dispose()


@pytest.mark.parametrize("count", [1, 2, 3, 5, 64, 500, 513])
def test_an_in_list_of_any_length_finds_exactly_its_rows(engine, count):
    """A padded IN list of any length finds exactly its rows, and lengths share
    power-of-two compiled forms."""
    by_ids = PreparedIn(lambda ids: select(UNITS.c.id, UNITS.c.name).where(UNITS.c.id.in_(ids)))
    wanted = [f"u{i}" for i in range(1, count + 1)]
    with db.read(engine) as conn:
        found = by_ids.rows(conn, wanted)
        assert sorted(found) == sorted((u, f"单位{u[1:]}") for u in wanted)
        assert by_ids.rows(conn, []) == []
    # Lengths share compiled forms: 500 and 513 need 512 and 1024, not one form each.
    assert all(size & (size - 1) == 0 for size in by_ids._by_size)


def test_returning_rows_come_back_through_their_types(engine):
    """RETURNING rows of a prepared statement come back through the column types (aware
    UTC times)."""
    with db.write(engine) as conn:
        conn.execute(insert(WORKFLOW_VERSIONS).values(
            name="w", version=1, source="x", sha256="h", file="w.yaml", loaded_at=LOADED))
    touch = Prepared(update(WORKFLOW_VERSIONS).where(WORKFLOW_VERSIONS.c.name == bindparam("n"))
                     .values(file="改.yaml")
                     .returning(WORKFLOW_VERSIONS.c.file, WORKFLOW_VERSIONS.c.loaded_at))
    with db.write(engine) as conn:
        # The time comes back aware, in UTC, as UTCDateTime reads it.
        assert touch.rows(conn, {"n": "w"}) == [("改.yaml", LOADED)]


def test_a_row_without_a_required_bind_names_it(engine):
    """A row missing a bind parameter raises KeyError naming it instead of writing NULL."""
    rename = Prepared(update(UNITS).where(UNITS.c.id == bindparam("unit"))
                      .values(name=bindparam("name")))
    with db.write(engine) as conn, pytest.raises(KeyError, match="'name'"):
        rename.run(conn, {"unit": "u1"})


def test_json_columns_round_trip_as_sqlalchemy_writes_and_reads_them(engine):
    """The prepared path's JSON codec (on SQLite the engine's own, unwrapped) against
    SQLAlchemy's: each reads what the other wrote, numbers stored bare included."""
    values = [{"people": [{"name": "张三", "mobile": None}]}, [1, "二", True], 5, "text"]
    queue = Prepared(insert(OUTBOX), columns=["dedupe_key", "channel", "template",
                                              "recipients", "data", "created_at"])
    with db.write(engine) as conn:
        queue.run_many(conn, [{"dedupe_key": f"k{i}", "channel": "log", "template": "t",
                               "recipients": v, "data": {"n": i}, "created_at": LOADED}
                              for i, v in enumerate(values)])
        conn.execute(insert(OUTBOX), {"dedupe_key": "by-sqlalchemy", "channel": "log",
                                      "template": "t", "recipients": {"k": ["值", 1.5]},
                                      "data": {}, "created_at": LOADED})
    read_back = Prepared(select(OUTBOX.c.recipients).where(OUTBOX.c.dedupe_key
                                                           == bindparam("key")))
    with db.read(engine) as conn:
        for i, v in enumerate(values):
            assert read_back.rows(conn, {"key": f"k{i}"}) == [(v,)]
            assert conn.execute(select(OUTBOX.c.recipients)
                                .where(OUTBOX.c.dedupe_key == f"k{i}")).scalar_one() == v
        assert read_back.rows(conn, {"key": "by-sqlalchemy"}) == [({"k": ["值", 1.5]},)]


def test_claiming_more_rows_than_one_in_list_holds_claims_each_once(engine):
    """The outbox's claim (a prepared SELECT, then PreparedIn.run's UPDATE in lists of 512):
    1,000 due rows claimed at once come back oldest first, every one of them pushed past the
    claim period, and a second claim at the same instant finds none of them."""
    from rectify.engine.store.outbox import CLAIM_FOR, OutboxTable, enqueue

    rows = [{"dedupe_key": f"k{n}", "channel": "file", "template": "overdue", "item_id": None,
             "unit_id": None, "recipients": {"people": []}, "subject": None,
             "body_text": None, "body_markdown": None, "templates_dir": None,
             "data": {"n": n}, "status": "pending", "attempts": 0,
             "next_attempt_at": LOADED, "created_at": LOADED, "fold_key": None}
            for n in range(1000)]
    with db.write(engine) as conn:
        enqueue(conn, rows)
    table = OutboxTable(engine)
    claimed = table.claim_due(LOADED, 1000)
    assert [r.data["n"] for r in claimed] == list(range(1000))
    assert table.claim_due(LOADED, 1000) == []
    with db.read(engine) as conn:
        times = set(conn.scalars(select(OUTBOX.c.next_attempt_at)))
    assert times == {LOADED + CLAIM_FOR}
