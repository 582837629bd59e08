"""Bulk seeding for volume tests and benchmarks: many items in one state, each with its creation
history row (hash-chained like the service writes it) and a ladder of escalation steps.

The service creates items one transaction each; this writes thousands per statement so a test
can start from 20,000 due steps in a second or two. It uses the store's own tables and hashing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from rectify.engine.core.audit import GENESIS, row_hash
from rectify.engine.store import items as store
from rectify.engine.store import repo
from rectify.engine.store.db import write
from sqlalchemy import Engine, create_engine, insert, select, text

LADDER_WORKFLOW = """
workflow: ladder
title: 批量测试
roles: {leader: 分管领导, rectifier: 整改责任人}
initial: rectifying
states:
  rectifying:
    label: 整改中
    deadline: 10 workdays
    escalate:
      - {at: 0, level: 督办}
  done: {label: 完成, final: true}
transitions:
  - {trigger: finish, source: rectifying, dest: done, roles: [rectifier, leader]}
"""


def seed(engine: Engine, workflow_version_id: int, workflow: str, state: str, unit: str,
         n: int, *, entered: datetime, due: datetime, step_at: datetime | None,
         creator: str = "li", assignee: str | None = "zhang", chunk: int = 5000) -> None:
    """n items in `state`; with `step_at`, each has one pending step (index 0) due then."""
    with write(engine) as conn:
        path = repo.unit(conn, unit).path
        first = (conn.execute(select(store.ITEMS.c.id).order_by(store.ITEMS.c.id.desc())
                              .limit(1)).scalar() or 0) + 1
    for start in range(0, n, chunk):
        ids = range(first + start, first + min(start + chunk, n))
        with write(engine) as conn:
            _chunk(conn, ids, workflow_version_id, workflow, state, unit, path, entered, due,
                   step_at, creator, assignee)


def _chunk(conn, ids, version_id, workflow, state, unit, path, entered, due, step_at,  # type: ignore[no-untyped-def]
           creator, assignee) -> None:
    history = []
    for i in ids:
        row = {"item_id": i, "seq": 1, "kind": "create", "trigger": None, "source": None,
               "dest": state, "actor": creator, "at": entered, "comment": None,
               "data": {"fields": {"description": f"问题 {i}"}}, "prev_hash": GENESIS}
        history.append({**row, "hash": row_hash(GENESIS, row)})
    conn.execute(insert(store.ITEMS), [{
        "id": h["item_id"], "workflow": workflow, "workflow_version_id": version_id,
        "state": state, "unit_id": unit, "unit_path": path, "subject": None,
        "assignee_id": assignee, "creator_id": creator, "ext_key": None,
        "fields": {"description": f"问题 {h['item_id']}"}, "counts": {}, "cycle_actors": {},
        "entry_no": 1, "entered_at": entered, "due_at": due, "due_provisional": False,
        "due_override": False, "final": False, "created_at": entered, "closed_at": None,
        "version": 1, "last_seq": 1, "last_hash": h["hash"]} for h in history])
    conn.execute(insert(store.HISTORY), history)
    if step_at is not None:
        conn.execute(insert(store.STEPS), [{
            "item_id": i, "entry_no": 1, "step_index": 0, "state": state, "due_at": step_at,
            "planned_at": step_at, "status": "pending", "past_deadline": True} for i in ids])



@contextmanager
def fresh_database(backend: str, folder: Path, pg_url: str) -> Iterator[str]:
    """A new empty database URL: a SQLite file in `folder`, or a fresh schema on the PostgreSQL
    server at `pg_url` (dropped afterwards). Shared by the web tests and bench_web."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'rectify.db'}"
        return
    schema = f"w_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"create schema {schema}"))
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()
