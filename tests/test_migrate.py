"""Moving running items to a new workflow version (`workflow migrate`) and comparing versions
(`workflow diff`), on SQLite and PostgreSQL: refusals write nothing, --map moves items, a
concurrent change is reported while the rest move, dry runs write nothing, deadlines and ladders
are recomputed without repeating steps already applied, and the audit chain still verifies.

The workflow is tests/fixtures/migrate_v1.yaml, changed by migrate_v2.yaml."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rectify.commands.support import exit_code
from rectify.engine.app import migration as migrator
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.core.audit import verify_chain
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import NotFound, Refused, UsageError
from rectify.engine.core.escalation import schedule
from rectify.engine.core.loader import load_workflow_file
from rectify.engine.core.state_map import parse_mapping
from rectify.engine.core.versions import ItemFacts, carry_fields, move_item
from rectify.engine.store import items as store
from rectify.engine.store.db import read

from .cli_inprocess import invoke
from .conftest import FIXTURES, START, make_service

V1, V2 = FIXTURES / "migrate_v1.yaml", FIXTURES / "migrate_v2.yaml"
SH = "+08:00"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class World:
    """Items of `complaint` v1 in each state, then v2 loaded."""

    service: Service
    registered: int  # 特急, with a phone number and an amount as text
    handling: int  # assigned at START; its 提醒 applied before the migration
    reviewing: int  # replied: in a state v2 does not have
    done: int  # closed: never migrated


def _new(service: Service, **values: str) -> int:
    return service.new_item("li", "complaint", "village-a1", assignee="zhang",
                            values={"content": "反映村道损坏", **values})


def build(service: Service) -> World:
    clock: FixedClock = service.clock  # type: ignore[assignment]
    service.load_workflow(V1)
    registered = _new(service, urgency="特急", phone="13800000009", amount="1200")
    handling = _new(service, urgency="一般", phone="13800000010")
    reviewing, done = _new(service), _new(service)
    for item_id in (handling, reviewing, done):
        service.advance(item_id, "li", "assign")
    for item_id in (reviewing, done):
        service.advance(item_id, "zhang", "reply", values={"reply": "已修复"})
    service.advance(done, "zhao", "approve")
    clock.set(at(f"2025-10-15T10:00:00{SH}"))  # v1's 提醒 (2 workdays before the deadline)
    assert [e["level"] for e in sweep(service).escalations] == ["提醒"]
    service.load_workflow(V2)
    return World(service, registered, handling, reviewing, done)


@pytest.fixture
def world(service: Service) -> World:
    return build(service)


def snapshot(service: Service) -> tuple[Any, ...]:
    """Every item, history row and ladder row of the database."""
    with read(service.engine) as conn:
        items = [store.to_record(r) for r in
                 conn.execute(store.select_items().order_by(store.ITEMS.c.id))]
        rows = list(store.iter_history(conn))
        steps = [store.steps_of(conn, i.id) for i in items]
    return items, rows, steps


def chain_ok(service: Service) -> None:
    with read(service.engine) as conn:
        rows = list(store.iter_history(conn))
    for item_id, group in itertools.groupby(rows, key=lambda r: r["item_id"]):
        assert verify_chain(item_id, group) is None


def item(service: Service, item_id: int) -> store.ItemRecord:
    with read(service.engine) as conn:
        return store.get_item(conn, item_id)


def run(service: Service, mapping: dict[str, str] | None = None, *, dry_run: bool = False,
        actor: str = "wang") -> tuple[migrator.MigrationReport, list[dict[str, Any]]]:
    plan = migrator.prepare(service, "complaint", 2, mapping or {})
    results: list[dict[str, Any]] = []
    report = migrator.migrate(service, plan, actor=actor, dry_run=dry_run,
                              on_item=results.append)
    return report, results


# --- refusals ------------------------------------------------------------------------------------

def test_unmapped_state_is_refused_with_counts_and_nothing_written(world: World) -> None:
    """Items in 审核中, which v2 lacks: refused (exit 3), the state and its count named."""
    before = snapshot(world.service)
    plan = migrator.prepare(world.service, "complaint", 2, {})
    assert [(m.source, m.dest, m.items, m.problem) for m in plan.moves] == [
        ("registered", "registered", 1, None), ("handling", "handling", 1, None),
        ("reviewing", None, 1, "missing")]
    refused = plan.refusal()
    assert refused is not None and exit_code(refused) == 3
    assert "审核中 (reviewing): 1 item" in str(refused) and "--map" in str(refused)
    with pytest.raises(Refused, match="审核中"):
        migrator.migrate(world.service, plan, actor="system")
    assert snapshot(world.service) == before


@pytest.mark.parametrize("mapping, error, match", [
    ({"reviewing": "chekcing"}, UsageError, "did you mean 'checking'"),
    ({"reviewng": "checking"}, UsageError, "no other version .* 'reviewng'"),
    ({"reviewing": "done"}, Refused, "final state in v2"),
])
def test_bad_mappings(world: World, mapping: dict[str, str], error: type[Exception],
                      match: str) -> None:
    """Both sides of a --map must name states; the target may not be a final state."""
    with pytest.raises(error, match=match):
        migrator.prepare(world.service, "complaint", 2, mapping)


def test_unknown_workflow_or_version_and_bad_map_syntax(world: World) -> None:
    """Not found (exit 4) for an unknown version or workflow; usage (exit 2) for a bad --map."""
    with pytest.raises(NotFound, match="complaint v7") as info:
        migrator.prepare(world.service, "complaint", 7, {})
    assert exit_code(info.value) == 4
    with pytest.raises(NotFound, match="nosuch"):
        migrator.prepare(world.service, "nosuch", 1, {})
    with pytest.raises(UsageError, match="expected OLD_STATE=NEW_STATE"):
        parse_mapping(["reviewing"])
    with pytest.raises(UsageError, match="given twice"):
        parse_mapping(["a=b", "a=c"])
    with pytest.raises(Refused, match="not a person"):
        migrator.actor_id(world.service, "nobody")


# --- dry run and migration -----------------------------------------------------------------------

def test_dry_run_reports_the_plan_and_writes_nothing(world: World) -> None:
    """Per-item results and the summary of a real run, and the database unchanged."""
    before = snapshot(world.service)
    report, results = run(world.service, {"reviewing": "checking"}, dry_run=True)
    assert report.as_json()["would_migrate"] == 3 and report.fields_dropped == {
        "phone": 2, "urgency": 1}
    assert {r["id"]: (r["dest"], r["status"]) for r in results} == {
        world.registered: ("registered", "would migrate"),
        world.handling: ("handling", "would migrate"),
        world.reviewing: ("checking", "would migrate")}
    assert snapshot(world.service) == before


def test_migration_moves_items_fields_and_history(world: World) -> None:
    """--map moves 审核中 to 核查中; fields v2 cannot hold leave the item but stay in history;
    a closed item stays on v1; each moved item gets one `migrate` history row."""
    s = world.service
    report, results = run(s, {"reviewing": "checking"})
    assert (report.migrated, report.conflicts, report.refused) == (3, 0, 0)
    assert {r["status"] for r in results} == {"migrated"}
    moved = {i: item(s, i) for i in (world.registered, world.handling, world.reviewing)}
    assert [m.state for m in moved.values()] == ["registered", "handling", "checking"]
    assert len({m.workflow_version_id for m in moved.values()}) == 1
    assert item(s, world.done).workflow_version_id != moved[world.handling].workflow_version_id
    assert moved[world.registered].fields == {"content": "反映村道损坏", "amount": 1200}
    with read(s.engine) as conn:
        last = store.history(conn, world.registered)[-1]
    assert (last["kind"], last["actor"], last["source"], last["dest"]) == (
        "migrate", "wang", "registered", "registered")
    data = last["data"]
    assert (data["from_version"], data["to_version"], data["mapping"]) == (
        1, 2, {"reviewing": "checking"})
    assert data["dropped_fields"] == {
        "urgency": {"value": "特急", "reason": "'特急' is no longer one of the choices"},
        "phone": {"value": "13800000009", "reason": "not a field of the new version"}}
    assert data["converted_fields"] == {"amount": ["1200", 1200]}
    chain_ok(s)
    # The moved items run on v2's rules: 核查中 is approved by a leader now.
    s.advance(world.reviewing, "wang", "approve")
    assert item(s, world.reviewing).final
    again, _ = run(s)
    assert again.migrated == 0  # nothing left to move: running it twice is harmless


def test_deadline_and_ladder_recomputed_without_repeating_applied_steps(world: World) -> None:
    """The handling item keeps its entry time; its deadline is v2's 15 workdays from it; the
    提醒 applied under v1 is not planned again (matched by level, though v2 inserted 预警
    before it); the other v2 steps fire once each on later sweeps."""
    s = world.service
    before = item(s, world.handling)
    report, results = run(s, {"reviewing": "checking"})
    after = item(s, world.handling)
    spec = load_workflow_file(V2)
    plan = schedule(spec, "handling", before.entered_at, s.calendar())
    assert (after.entered_at, after.due_at) == (before.entered_at, plan.due_at)
    assert after.due_at is not None and after.due_at > before.due_at  # type: ignore[operator]
    assert after.entry_no == before.entry_no + 1
    with read(s.engine) as conn:
        steps = store.steps_of(conn, world.handling)
    pending = [(r["step_index"], r["due_at"]) for r in steps if r["status"] == "pending"]
    assert pending == [(i, plan.steps[i].at) for i in (0, 2, 3)]  # 预警, 督办, 约谈
    old_ladder = [r["status"] for r in steps if r["entry_no"] == before.entry_no]
    assert old_ladder == ["applied", "cancelled", "cancelled"]  # v1's 提醒 stays applied
    result = next(r for r in results if r["id"] == world.handling)
    assert result["steps_already_applied"] == ["提醒"] and result["steps_planned"] == 3
    assert report.steps_done == 1
    s.clock.set(at(f"2026-01-30T10:00:00{SH}"))  # type: ignore[attr-defined]
    levels = [e["level"] for e in sweep(s).escalations if e["item"] == world.handling]
    assert sorted(levels) == ["督办", "约谈", "预警"]
    assert sweep(s).escalations == []
    with read(s.engine) as conn:
        applied = [r["data"]["level"] for r in store.history(conn, world.handling)
                   if r["kind"] == "escalation"]
    assert sorted(applied) == ["提醒", "督办", "约谈", "预警"]  # 提醒 once, as under v1
    chain_ok(s)


def test_concurrent_change_is_reported_and_the_rest_migrate(world: World,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """An item advanced between the migration's read and its write: that item is reported as
    a conflict and left as the advance made it; the others move; a second run moves it."""
    s = world.service
    read_batch = migrator._read_batch

    def then_someone_replies(*args: Any, **kwargs: Any) -> Any:
        found = read_batch(*args, **kwargs)
        if found[0]:
            s.advance(world.handling, "zhang", "reply", values={"reply": "已答复"})
        return found

    monkeypatch.setattr(migrator, "_read_batch", then_someone_replies)
    report, results = run(s, {"reviewing": "checking"})
    monkeypatch.undo()
    assert (report.migrated, report.conflicts) == (2, 1)
    conflict = next(r for r in results if r["status"] == "conflict")
    assert conflict["id"] == world.handling and "changed by someone else" in str(conflict["error"])
    handled = item(s, world.handling)
    assert handled.state == "reviewing"  # the reply stands, on v1
    assert item(s, world.registered).state == "registered"
    chain_ok(s)
    again, results = run(s, {"reviewing": "checking"})
    assert (again.migrated, results[0]["id"], results[0]["dest"]) == (1, world.handling,
                                                                       "checking")
    chain_ok(s)


def test_item_moving_into_an_unmapped_state_mid_run_is_refused(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan had no item in 审核中 to map; one arrives there before its batch is read: that
    item is reported as refused, the rest move."""
    s = world.service
    s.advance(world.reviewing, "zhao", "approve")  # no item is in 审核中 now
    plan = migrator.prepare(s, "complaint", 2, {})
    assert plan.refusal() is None
    s.advance(world.handling, "zhang", "reply", values={"reply": "已答复"})
    results: list[dict[str, Any]] = []
    report = migrator.migrate(s, plan, actor="system", on_item=results.append)
    assert (report.migrated, report.refused) == (1, 1)
    assert next(r for r in results if r["status"] == "refused")["id"] == world.handling


def test_streams_in_batches(service: Service) -> None:
    """60 seeded items moved 7 at a time: every one once, progress per batch, chains intact."""
    from rectify.engine.store import repo

    from .seeding import seed

    service.load_workflow(V1)
    with read(service.engine) as conn:
        v1 = repo.workflow_version(conn, "complaint", 1).id
    seed(service.engine, v1, "complaint", "handling", "village-a1", 60, entered=START,
         due=START, step_at=START)
    service.load_workflow(V2)
    plan = migrator.prepare(service, "complaint", 2, {})
    batches: list[int] = []
    report = migrator.migrate(service, plan, actor="system", batch=7, progress=batches.append)
    assert report.migrated == 60 and batches == [7] * 8 + [4]
    assert migrator.prepare(service, "complaint", 2, {}).items == 0
    chain_ok(service)


# --- the pure parts ------------------------------------------------------------------------------

def test_ladder_steps_pair_up_by_action() -> None:
    """Applied 提醒 and 督办 match v2's steps of the same level wherever they stand; two
    applied 提醒 only cover one v2 提醒; the rest are planned."""
    old, new = load_workflow_file(V1), load_workflow_file(V2)
    facts = ItemFacts("handling", {}, START, None, False)
    from rectify.engine.core.calendar import WorkCalendar

    move = move_item(facts, old, new, "handling", ["提醒", "提醒", "督办"], WorkCalendar(),
                     START)
    assert move.done == ("提醒", "督办")
    assert [s.index for s in move.schedule.steps] == [0, 3] and move.due_now == 0


def test_fields_carried_converted_or_dropped() -> None:
    """Same type: kept; a choice no longer offered, a removed field, text that is not a number
    for a number field: dropped with the reason; empty values are never reported."""
    old, new = load_workflow_file(V1), load_workflow_file(V2)
    kept, dropped, converted = carry_fields(old, new, {
        "content": "c", "urgency": "紧急", "amount": "约三千", "phone": "", "reply": None})
    assert kept == {"content": "c", "urgency": "紧急", "reply": None}
    assert dropped == {"amount": {"value": "约三千", "reason": "type changed from text to number"}}
    assert converted == {}


# --- diff ----------------------------------------------------------------------------------------

def test_diff_names_changes_and_counts_items(world: World) -> None:
    """Every kind of change, each with the running v1 items it touches."""
    report = migrator.diff(world.service, "complaint", 1, 2)
    assert report.in_flight == 3
    found = {(c.kind, c.name): (c.change, n, c.details) for c, n in report.changes}
    assert found[("state", "reviewing")][:2] == ("removed", 1)
    change, n, details = found[("state", "handling")]
    assert (change, n) == ("changed", 1)
    assert ("deadline", "10 workdays", "15 workdays") in details
    assert found[("state", "checking")][:2] == ("added", 0)
    assert found[("field", "phone")][:2] == ("removed", 2)
    assert found[("field", "urgency")][:2] == ("changed", 2)
    assert found[("field", "amount")] == ("changed", 1, (("type", "text", "number"),))
    assert found[("field", "result")][:2] == ("added", 0)
    assert found[("transition", "reply from handling")] == (
        "changed", 1, (("dest", "reviewing", "checking"),))
    assert found[("transition", "approve from reviewing")][:2] == ("removed", 1)
    assert found[("transition", "approve from checking")][:2] == ("added", 0)
    assert ("transition", "assign from registered") not in found
    assert migrator.diff(world.service, "complaint", 2, 2).changes == ()


# --- the command line ----------------------------------------------------------------------------

RECTIFY = shutil.which("rectify", path=str(Path(sys.executable).parent)) or "rectify"


@pytest.fixture
def cli_world(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[World, Any]]:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    service = make_service(url, clock, tmp_path)
    world = build(service)

    def rectify(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
        return invoke([RECTIFY, "--db", url, "--now", f"2025-10-15T11:00:00{SH}", *args],
                      env, tmp_path)

    yield world, rectify
    service.engine.dispose()


def test_cli_migrate_and_diff(cli_world: tuple[World, Any]) -> None:
    """Exit codes 3, 2, 4 with one line on stderr; a JSON dry run (--map by the states'
    labels); the real run with --as (--map by ids);
    `audit verify` passes; `item show` has the migrate row; diff as text and JSON."""
    world, rectify = cli_world
    migrate = ("workflow", "migrate", "complaint")
    refused, bad, missing, dry, diff_text = _side_by_side(rectify, [
        (*migrate, "--to", "2"), (*migrate, "--to", "2", "--map", "reviewing"),
        (*migrate, "--to", "v9"),
        ("--json", *migrate, "--to", "v2", "--map", "审核中=核查中", "--dry-run"),  # labels
        ("workflow", "diff", "complaint", "1", "2")])
    assert refused.returncode == 3 and "✗ v2 has no such state" in refused.stdout
    assert refused.stderr.count("\n") == 1 and "审核中 (reviewing): 1 item" in refused.stderr
    assert bad.returncode == 2 and "OLD_STATE=NEW_STATE" in bad.stderr
    assert missing.returncode == 4 and "complaint v9" in missing.stderr
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    assert [p["items"] for p in doc["plan"]] == [1, 1, 1] and doc["dry_run"] is True
    assert {i["status"] for i in doc["items"]} == {"would migrate"}
    assert doc["summary"]["would_migrate"] == 3
    assert diff_text.returncode == 0, diff_text.stderr
    assert "  - reviewing  审核中  [1 item running]" in diff_text.stdout
    assert "      deadline: 10 workdays -> 15 workdays" in diff_text.stdout
    assert "  - phone  联系电话  [2 items with a value]" in diff_text.stdout

    done = rectify("--as", "wang", *migrate, "--to", "2", "--map", "reviewing=checking",
                   "--comment", "按新规调整")
    assert done.returncode == 0, done.stderr
    assert "migrated 3 items to v2" in done.stdout and "phone 2" in done.stdout
    audit, shown, diff = _side_by_side(rectify, [
        ("audit", "verify"), ("--json", "item", "show", str(world.reviewing)),
        ("--json", "workflow", "diff", "complaint", "1", "2")])
    assert audit.returncode == 0, audit.stderr
    card = json.loads(shown.stdout)
    assert (card["version"], card["state"]) == (2, "checking")
    last = card["history"][-1]
    assert (last["trigger"], last["actor"], last["comment"]) == ("migrate", "wang", "按新规调整")
    changes = json.loads(diff.stdout)
    assert changes["in_flight"] == 0  # all moved on
    assert {f["name"]: f["change"] for f in changes["fields"]} == {
        "content": "changed", "urgency": "changed", "amount": "changed", "result": "added",
        "phone": "removed"}


def _side_by_side(rectify: Any, calls: list[tuple[str, ...]]
                  ) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands, one after another."""
    return [rectify(*args) for args in calls]
