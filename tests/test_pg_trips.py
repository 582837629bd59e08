"""A single transition on PostgreSQL: two round trips of one statement each (the read; every write
as one statement, checked by the item's version), in autocommit — no BEGIN, no COMMIT, no lock —,
statements prepared on the server, and a connection that goes back to the pool as it came out of
it whether the advance landed, was refused or failed in its write.

The round trips are counted from libpq's own protocol trace of the connection the advance used:
each time the client, having sent messages, turns to read the server's answers is one trip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from psycopg import pq
from rectify.engine.app.service import Service
from rectify.engine.core.errors import Refused
from rectify.engine.store import items as store
from rectify.engine.store.db import read, write
from rectify.engine.store.models import OUTBOX
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from .seeding import LADDER_WORKFLOW

pytestmark = pytest.mark.postgres


@pytest.fixture
def service(pg_service: Service) -> Service:
    return pg_service


def discovered(service: Service) -> int:
    """An item in 发现问题, for zhang."""
    return service.new_item("li", "rectification", "village-a1", assignee="zhang",
                            values={"description": "户籍信息与实际不符"})


def assigned(service: Service) -> int:
    """An item in 整改中, assigned to zhang."""
    item_id = discovered(service)
    service.advance(item_id, "li", "assign")
    return item_id


@contextmanager
def traced(service: Service, log: Path) -> Iterator[list[list[str]]]:
    """libpq's protocol trace of every connection the block checks out of the pool; yields
    the messages as [direction, length, type, ...], filled in when the block ends."""
    handle = log.open("w")
    messages: list[list[str]] = []

    def start(dbapi: Any, _record: Any, _proxy: Any) -> None:
        dbapi.pgconn.trace(handle.fileno())
        dbapi.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def stop(dbapi: Any, _record: Any) -> None:
        dbapi.pgconn.untrace()

    event.listen(service.engine, "checkout", start)
    event.listen(service.engine, "checkin", stop)
    try:
        yield messages
    finally:
        event.remove(service.engine, "checkout", start)
        event.remove(service.engine, "checkin", stop)
        handle.close()
        messages += [line.split("\t") for line in log.read_text().splitlines() if line]


def trips(messages: list[list[str]]) -> int:
    """How many times the client sent and then waited for the server's answer."""
    count, last = 0, "B"
    for direction, *_ in messages:
        if direction == "B" and last == "F":
            count += 1
        last = direction
    return count


def test_an_advance_is_two_prepared_statements_in_two_round_trips(service: Service,
                                                                   tmp_path: Path) -> None:
    """Once its statements are prepared (psycopg prepares a statement on its fifth run on a
    connection), an advance that tells nobody (the benchmarks' `finish`, which also cancels the
    item's ladder) is two round trips of one statement each: the read, then all the writes as
    one statement; each runs as a server-side prepared statement (a Bind to a named statement,
    no Parse), and neither BEGIN nor COMMIT nor a row lock is sent."""
    ladder = tmp_path / "ladder.yaml"
    ladder.write_text(LADDER_WORKFLOW, "utf-8")
    service.load_workflow(ladder)
    items = [service.new_item("li", "ladder", "village-a1") for _ in range(7)]
    for item_id in items[:6]:  # every statement of the advance has run five times or more
        service.advance(item_id, "zhang", "finish")
    with traced(service, tmp_path / "trace.log") as messages:
        service.advance(items[6], "zhang", "finish")
    assert trips(messages) == 2, "\n".join("\t".join(m[:3]) for m in messages)
    sent = [m for m in messages if m[0] == "F"]
    assert not [m for m in sent if m[2] in ("Parse", "Query")]
    binds = [m for m in sent if m[2] == "Bind"]
    assert len(binds) == 2 and all('"_pg3_' in m[3] for m in binds), binds
    said = "\n".join("\t".join(m) for m in sent).upper()
    assert "BEGIN" not in said and "COMMIT" not in said and "FOR UPDATE" not in said
    with read(service.engine) as conn:
        assert store.get_item(conn, items[6]).state == "done"
        steps = conn.execute(select(store.STEPS.c.status)
                             .where(store.STEPS.c.item_id == items[6])).scalars().all()
    assert steps and set(steps) == {"cancelled"}


def test_a_refused_advance_writes_nothing_and_holds_nothing(service: Service) -> None:
    """A refusal writes nothing (the item, its history and its ladder are as they were), holds
    no lock on the item, and the connection goes back to the pool out of autocommit, so the
    next transaction on it is atomic again."""
    item_id = assigned(service)
    before = written(service, item_id)
    with pytest.raises(Refused):
        service.advance(item_id, "zhang", "accept")  # not possible in 整改中
    assert written(service, item_id) == before
    assert_pool_clean(service)
    with write(service.engine) as conn:  # another transaction can lock the item at once
        conn.execute(text("SET LOCAL lock_timeout = '1s'"))
        conn.execute(text("SELECT id FROM items WHERE id = :i FOR UPDATE NOWAIT"),
                     {"i": item_id})


def test_a_write_that_fails_writes_nothing(service: Service) -> None:
    """When the server refuses part of the one writing statement (here: the history row the
    item's next event would take is already there), nothing of the advance is written — not
    the item's new state, nor its new ladder, whose parts come before it in the statement —,
    the error is SQLAlchemy's, and the connection comes back clean; the item advances once the
    obstacle is gone."""
    item_id = assigned(service)
    with read(service.engine) as conn:
        before = store.get_item(conn, item_id)
    with write(service.engine) as conn:
        conn.execute(insert(store.HISTORY).values(
            item_id=item_id, seq=before.last_seq + 1, kind="urge", actor="li",
            at=before.entered_at, data={}, prev_hash=before.last_hash, hash="x" * 64))
    steps_before = written(service, item_id)[2]
    with pytest.raises(IntegrityError):
        service.advance(item_id, "wang", "hold_accountable")
    with read(service.engine) as conn:
        after = store.get_item(conn, item_id)
    assert (after.state, after.version, after.fields) == (before.state, before.version,
                                                          before.fields)
    assert written(service, item_id)[2] == steps_before
    assert_pool_clean(service)
    with write(service.engine) as conn:
        conn.execute(text("DELETE FROM history WHERE item_id = :i AND seq = :s"),
                     {"i": item_id, "s": before.last_seq + 1})
    service.advance(item_id, "wang", "hold_accountable")
    with read(service.engine) as conn:
        assert store.get_item(conn, item_id).state == "accountable"


def written(service: Service, item_id: int) -> tuple[Any, ...]:
    """What an advance of the item would change: the item row, its history, its ladder and the
    outbox."""
    with read(service.engine) as conn:
        return (store.get_item(conn, item_id), len(store.history(conn, item_id)),
                conn.execute(select(store.STEPS.c.status, store.STEPS.c.due_at)
                             .where(store.STEPS.c.item_id == item_id)
                             .order_by(store.STEPS.c.id)).all(),
                conn.execute(select(func.count()).select_from(OUTBOX)).scalar())


def assert_pool_clean(service: Service) -> None:
    """Every pooled connection is idle and out of autocommit."""
    pool = service.engine.pool
    held = [service.engine.connect() for _ in range(pool.checkedin())]
    try:
        for conn in held:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None and not dbapi.autocommit
            assert dbapi.pgconn.transaction_status == pq.TransactionStatus.IDLE
    finally:
        for conn in held:
            conn.close()


def test_item_show_reads_everything_in_one_round_trip(service: Service, tmp_path: Path) -> None:
    """What `item show` and every API answer read — the item, its history, steps, extension
    request and the names of the people it mentions — is one round trip on PostgreSQL (the
    names used to cost a trip of their own after the rest), and the names are right."""
    from rectify.engine.app.views import item_detail

    item_id = assigned(service)
    with traced(service, tmp_path / "trace.log") as messages:
        detail = item_detail(service, item_id, "zhang")
    assert trips(messages) == 1, "\n".join("\t".join(m[:3]) for m in messages)
    assert [h["actor_name"] for h in detail["history"]] == ["李四", "李四"]
    assert detail["assignee_name"] == "张三"


def test_a_token_or_session_is_checked_in_one_round_trip(service: Service,
                                                         tmp_path: Path) -> None:
    """Every API request checks its token (or session cookie) first: one statement, one round
    trip on PostgreSQL (a transaction's BEGIN and COMMIT used to make it three)."""
    from rectify.engine.app import identity

    token = identity.create_token(service, "zhang", "trips")[1]
    holder = identity.token_person(service, token)
    assert holder is not None and holder.id == "zhang"
    session_id = identity.start_session(service, holder, hours=1)[0]
    with traced(service, tmp_path / "token.log") as by_token:
        identity.token_person(service, token)
    with traced(service, tmp_path / "session.log") as by_session:
        found = identity.session(service, session_id)
    assert found is not None and found.person.id == "zhang"
    assert (trips(by_token), trips(by_session)) == (1, 1)
