"""The engine through the service, on SQLite and PostgreSQL: items move, refusals change nothing,
history is kept and provable, versions and org load behave."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

import pytest
from rectify.engine.app.service import Service
from rectify.engine.app.views import ItemFilter, item_detail, item_rows
from rectify.engine.core.audit import verify_chain
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import Conflict, NotFound, Refused, UsageError
from rectify.engine.core.i18n import english
from rectify.engine.store import items as store
from rectify.engine.store import repo
from rectify.engine.store.db import open_engine, read, write
from sqlalchemy import text, update

from .conftest import FIXTURES, START, WORKFLOWS


def new(service: Service, assignee: str = "zhang") -> int:
    values = {"description": "户籍信息与实际不符", "category": "信息不实"}
    return service.new_item("li", "rectification", "village-a1", assignee=assignee,
                            values=values)


def snapshot(service: Service, item_id: int) -> tuple[object, ...]:
    with read(service.engine) as conn:
        item = store.get_item(conn, item_id)
        return (item, tuple(r["hash"] for r in store.history(conn, item_id)))


def to_accepting(service: Service, tmp_path: Path, assignee: str = "zhang") -> int:
    item_id = new(service, assignee)
    service.advance(item_id, "li", "assign")
    evidence = tmp_path / "现场照片.jpg"
    evidence.write_bytes(b"\xff\xd8jpeg")
    service.advance(item_id, assignee, "submit", values={"measures": "已更正"},
                    attach=[evidence])
    return item_id


def chain_ok(service: Service) -> int:
    with read(service.engine) as conn:
        rows = list(store.iter_history(conn))
    for item_id, group in itertools.groupby(rows, key=lambda r: r["item_id"]):
        assert verify_chain(item_id, group) is None
    return len({r["item_id"] for r in rows})


def test_happy_path_closes_with_history(service: Service, tmp_path: Path) -> None:
    """assign -> submit (by the assignee, with evidence) -> accept by someone else -> closed."""
    item_id = to_accepting(service, tmp_path)
    service.advance(item_id, "zhao", "accept")
    detail = item_detail(service, item_id, "wang")
    assert detail["state"] == "closed" and detail["state_label"] == "已销号"
    assert [h["trigger"] for h in detail["history"]] == ["create", "assign", "submit", "accept"]
    assert detail["fields"]["evidence"][0]["name"] == "现场照片.jpg"
    assert detail["light"] is None and detail["triggers"] == []
    assert chain_ok(service) == 1


@pytest.mark.parametrize("actor, trigger, kwargs, reason, fragment", [
    ("li", "accept", {}, "state", "not possible in state 整改中"),
    ("zhao", "hold_accountable", {}, "role", "分管领导 (leader)"),
    ("sun", "submit", {"values": {"measures": "x"}}, "assignee", "only the assignee (张三)"),
    ("zhang", "submit", {}, "missing_field", "整改措施 (measures), 佐证材料 (evidence)"),
])
def test_refusals_leave_item_unchanged(service: Service, actor: str, trigger: str,
                                       kwargs: dict, reason: str, fragment: str) -> None:
    """Each refusal kind names its reason in the user's terms and writes nothing."""
    item_id = new(service)
    service.advance(item_id, "li", "assign")
    before = snapshot(service, item_id)
    with pytest.raises(Refused) as refused:
        service.advance(item_id, actor, trigger, **kwargs)
    assert refused.value.reason == reason and fragment in str(refused.value)
    assert snapshot(service, item_id) == before


def test_refusals_name_people_by_their_names(service: Service, tmp_path: Path) -> None:
    """A refusal names the assignee and the person held to separation of duties by the names
    people use (张三, 孙七), not their ids, in a single advance and a bulk one alike, and in
    Chinese; the other transition is named with its label."""
    from rectify.engine.app.bulk import BulkResult, bulk
    from rectify.engine.core.i18n import in_language

    item_id = new(service)
    service.advance(item_id, "li", "assign")
    results: list[BulkResult] = []
    bulk(service, "sun", "submit", ItemFilter(state="rectifying"), values={"measures": "x"},
         on_result=results.append)
    assert [r.message for r in results] == ["only the assignee (张三) may 'submit' (提交验收)"]
    accepting = to_accepting(service, tmp_path, assignee="sun")
    with pytest.raises(Refused) as refused:
        service.advance(accepting, "sun", "accept")
    assert str(refused.value) == ("孙七 fired 'submit' (提交验收) on this item and so may not "
                                  "'accept' (验收销号) (separation of duties)")
    with in_language("zh"), pytest.raises(Refused) as refused:
        service.advance(item_id, "sun", "submit", values={"measures": "x"})
    assert "张三" in str(refused.value) and "zhang" not in str(refused.value)


def test_separation_comment_and_second_rejection(service: Service, tmp_path: Path) -> None:
    """The submitter may not accept; reject needs a comment; a second rejection escalates."""
    item_id = to_accepting(service, tmp_path, assignee="sun")  # sun may also accept
    with pytest.raises(Refused, match="separation of duties"):
        service.advance(item_id, "sun", "accept")
    with pytest.raises(Refused, match="requires a comment"):
        service.advance(item_id, "zhao", "reject")
    assert service.advance(item_id, "zhao", "reject", comment="照片不清").dest == "rectifying"
    service.advance(item_id, "sun", "submit")
    assert service.advance(item_id, "zhao", "reject", comment="仍未整改").dest == "accountable"
    with pytest.raises(Refused, match="问责结果"):
        service.advance(item_id, "wang", "conclude", comment="已处理")
    service.advance(item_id, "wang", "conclude", values={"outcome": "约谈"}, comment="已约谈")
    assert item_detail(service, item_id, None)["state"] == "closed"


def test_unknown_person_and_field_and_item(service: Service) -> None:
    """People outside the org cannot act; unknown fields and items are named."""
    item_id = new(service)
    with pytest.raises(Refused, match="not a person in the org file"):
        service.advance(item_id, "nobody", "assign")
    with pytest.raises(UsageError, match="unknown field 'colour'"):
        service.advance(item_id, "li", "assign", values={"colour": "red"})
    with pytest.raises(Refused, match="问题类别"):
        service.advance(item_id, "li", "assign", values={"category": "不存在"})
    with pytest.raises(NotFound):
        service.advance(99999, "li", "assign")


def test_create_needs_a_role_at_the_unit(service: Service) -> None:
    """zhou holds a role only in town-b's village: he cannot file items in village-a1."""
    with pytest.raises(Refused, match="holds no role"):
        service.new_item("zhou", "rectification", "village-a1", values={})


def test_stale_write_is_a_conflict_and_writes_nothing(service: Service) -> None:
    """An item changed between read and write: Conflict, no history row, state unchanged."""
    item_id = new(service)
    with read(service.engine) as conn:
        stale = store.get_item(conn, item_id)
    service.advance(item_id, "li", "assign")
    after = snapshot(service, item_id)
    entry = store.HistoryEntry(kind="transition", actor="li", at=service.clock.now())
    with pytest.raises(Conflict, match="changed by someone else"), write(service.engine) as conn:
        store.apply_write(conn, store.ItemWrite(item=stale, values={"state": "closed"},
                                                history=entry))
    assert snapshot(service, item_id) == after


def test_tampering_is_detected(service: Service) -> None:
    """Editing a history row by hand breaks the chain at that row."""
    item_id = new(service)
    service.advance(item_id, "li", "assign", comment="请尽快整改")
    assert chain_ok(service) == 1
    with write(service.engine) as conn:
        conn.execute(update(store.HISTORY).where(store.HISTORY.c.seq == 2)
                     .values(comment="请慢慢整改"))
        rows = store.history(conn, item_id)
    broken = verify_chain(item_id, rows)
    assert broken is not None and broken.seq == 2 and "changed" in english(broken.reason)


def test_workflow_versions(service: Service, tmp_path: Path) -> None:
    """Same text: no new version. Changed text: v2 for new items; running items keep v1."""
    old_item = new(service)
    again, created = service.load_workflow(WORKFLOWS / "rectification.yaml")
    assert (again.version, created) == (1, False)
    changed = tmp_path / "rectification.yaml"
    changed.write_text((WORKFLOWS / "rectification.yaml").read_text("utf-8")
                       .replace("deadline: 10 workdays", "deadline: 5 workdays", 1), "utf-8")
    v2, created = service.load_workflow(changed)
    assert (v2.version, created) == (2, True)
    new_item = new(service)
    assert item_detail(service, old_item, None)["version"] == 1
    assert item_detail(service, new_item, None)["version"] == 2


def test_org_load_is_idempotent_and_updates(service: Service, tmp_path: Path) -> None:
    """Loading the same org twice changes nothing; a changed file updates roles and people."""
    assert not service.load_org(FIXTURES / "org.yaml").changed
    text_ = (FIXTURES / "org.yaml").read_text("utf-8")
    edited = tmp_path / "org.yaml"
    edited.write_text(text_.replace("roles: {inspector: town-a}", "roles: {inspector: town-b}")
                      .replace("  - {id: zhou, name: 周九, roles: {rectifier: village-b1}}\n", ""),
                      "utf-8")
    changes = service.load_org(edited)
    assert (changes.grants_added, changes.grants_removed) == (1, 2)
    item_id = _item_by(service, "wang")
    with pytest.raises(Refused, match="inspector"):
        service.advance(item_id, "li", "assign")  # li now inspects town-b only
    with read(service.engine) as conn:
        zhou = repo.person(conn, "zhou")
    assert zhou is not None and not zhou.active


def _item_by(service: Service, actor: str) -> int:
    return service.new_item(actor, "rectification", "village-a1",
                            values={"description": "d"})


def test_reopening_between_steps_gives_identical_history(db_url: str, clock: FixedClock,
                                                         tmp_path: Path) -> None:
    """Save/restore: the same scenario straight through and with a fresh Service per step."""
    from .conftest import make_service
    def scenario(fresh: bool, sub: str) -> list[tuple]:
        clock.set(START)
        first = make_service(db_url, clock, tmp_path / sub)

        def get() -> Service:
            if not fresh:
                return first
            return Service(open_engine(db_url), clock, files_dir=tmp_path / sub)

        item_id = new(get())
        for step in (lambda s: s.advance(item_id, "li", "assign"),
                     lambda s: s.assign(item_id, "li", "sun", due="2025-10-31", comment="延期"),
                     lambda s: s.advance(item_id, "wang", "hold_accountable")):
            clock.advance(hours=1)
            step(get())
        with read(get().engine) as conn:
            return [(r["kind"], r["trigger"], r["source"], r["dest"], r["actor"], r["at"],
                     r["data"]) for r in store.history(conn, item_id)]

    straight = scenario(False, "a")
    with write(open_engine(db_url)) as conn:  # a clean slate for the second run
        for table in ("outbox", "attachments", "escalation_steps", "history", "items"):
            conn.execute(text(f"delete from {table}"))
    assert scenario(True, "b") == straight


def test_assign_with_due_moves_the_ladder(service: Service) -> None:
    """A new --due moves the deadline and the pending steps of the current entry."""
    item_id = new(service)
    service.advance(item_id, "li", "assign")
    service.assign(item_id, "wang", "sun", due="2025-11-28", comment="延期")
    detail = item_detail(service, item_id, "sun")
    assert detail["assignee"] == "sun" and detail["due_at"].startswith("2025-11-28T23:59:59")
    assert detail["pending_escalations"][1]["at"].startswith("2025-11-28T23:59:59")
    assert "submit" in detail["triggers"]


def test_list_filters(service: Service) -> None:
    """Filters by state, unit subtree, assignee and overdue."""
    a, b = new(service), new(service)
    service.advance(a, "li", "assign")
    assert [r["id"] for r in item_rows(service, ItemFilter(state="rectifying"))] == [a]
    assert {r["id"] for r in item_rows(service, ItemFilter(unit="town-a"))} == {a, b}
    assert list(item_rows(service, ItemFilter(unit="town-b"))) == []
    service.clock.set(datetime.fromisoformat("2025-12-31T00:00:00+08:00"))
    assert {r["id"] for r in item_rows(service, ItemFilter(overdue=True))} == {a}
    assert [r["light"] for r in item_rows(service, ItemFilter(state="rectifying"))] == ["red"]


def test_naive_timestamps_are_refused(service: Service) -> None:
    """The UTC column type rejects naive datetimes."""
    item_id = new(service)
    with read(service.engine) as conn:
        item = store.get_item(conn, item_id)
    entry = store.HistoryEntry(kind="transition", actor="li", at=datetime(2025, 1, 1))
    with pytest.raises(Exception, match="naive"), write(service.engine) as conn:
        store.apply_write(conn, store.ItemWrite(item=item, values={}, history=entry))


def test_schema_head_constant_is_alembics_head() -> None:
    """Commands compare the database with SCHEMA_HEAD without importing Alembic; a new
    migration must move the constant with it."""
    from rectify.engine.store.db import SCHEMA_HEAD, alembic_head

    assert alembic_head() == SCHEMA_HEAD


def test_the_hash_format_never_changes() -> None:
    """Every stored chain was hashed with this exact canonical form: a change to it (even an
    equivalent-looking one) would make `audit verify` report every database as tampered."""
    from datetime import UTC

    from rectify.engine.core.audit import row_hash

    row = {"item_id": 7, "seq": 2, "kind": "transition", "trigger": "submit",
           "source": "rectifying", "dest": "verifying", "actor": "zhang",
           "at": datetime(2025, 9, 30, 8, 15, tzinfo=UTC), "comment": "已整改，附照片",
           "data": {"changes": {"amount": [None, 3200.5]}, "attachments": [{"name": "照片.jpg"}]}}
    assert row_hash("ab" * 32, row) == \
        "edcbebdc8113a53479bad7c4c7e9c2f9d7cc534aa88cf84de5060a7f2cb8db10"
