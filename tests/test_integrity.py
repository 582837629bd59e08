"""Tamper evidence that covers the ends (contract section 6), on SQLite and PostgreSQL: each
kind of direct database edit is caught by `audit verify` with one line per broken item, and an
anchor pins everything written before it, even a whole deleted item."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rectify.engine.app import admin
from rectify.engine.app.integrity import make_anchor, verify
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.core.clock import FixedClock
from sqlalchemy import text

from .conftest import FIXTURES, make_service

EVIDENCE = b"photo"


@pytest.fixture
def svc(db_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Service]:
    service = make_service(db_url, clock, tmp_path)
    yield service
    service.engine.dispose()


def _busy(svc: Service, clock: FixedClock, tmp_path: Path) -> list[int]:
    """Three items with histories of several kinds: assigned, escalated, submitted with a file."""
    photo = tmp_path / "照片.jpg"
    photo.write_bytes(EVIDENCE)
    items = [svc.new_item("li", "rectification", "village-a1", assignee="zhang",
                          values={"description": f"问题{i}"}) for i in range(3)]
    for item in items:
        svc.advance(item, "li", "assign")
    clock.advance(timedelta(days=20))
    sweep(svc)  # the reminder (-2 workdays) of each
    svc.advance(items[1], "zhang", "submit", values={"measures": "已改"}, attach=[photo])
    return items


def _sql(svc: Service, statement: str, **params: object) -> int:
    with svc.engine.begin() as conn:
        return int(conn.execute(text(statement), params).rowcount)


def _broken(svc: Service, **kwargs: object) -> list[str]:
    verdict = verify(svc, **kwargs)  # type: ignore[arg-type]
    assert verdict.items >= 1
    return verdict.broken


EDITS: dict[str, tuple[str, str]] = {
    "tail row deleted": ("delete from history where item_id = :item and seq = "
                         "(select max(seq) from history where item_id = :item)",
                         "was removed from the end of its history"),
    "whole history deleted": ("delete from history where item_id = :item",
                              "its whole history is missing"),
    "state edited": ("update items set state = 'closed' where id = :item",
                     "changed in the database without a history row"),
    "assignee edited": ("update items set assignee_id = 'sun' where id = :item",
                        "without a history row"),
    "deadline edited": ("update items set due_at = due_at + interval '30 days' where id = :item",
                        "without a history row"),
    "step postponed": ("update escalation_steps set planned_at = planned_at + interval '9 days',"
                       " due_at = due_at + interval '9 days' where item_id = :item and "
                       "status = 'pending'", "moved away from the deadline"),
    "step cancelled": ("update escalation_steps set status = 'cancelled', due_at = null "
                       "where item_id = :item and status = 'pending'", "cancelled"),
    "step deleted": ("delete from escalation_steps where item_id = :item and status = 'pending' "
                     "and step_index = 1", "rows of the current state entry were added or removed"),
    "applied step reset": ("update escalation_steps set status = 'pending' where item_id = :item "
                           "and status = 'applied'", "was applied but its row says pending"),
    "attachment renamed": ("update attachments set name = 'other.jpg' where item_id = :item",
                           "attachment rows do not match"),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_a_direct_edit_is_caught(svc: Service, clock: FixedClock, tmp_path: Path,
                                 name: str) -> None:
    """Each edit breaks exactly the edited item, named on one line; the others still verify."""
    items = _busy(svc, clock, tmp_path)
    assert _broken(svc) == []
    statement, words = EDITS[name]
    if svc.engine.dialect.name == "sqlite":  # the same shift, in SQLite's date arithmetic
        for unit in ("30 days", "9 days"):
            for column in ("due_at", "planned_at"):
                statement = statement.replace(f"{column} + interval '{unit}'",
                                              f"datetime({column}, '+{unit}')")
    target = items[1] if "attachment" in name else items[0]
    if "step" in name and "applied" not in name:
        target = items[2]
    assert _sql(svc, statement, item=target) >= 1
    broken = _broken(svc)
    assert len(broken) == 1, broken
    assert broken[0].startswith(f"item {target}: ") and words in broken[0], broken


def test_an_anchor_pins_whole_items_and_the_admin_log(svc: Service, clock: FixedClock,
                                                      tmp_path: Path) -> None:
    """An item deleted with everything that names it leaves no trace but in the anchor; the
    anchor names it, and an edited admin log, each on its own line."""
    items = _busy(svc, clock, tmp_path)
    admin.load_org(svc, FIXTURES / "org.yaml", None)
    anchor = make_anchor(svc)
    assert anchor["items"] == 3 and len(anchor["digest"]) == 64
    svc.advance(items[2], "zhang", "submit", values={"measures": "后来的事"},
                attach=[tmp_path / "照片.jpg"])
    assert _broken(svc, anchor=anchor) == []  # writing after the anchor is no tampering
    for table in ("outbox", "escalation_steps", "attachments", "history"):
        _sql(svc, f"delete from {table} where item_id = :item", item=items[0])
    _sql(svc, "delete from items where id = :item", item=items[0])
    _sql(svc, "update admin_log set target = 'elsewhere.yaml'")
    assert _broken(svc) == ["admin log: action 1 was changed after it was written"]
    broken = _broken(svc, anchor=anchor)
    assert any(b.startswith(f"item {items[0]}: history row") and "is gone" in b for b in broken)
    assert len(broken) == 2, broken


EDIT_ANY = [
    "update items set state = 'x' || state where id = :item",
    "update items set fields = '{\"description\": \"改\"}' where id = :item",
    "update items set assignee_id = null where id = :item",
    "update items set entry_no = entry_no + 1 where id = :item",
    "update items set unit_id = 'village-a2' where id = :item",
    "update history set comment = 'x' where item_id = :item and seq = 1",
    "update history set actor = 'sun' where item_id = :item and seq = 2",
    "update history set data = '{}' where item_id = :item and seq = 1",
    "update history set at = '2020-01-01 00:00:00' where item_id = :item and seq = 2",
    "delete from history where item_id = :item and seq = "
    "(select max(seq) from history where item_id = :item)",
]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_cell_edit_or_tail_deletion_is_detected(
        sqlite_service: Service, clock: FixedClock, tmp_path: Path, data: st.DataObject) -> None:
    """Hypothesis: change one cell of a random item or history row, or drop the newest row of
    a chain; `audit verify` always names that item and no other."""
    import shutil

    svc = sqlite_service
    db, pristine = Path(str(svc.engine.url.database)), tmp_path / "pristine.db"
    if not pristine.exists():
        _busy(svc, clock, tmp_path)
        svc.engine.dispose()
        shutil.copy2(db, pristine)
    svc.engine.dispose()
    shutil.copy2(pristine, db)
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    item = data.draw(st.sampled_from([1, 2, 3]), label="item")
    statement = data.draw(st.sampled_from(EDIT_ANY), label="edit")
    assert _sql(svc, statement, item=item) == 1
    broken = verify(svc).broken
    assert [b.split(":")[0] for b in broken] == [f"item {item}"], broken


def test_evidence_given_again_after_a_rejection_leaves_the_audit_clean(
        svc: Service, clock: FixedClock, tmp_path: Path) -> None:
    """A rectifier sent back by the acceptor resubmits with the same photo (under another name
    too, and twice in one call) plus a new one: the photo is stored once, and `audit verify`
    on the untouched database still passes (before, it failed with "its attachment rows do not
    match the files its history recorded")."""
    photo, again, new = tmp_path / "照片.jpg", tmp_path / "再交.jpg", tmp_path / "新照片.jpg"
    photo.write_bytes(EVIDENCE)
    again.write_bytes(EVIDENCE)
    new.write_bytes(b"another photo")
    item = svc.new_item("li", "rectification", "village-a1", assignee="zhang",
                        values={"description": "问题"})
    svc.advance(item, "li", "assign")
    svc.advance(item, "zhang", "submit", values={"measures": "已改"}, attach=[photo])
    svc.advance(item, "zhao", "reject", comment="照片不清")
    svc.advance(item, "zhang", "submit", attach=[again, photo, new])
    assert _broken(svc) == []
    files = _sql(svc, "update attachments set size = size where item_id = :item", item=item)
    assert files == 2  # 照片.jpg once, 新照片.jpg once


def test_a_photo_recorded_twice_by_an_older_rectify_still_verifies() -> None:
    """A database written before a photo given again was recorded only once: its history
    lists the photo in both submissions (once under another name), its attachment rows hold
    it once, and that is not a finding; a row whose name, size or file was changed, a row
    removed and a row added still are."""
    from rectify.engine.app.integrity import _check_files

    photo = {"sha256": "a" * 64, "name": "照片.jpg", "size": 10}
    new = {"sha256": "b" * 64, "name": "新照片.jpg", "size": 5}
    history = [{"data": {"attachments": [photo]}},
               {"data": {"attachments": [{**photo, "name": "再交.jpg"}, photo, new]}}]
    assert _check_files(history, [photo, new]) is None
    for rows in ([{**photo, "name": "别的.jpg"}, new], [{**photo, "size": 11}, new],
                 [{**photo, "sha256": "c" * 64}, new], [photo],
                 [photo, new, {**new, "sha256": "d" * 64}]):
        assert _check_files(history, rows) is not None, rows
