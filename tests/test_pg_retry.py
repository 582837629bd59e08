"""An advance on PostgreSQL reads the item without a lock and writes it only if it is still the
version it read. Here a second connection changes the item between the two — forced by a hook
on the write, no sleeps —, and the advance does what a lock wait gave before: nothing of its
first decision is written, it reads the item again and decides again on what the other left
(refused, or allowed by the rules), and after a bounded number of tries it says the item keeps
changing (Conflict) having written nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rectify.engine.app import service as service_module
from rectify.engine.app.service import ADVANCE_ATTEMPTS, Service
from rectify.engine.core.audit import verify_chain
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import Conflict, Refused
from rectify.engine.store import items as store
from rectify.engine.store.db import open_engine, read
from rectify.engine.store.models import ATTACHMENTS, OUTBOX
from sqlalchemy import func, select

pytestmark = pytest.mark.postgres


@pytest.fixture
def service(pg_service: Service) -> Service:
    return pg_service


@pytest.fixture
def other(service: Service, pg_url: str, clock: FixedClock, tmp_path: Path
          ) -> Iterator[Service]:
    """A second service on its own engine: another connection to the same database."""
    svc = Service(open_engine(pg_url), clock, files_dir=tmp_path / "files")
    yield svc
    svc.engine.dispose()


def accepting(service: Service, tmp_path: Path) -> int:
    """An item in 待验收: assigned to zhang, who submitted it with a photo."""
    item_id = service.new_item("li", "rectification", "village-a1", assignee="zhang",
                               values={"description": "户籍信息与实际不符"})
    service.advance(item_id, "li", "assign")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8 jpeg")
    service.advance(item_id, "zhang", "submit", values={"measures": "已更正"}, attach=[photo])
    return item_id


def between_read_and_write(monkeypatch: pytest.MonkeyPatch, service: Service,
                           meddle: Callable[[int], object]) -> list[bool]:
    """Run `meddle(attempt)` before each write of an advance by `service` (not the other's:
    they run the same code); returns, per write, whether it landed."""
    landed: list[bool] = []
    write = service_module.write_checked

    def meddled(conn: Any, change: Any) -> bool:
        if conn.engine is not service.engine:
            return write(conn, change)
        meddle(len(landed))
        landed.append(write(conn, change))
        return landed[-1]

    monkeypatch.setattr(service_module, "write_checked", meddled)
    return landed


def everything(service: Service, item_id: int) -> tuple[Any, ...]:
    """The item row, its history, its ladder, its attachments and the whole outbox."""
    with read(service.engine) as conn:
        return (store.get_item(conn, item_id),
                [(r["seq"], r["kind"], r["trigger"], r["actor"])
                 for r in store.history(conn, item_id)],
                conn.execute(select(store.STEPS).where(store.STEPS.c.item_id == item_id)
                             .order_by(store.STEPS.c.id)).all(),
                conn.execute(select(func.count()).select_from(ATTACHMENTS)).scalar(),
                conn.execute(select(OUTBOX.c.dedupe_key).order_by(OUTBOX.c.id)).scalars().all())


def chain_ok(service: Service, item_id: int) -> None:
    with read(service.engine) as conn:
        assert verify_chain(item_id, store.history(conn, item_id)) is None


def test_the_other_change_lands_first_and_the_advance_is_refused(
        service: Service, other: Service, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """zhao accepts a submitted item; between zhao's read and write the leader holds it
    accountable on another connection. zhao's write finds another version and writes nothing
    (not the item, the history row, the closed ladder, nor its notices); zhao's advance reads
    again and is refused as it would have been after a lock wait: accept is not possible in
    问责处理. The database holds exactly what the leader's advance left."""
    item_id = accepting(service, tmp_path)
    left: list[tuple[Any, ...]] = []

    def leader_first(attempt: int) -> None:
        if attempt == 0:
            other.advance(item_id, "wang", "hold_accountable")
            left.append(everything(service, item_id))

    landed = between_read_and_write(monkeypatch, service, leader_first)
    with pytest.raises(Refused, match="not possible in state"):
        service.advance(item_id, "zhao", "accept")
    assert landed == [False]  # the retry was refused before it wrote
    assert everything(service, item_id) == left[0]
    assert left[0][0].state == "accountable"
    chain_ok(service, item_id)


def test_the_advance_decides_again_on_what_the_other_left(
        service: Service, other: Service, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The leader holds a submitted item accountable; between the read and the write an
    acceptor sends it back to 整改中. The leader's first write writes nothing; the second read
    finds 整改中, where hold_accountable is allowed too, and the advance lands from there: its
    outcome, history row and notices say so, chained after the acceptor's row."""
    item_id = accepting(service, tmp_path)
    outbox_before = len(everything(service, item_id)[4])

    def sent_back_first(attempt: int) -> None:
        if attempt == 0:
            other.advance(item_id, "sun", "reject", comment="照片不清")

    landed = between_read_and_write(monkeypatch, service, sent_back_first)
    outcome = service.advance(item_id, "wang", "hold_accountable")
    assert landed == [False, True]
    assert (outcome.source, outcome.dest) == ("rectifying", "accountable")
    item, history, steps, _, outbox = everything(service, item_id)
    assert item.state == "accountable" and item.version == 5  # created 1; 4 events since
    assert [h[1:] for h in history[-2:]] == [("transition", "reject", "sun"),
                                             ("transition", "hold_accountable", "wang")]
    assert [s.state for s in steps if s.status == "pending"] == ["accountable"]
    assert len(outbox) > outbox_before + 1  # the acceptor's notices, then the leader's
    chain_ok(service, item_id)


def test_an_item_that_keeps_changing_is_a_conflict_with_nothing_written(
        service: Service, other: Service, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone reassigns the item between every read and write of the leader's advance: after
    ADVANCE_ATTEMPTS tries the advance gives up with Conflict (exit 5, 'changed by someone
    else'), and none of its tries wrote anything — only the reassignments are there."""
    item_id = accepting(service, tmp_path)
    people = ["sun", "zhang"]
    left: list[tuple[Any, ...]] = []

    def reassign(attempt: int) -> None:
        other.assign(item_id, "li", people[attempt % 2])
        left.append(everything(service, item_id))

    landed = between_read_and_write(monkeypatch, service, reassign)
    with pytest.raises(Conflict, match="changed by someone else"):
        service.advance(item_id, "wang", "hold_accountable")
    assert landed == [False] * ADVANCE_ATTEMPTS
    assert everything(service, item_id) == left[-1]
    history = left[-1][1]
    assert [h[1] for h in history[-ADVANCE_ATTEMPTS:]] == ["assign"] * ADVANCE_ATTEMPTS
    assert left[-1][0].state == "accepting"
    chain_ok(service, item_id)
