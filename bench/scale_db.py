"""A database that grows for bench_scale.py: items spread over 100 villages, each one as the
service would have written it (history chain, seals, escalation steps, evidence rows).

The service writes 400 template items (4 shapes in each of 100 villages: 发现问题, 整改中,
待验收, 已销号), then raw sqlite3 clones them, item by item, to any size: each clone is its
template with a new id, so its history chain is recomputed (the hash covers the item id) and
everything else — seals, ladder, attachments — is the template's, and `audit verify` passes.
Villages are interleaved in id order, so a village's items (1%) are spread over the whole table.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rectify.engine.core.audit import GENESIS, row_hash
from rectify.engine.store.db import SQLITE_PRAGMAS, loads

NOW = datetime(2025, 9, 26, 2, tzinfo=UTC)  # the benchmark's --now (a Friday)
TOWNS, VILLAGES_PER_TOWN = 10, 10
VILLAGES = TOWNS * VILLAGES_PER_TOWN
# Shapes by share of twenty: 发现问题 4, 整改中 8, 待验收 3, 已销号 5.
SHAPES = ("discovered",) * 4 + ("rectifying",) * 8 + ("accepting",) * 3 + ("closed",) * 5
SHAPE_NAMES = ("discovered", "rectifying", "accepting", "closed")
CHUNK = 20_000


def village(v: int) -> str:
    return f"v{v // VILLAGES_PER_TOWN:02d}-{v % VILLAGES_PER_TOWN:02d}"


def org_yaml() -> str:
    """A county, 10 towns of 10 villages; per town an inspector, a leader, an acceptor; per
    village a rectifier."""
    lines = ["units:", "  - id: county", "    name: 某县", "    children:"]
    people = ["people:", "  - {id: boss, name: 县长, admin: true, roles: {leader: county}}"]
    for t in range(TOWNS):
        lines += [f"      - id: t{t:02d}", f"        name: 第{t}镇", "        children:"]
        people += [f"  - {{id: insp-{t:02d}, name: 督查{t}, roles: {{inspector: t{t:02d}}}}}",
                   f"  - {{id: lead-{t:02d}, name: 领导{t}, roles: {{leader: t{t:02d}}}}}",
                   f"  - {{id: acc-{t:02d}, name: 验收{t}, roles: {{acceptor: t{t:02d}}}}}"]
        for i in range(VILLAGES_PER_TOWN):
            v = village(t * VILLAGES_PER_TOWN + i)
            lines.append(f"          - {{id: {v}, name: 第{t}镇{i}村}}")
            people.append(f"  - {{id: r-{v}, name: 整改{v}, email: r-{v}@example.org, "
                          f"roles: {{rectifier: {v}}}}}")
    return "\n".join(lines + people) + "\n"


def build_templates(folder: Path) -> Path:
    """A database through the real service: org, the bundled rectification workflow, a file
    channel, and 4 template items per village, created 3-22 days before NOW."""
    from rectify.engine.app.service import Service
    from rectify.engine.core.clock import FixedClock
    from rectify.engine.store.db import open_engine, upgrade
    from rectify.notifications.notices import Notices

    path = folder / "scale.db"
    (folder / "org.yaml").write_text(org_yaml(), "utf-8")
    (folder / "rectify.toml").write_text(
        f'[channels.file]\ntype = "file"\npath = "{folder / "notices.jsonl"}"\n', "utf-8")
    evidence = folder / "整改照片.txt"
    evidence.write_text("整改前后对比\n", "utf-8")
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    clock = FixedClock(NOW)
    from rectify.engine.settings import load_settings

    settings = load_settings(folder / "rectify.toml")
    service = Service(engine, clock, notices=Notices.from_settings(settings),
                      files_dir=folder / "rectify-files")
    service.load_org(folder / "org.yaml")
    workflow = Path(__file__).resolve().parent.parent / "workflows" / "rectification.yaml"
    service.load_workflow(workflow)
    for v in range(VILLAGES):
        for shape in SHAPE_NAMES:
            # A template's events span up to 50 hours: begun 3 days earlier, every one is
            # before NOW (an item that entered its state after --now is judged apart).
            clock.set(NOW - timedelta(days=v % 20 + 3, hours=3))
            _template(service, clock, v, shape, evidence)
    engine.dispose()
    return path


def _template(service: Any, clock: Any, v: int, shape: str, evidence: Path) -> None:
    town, unit = f"{v // VILLAGES_PER_TOWN:02d}", village(v)
    item = service.new_item(f"insp-{town}", "rectification", unit, assignee=f"r-{unit}",
                            values={"description": f"{unit} 户档案信息不实，需核实整改",
                                    "category": "信息不实"})
    steps = {"discovered": 0, "rectifying": 1, "accepting": 2, "closed": 3}[shape]
    if steps >= 1:
        service.advance(item, f"insp-{town}", "assign")
    if steps >= 2:
        clock.advance(hours=30)
        service.advance(item, f"r-{unit}", "submit", values={"measures": "已入户核实并更正"},
                        attach=[evidence])
    if steps >= 3:
        clock.advance(hours=20)
        service.advance(item, f"acc-{town}", "accept", comment="现场核验通过")


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        db.execute(f"pragma {pragma}")
    return db


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"pragma table_info({table})") if r[1] != "id"]


class Templates:
    """The template items' rows, ready to clone: per (village, shape) the item row, its
    history rows (as stored, and the content each hash covers), its steps and attachments."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.item_cols = ["id", *_columns(db, "items")]
        self.history_cols = _columns(db, "history")
        self.step_cols = _columns(db, "escalation_steps")
        self.file_cols = _columns(db, "attachments")
        first = db.execute("select min(id) from items").fetchone()[0]
        self.rows = {(n // 4, SHAPE_NAMES[n % 4]): self._read(db, first + n)
                     for n in range(VILLAGES * 4)}

    def _read(self, db: sqlite3.Connection, item_id: int) -> tuple[Any, ...]:
        item = db.execute(f"select {','.join(self.item_cols)} from items where id=?",
                          (item_id,)).fetchone()
        stored = db.execute(f"select {','.join(self.history_cols)} from history "
                            "where item_id=? order by seq", (item_id,)).fetchall()
        history, prev = [], GENESIS
        for row in stored:  # the content each hash covers; recomputed here as a self-check
            h = dict(zip(self.history_cols, row, strict=True))
            h["data"] = loads(h["data"])
            h["at"] = datetime.fromisoformat(h["at"]).replace(tzinfo=UTC).isoformat()
            assert row_hash(prev, h) == h["hash"], "the clone's hashing differs from rectify's"
            history.append((list(row), h))
            prev = h["hash"]
        steps = db.execute(f"select {','.join(self.step_cols)} from escalation_steps "
                           "where item_id=?", (item_id,)).fetchall()
        files = db.execute(f"select {','.join(self.file_cols)} from attachments "
                           "where item_id=?", (item_id,)).fetchall()
        return list(item), history, steps, files


def grow(path: Path, upto: int) -> int:
    """Clone templates until the database holds `upto` items; returns the count."""
    db = connect(path)
    templates = Templates(db)
    count, last = db.execute("select count(*), max(id) from items").fetchone()
    while count < upto:
        n = min(CHUNK, upto - count)
        _clone_chunk(db, templates, last + 1, n)
        count, last = count + n, last + n
        print(f"  {count:,} items", end="\r", file=sys.stderr, flush=True)
    db.execute("analyze")
    db.execute("pragma wal_checkpoint(truncate)")
    db.close()
    return count


def _clone_chunk(db: sqlite3.Connection, t: Templates, first: int, n: int) -> None:
    """Items first..first+n-1, each its template's rows with the new id and chain."""
    col = t.history_cols.index
    item_at, hash_at, prev_at = col("item_id"), col("hash"), col("prev_hash")
    head_at = t.item_cols.index("last_hash")
    items, history, steps, files = [], [], [], []
    for item_id in range(first, first + n):
        k = item_id - 1
        item, rows, step_rows, file_rows = t.rows[(k % VILLAGES, SHAPES[(k // VILLAGES) % 20])]
        prev = GENESIS
        for stored, content in rows:
            row = stored.copy()
            row[item_at], row[prev_at] = item_id, prev
            row[hash_at] = prev = row_hash(prev, {**content, "item_id": item_id})
            history.append(row)
        clone = item.copy()
        clone[0], clone[head_at] = item_id, prev
        items.append(clone)
        steps += [(item_id, *s[1:]) for s in step_rows]
        files += [(item_id, *f[1:]) for f in file_rows]
    db.execute("begin")
    _insert(db, "items", t.item_cols, items)
    _insert(db, "history", t.history_cols, history)
    _insert(db, "escalation_steps", t.step_cols, steps)
    _insert(db, "attachments", t.file_cols, files)
    db.execute("commit")


def _insert(db: sqlite3.Connection, table: str, cols: list[str], rows: list[Any]) -> None:
    if rows:
        marks = ",".join("?" * len(cols))
        db.executemany(f"insert into {table} ({','.join(cols)}) values ({marks})", rows)
