"""Real processes racing on one database, SQLite file and PostgreSQL: of two changes to the same
item exactly one lands and the other is told why (exit 5, or 3 if it read the item after the
winner committed); changes to different items all land; nobody sees "database is locked"."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rectify.engine.app.service import Service
from rectify.engine.core.audit import verify_chain
from rectify.engine.store import items as store
from rectify.engine.store.db import read

RUNNER = Path(__file__).parent / "scripts" / "race_cli.py"
NOW = "2025-09-29T10:00:00+08:00"  # the Monday after the items were made
ROUNDS = 6

pytestmark = pytest.mark.slow


def discovered(service: Service, assignee: str = "zhang") -> int:
    return service.new_item("li", "rectification", "village-a1", assignee=assignee,
                            values={"description": "户籍信息与实际不符"})


def accepting(service: Service, tmp_path: Path) -> int:
    item_id = discovered(service)
    service.advance(item_id, "li", "assign")
    evidence = tmp_path / "photo.jpg"
    evidence.write_bytes(b"\xff\xd8 jpeg")
    service.advance(item_id, "zhang", "submit", values={"measures": "已更正"}, attach=[evidence])
    return item_id


def race(tmp_path: Path, sides: dict[str, list[list[str]]]) -> dict[str, list[dict[str, Any]]]:
    """Run each side in its own process; round K starts in all of them at the same moment."""
    sync = tmp_path / "sync"
    sync.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    procs = {}
    for name, plan in sides.items():
        plan_file = sync / f"{name}.json"
        plan_file.write_text(json.dumps(plan), "utf-8")
        procs[name] = subprocess.Popen(
            [sys.executable, str(RUNNER), str(sync), name, str(plan_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for k in range(len(next(iter(sides.values())))):
            deadline = time.monotonic() + 120
            while not all((sync / f"{name}-{k}.ready").exists() for name in sides):
                dead = {n: p.poll() for n, p in procs.items() if p.poll() is not None}
                assert not dead and time.monotonic() < deadline, \
                    {n: procs[n].communicate() for n in dead}
                time.sleep(0.001)  # synchronisation only: waiting for the other processes
            (sync / f"go-{k}").touch()
        outputs = {name: p.communicate(timeout=120) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    results = {}
    for name, (out, err) in outputs.items():
        assert procs[name].returncode == 0 and err == "", (name, err)
        results[name] = [json.loads(line) for line in out.splitlines()]
    return results


def clean(result: dict[str, Any]) -> None:
    """No lock errors and no traceback; a refusal is one line on stderr."""
    assert "database is locked" not in result["stderr"].lower()
    assert "Traceback" not in result["stderr"]
    if result["code"] != 0:
        assert len(result["stderr"].strip().splitlines()) == 1, result["stderr"]


def history_len(service: Service, item_id: int) -> int:
    with read(service.engine) as conn:
        return len(store.history(conn, item_id))


def chain_ok(service: Service) -> None:
    with read(service.engine) as conn:
        rows = list(store.iter_history(conn))
    for item_id, group in itertools.groupby(rows, key=lambda r: r["item_id"]):
        assert verify_chain(item_id, group) is None


def cli_args(db_url: str, actor: str, *args: str) -> list[str]:
    return ["--db", db_url, "--as", actor, "--now", NOW, "--json", *args]


def assert_one_winner(service: Service, item_id: int, before: int,
                      pair: list[dict[str, Any]]) -> dict[str, Any]:
    """Exactly one of two racing commands succeeded; the other was told why; one row added."""
    for result in pair:
        clean(result)
    codes = sorted(r["code"] for r in pair)
    assert codes in ([0, 3], [0, 5]), pair
    loser = next(r for r in pair if r["code"] != 0)
    if loser["code"] == 5:
        assert "changed by someone else" in loser["stderr"]
    else:
        assert "not possible in state" in loser["stderr"]
    assert history_len(service, item_id) == before + 1
    return json.loads(next(r for r in pair if r["code"] == 0)["stdout"])


def test_accept_against_reject(service: Service, db_url: str, tmp_path: Path) -> None:
    """Two acceptors decide the same submitted item at once: one decision, one history row."""
    items = [accepting(service, tmp_path) for _ in range(ROUNDS)]
    before = {i: history_len(service, i) for i in items}
    results = race(tmp_path, {
        "accept": [cli_args(db_url, "zhao", "item", "advance", str(i), "accept") for i in items],
        "reject": [cli_args(db_url, "sun", "item", "advance", str(i), "reject",
                            "--comment", "照片不清") for i in items],
    })
    for k, item_id in enumerate(items):
        won = assert_one_winner(service, item_id, before[item_id],
                                [results["accept"][k], results["reject"][k]])
        with read(service.engine) as conn:
            item = store.get_item(conn, item_id)
        assert item.state == won["dest"] and won["dest"] in ("closed", "rectifying")
        assert item.version == 4  # created, assigned, submitted, decided once
    chain_ok(service)


def test_two_inspectors_assign_at_once(service: Service, db_url: str, tmp_path: Path) -> None:
    """The inspector and the leader fire `assign` on the same new item at once: one wins."""
    items = [discovered(service) for _ in range(ROUNDS)]
    results = race(tmp_path, {
        "li": [cli_args(db_url, "li", "item", "advance", str(i), "assign") for i in items],
        "wang": [cli_args(db_url, "wang", "item", "advance", str(i), "assign",
                          "--comment", "请尽快整改") for i in items],
    })
    for k, item_id in enumerate(items):
        won = assert_one_winner(service, item_id, 1, [results["li"][k], results["wang"][k]])
        assert (won["source"], won["dest"]) == ("discovered", "rectifying")
    chain_ok(service)


def test_two_reassignments_at_once(service: Service, db_url: str, tmp_path: Path) -> None:
    """Two `item assign` at once: each lands or is a clean conflict; the rows match the wins."""
    items = [discovered(service) for _ in range(3)]
    results = race(tmp_path, {
        "to_sun": [cli_args(db_url, "li", "item", "assign", str(i), "sun") for i in items],
        "to_zhang": [cli_args(db_url, "wang", "item", "assign", str(i), "zhang",
                              "--due", "2025-10-31", "--comment", "另派") for i in items],
    })
    for k, item_id in enumerate(items):
        pair = [results["to_sun"][k], results["to_zhang"][k]]
        for result in pair:
            clean(result)
            assert result["code"] in (0, 5), result
        wins = [json.loads(r["stdout"])["assignee"] for r in pair if r["code"] == 0]
        assert wins and history_len(service, item_id) == 1 + len(wins)
        with read(service.engine) as conn:
            assert store.get_item(conn, item_id).assignee_id in wins
    chain_ok(service)


def test_four_items_at_once(service: Service, db_url: str, tmp_path: Path) -> None:
    """Four processes change four different items at once: all succeed (the busy timeout
    queues SQLite's writers), no lock errors."""
    items = [discovered(service) for _ in range(3)] + [accepting(service, tmp_path)]
    sides = {
        "a": [cli_args(db_url, "li", "item", "advance", str(items[0]), "assign")],
        "b": [cli_args(db_url, "wang", "item", "advance", str(items[1]), "assign")],
        "c": [cli_args(db_url, "li", "item", "assign", str(items[2]), "sun")],
        "d": [cli_args(db_url, "zhao", "item", "advance", str(items[3]), "accept")],
    }
    results = race(tmp_path, sides)
    for name, item_id in zip(sides, items, strict=True):
        (result,) = results[name]
        clean(result)
        assert result["code"] == 0, result
        assert history_len(service, item_id) == (4 if name == "d" else 2)
    chain_ok(service)
