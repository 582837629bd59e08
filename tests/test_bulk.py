"""Bulk actions: every matching item decided like a single advance, refusals reported and left
alone, the rest written in batches with valid history chains; dry runs write nothing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from rectify.engine.app.bulk import BulkResult, bulk
from rectify.engine.app.service import Service
from rectify.engine.app.views import ItemFilter
from rectify.engine.core.audit import verify_chain
from rectify.engine.store import items as store
from rectify.engine.store.db import read

from . import test_cli_items
from .test_cli_items import Cli, refused

base = test_cli_items.base  # the module's initialised database, copied by each CLI test


def _new(service: Service, unit: str, description: str | None = "户籍信息与实际不符",
         assignee: str | None = "zhang") -> int:
    values = {"description": description} if description else {}
    return service.new_item("qian", "rectification", unit, assignee=assignee, values=values)


def _snapshot(service: Service) -> dict[int, tuple[str, int, int]]:
    with read(service.engine) as conn:
        rows = conn.execute(store.select_items()).all()
    return {r.id: (r.state, r.version, r.last_seq) for r in rows}


def _chains_ok(service: Service) -> int:
    with read(service.engine) as conn:
        history = list(store.iter_history(conn))
    for item_id, rows in itertools.groupby(history, key=lambda r: r["item_id"]):
        assert verify_chain(item_id, rows) is None
    return len(history)


def test_bulk_fires_where_allowed_and_reports_each_refusal(service: Service) -> None:
    """Bulk fires each item a single advance would allow (history, ladder and hash
    chain as for one advance) and leaves each refused item untouched with its
    reason."""
    town_a = [_new(service, "village-a1") for _ in range(7)]
    no_description = _new(service, "village-a2", description=None)
    town_b = [_new(service, "village-b1") for _ in range(3)]
    before = _snapshot(service)
    results: list[BulkResult] = []

    summary = bulk(service, "li", "assign", ItemFilter(workflow="rectification"),
                   comment="集中交办", batch=4, on_result=results.append)

    assert (summary.matched, summary.fired, summary.refused) == (11, 7, 4)
    assert summary.reasons == {"role": 3, "missing_field": 1}
    assert [r.item for r in results] == sorted(before)  # every item once, in id order
    after = _snapshot(service)
    for item_id in town_a:
        assert after[item_id] == ("rectifying", before[item_id][1] + 1, 2)
    for item_id in [no_description, *town_b]:
        assert after[item_id] == before[item_id]  # refused: untouched
    why = {r.item: r.message for r in results if not r.fired}
    assert "问题描述" in (why[no_description] or "")
    assert all("城关镇" in (why[i] or "") or "东关村" in (why[i] or "") for i in town_b)
    with read(service.engine) as conn:
        for item_id in town_a:
            history = store.history(conn, item_id)
            assert history[-1]["trigger"] == "assign" and history[-1]["actor"] == "li"
            assert history[-1]["comment"] == "集中交办"
            steps = store.steps_of(conn, item_id)
            assert steps and all(s["entry_no"] == 2 and s["status"] == "pending" for s in steps)
            assert store.get_item(conn, item_id).due_at is not None
    assert _chains_ok(service) == 11 + 7


def test_bulk_dry_run_decides_but_writes_nothing(service: Service) -> None:
    """A dry run decides every item (fired and refused counts) and writes nothing."""
    for _ in range(5):
        _new(service, "village-a1")
    _new(service, "village-b1")
    before = _snapshot(service)
    summary = bulk(service, "li", "assign", ItemFilter(), dry_run=True, batch=2)
    assert (summary.fired, summary.refused, summary.dry_run) == (5, 1, True)
    assert _snapshot(service) == before


def test_bulk_filters_and_second_cycle_per_item(service: Service) -> None:
    """--state and --unit narrow the match; items already moved are not matched again."""
    ids = [_new(service, "village-a1") for _ in range(4)]
    bulk(service, "li", "assign", ItemFilter(state="discovered", unit="village-a1"), batch=3)
    again = bulk(service, "li", "assign", ItemFilter(state="discovered", unit="village-a1"))
    assert again.matched == 0
    leader = bulk(service, "wang", "hold_accountable", ItemFilter(state="rectifying"),
                  comment="逾期未改")
    assert leader.fired == len(ids)
    assert {s[0] for s in _snapshot(service).values()} == {"accountable"}
    _chains_ok(service)


def test_bulk_through_the_cli(base: Cli, tmp_path: Path) -> None:
    """`item bulk` through the CLI: exit 3 with refusals on stderr, --json results,
    --dry-run changing nothing, and the audit chain intact."""
    cli = base.copy_to(tmp_path / "db")
    mine = [cli.new() for _ in range(3)]
    other = cli.new("qian", "village-b1")
    text = cli("item", "bulk", "assign", "--comment", "集中交办", actor="li")
    assert text.returncode == 3  # some refused: said so, the rest committed
    assert f"item {other}: refused" in text.stderr
    assert "fired on 3 of 4 items" in text.stdout
    listed = cli.json("item", "list", "--state", "rectifying")
    assert sorted(r["id"] for r in listed) == mine

    for item_id in mine:
        cli.ok("item", "assign", str(item_id), "zhang", actor="li")
    out = cli("--json", "item", "bulk", "hold_accountable", "--state", "rectifying",
              "--dry-run", actor="wang")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["summary"] == {"trigger": "hold_accountable", "dry_run": True, "matched": 3,
                              "fired": 3, "refused": 0, "reasons": {}}
    assert [r["item"] for r in doc["results"]] == mine
    assert all(r["dest"] == "accountable" for r in doc["results"])
    assert len(cli.json("item", "list", "--state", "rectifying")) == 3  # dry run: unchanged

    refused(cli("item", "bulk", "assign", actor="nobody"), 3, "nobody")
    assert "audit ok" in cli.ok("audit", "verify")


def test_bulk_memory_is_per_batch(sqlite_service: Service, tmp_path: Path) -> None:
    """Results stream out batch by batch: the callback sees the first batch before the last
    is read (a generator-free check that nothing collects every item first)."""
    for _ in range(9):
        _new(sqlite_service, "village-a1")
    seen_when_progress: list[int] = []
    results: list[BulkResult] = []
    bulk(sqlite_service, "li", "assign", ItemFilter(), batch=4, on_result=results.append,
         progress=lambda n: seen_when_progress.append(len(results)))
    assert seen_when_progress == [4, 8, 9]
