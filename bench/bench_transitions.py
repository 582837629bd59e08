"""Single interactive transitions, each committed on its own, through the service.

Prints the median rate over several runs on SQLite (and PostgreSQL when reachable), and the ratio
to a raw sqlite3 (raw psycopg) baseline doing the same reads and writes per transition in the
same run; for PostgreSQL the raw work sent three ways (a statement per round trip, session 9's
two pipelined trips, and today's read plus one writing statement: `raw 1+1`, the baseline), and
one autocommitted one-row UPDATE a call, the floor of any durable transition.
Run: python bench/bench_transitions.py [--items 2000] [--runs 3] [--pg URL]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.store.db import SQLITE_PRAGMAS, open_engine, upgrade
from seeding import LADDER_WORKFLOW, seed

ORG = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "org.yaml"


def setup(url: str, folder: Path, n: int) -> Service:
    engine = open_engine(url)
    upgrade(engine)
    clock = FixedClock(datetime(2025, 9, 26, 2, tzinfo=UTC))
    service = Service(engine, clock, files_dir=folder / "files")
    service.load_org(ORG)
    workflow = folder / "ladder.yaml"
    workflow.write_text(LADDER_WORKFLOW, "utf-8")
    version = service.load_workflow(workflow)[0]
    due = clock.now() + timedelta(days=10)
    seed(engine, version.id, "ladder", "rectifying", "village-a1", n, entered=clock.now(),
         due=due, step_at=due)
    return service


def ours(url: str, folder: Path, n: int) -> tuple[float, float]:
    """Transitions per second, and this process's CPU time per transition in ms (the rest of
    the wall time is waiting for the database: round trips, commits)."""
    service = setup(url, folder, n)
    start, cpu = time.perf_counter(), time.process_time()
    for item_id in range(1, n + 1):
        service.advance(item_id, "zhang", "finish")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    service.engine.dispose()
    return n / elapsed, cpu / n * 1000


def raw_sqlite(folder: Path, n: int) -> float:
    """The same work per transition in plain sqlite3: read item, update it, insert history,
    cancel its steps, commit."""
    db = sqlite3.connect(folder / "raw.db", isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        db.execute(f"pragma {pragma}")
    db.executescript("""
        create table items (id integer primary key, state text, version int, fields text,
                            last_seq int, last_hash text);
        create table history (id integer primary key, item_id int, seq int, trigger text,
                              source text, dest text, actor text, at text, data text,
                              prev_hash text, hash text, unique (item_id, seq));
        create table steps (id integer primary key, item_id int, status text, due_at text);
    """)
    db.executemany("insert into items values (?, 'rectifying', 1, '{}', 1, '')",
                   [(i,) for i in range(1, n + 1)])
    db.executemany("insert into steps (item_id, status, due_at) values (?, 'pending', 'x')",
                   [(i,) for i in range(1, n + 1)])
    start = time.perf_counter()
    for i in range(1, n + 1):
        db.execute("begin immediate")
        state, version, seq = db.execute("select state, version, last_seq from items where id=?",
                                         (i,)).fetchone()
        db.execute("update items set state='done', version=?, last_seq=? where id=? and "
                   "version=?", (version + 1, seq + 1, i, version))
        db.execute("insert into history (item_id, seq, trigger, source, dest, actor, at, data,"
                   " prev_hash, hash) values (?,?,?,?,?,?,?,?,?,?)",
                   (i, seq + 1, "finish", state, "done", "zhang", "t", "{}", "", "h"))
        db.execute("update steps set status='cancelled' where item_id=? and status='pending'",
                   (i,))
        db.execute("commit")
    return n / (time.perf_counter() - start)


def raw_postgres(url: str, n: int) -> dict[str, tuple[float, float]]:
    """The same work per transition in plain psycopg (BEGIN, read, update, history, cancel
    steps, COMMIT: one round trip each), and the floor of any durable transition: one
    autocommitted one-row UPDATE (one round trip, one WAL flush) per call; and the same work
    in two pipelined round trips (`_raw_two_trips`) and in two statements, autocommitted
    (`_raw_one_and_one`). Each: (rate, client CPU ms a transition).
    """
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    db = psycopg.connect(host=parsed.host, port=parsed.port, dbname=parsed.database,
                         user=parsed.username, options=parsed.query.get("options", ""))
    with db.cursor() as cur:
        cur.execute("create table raw_items (id int primary key, state text, version int, "
                    "fields jsonb, last_seq int, last_hash text)")
        cur.execute("create table raw_history (id serial primary key, item_id int, seq int, "
                    "trigger text, source text, dest text, actor text, at text, data jsonb, "
                    "prev_hash text, hash text, unique (item_id, seq))")
        cur.execute("create table raw_steps (id serial primary key, item_id int, status text)")
        cur.execute("create index on raw_steps (item_id)")
        cur.execute("insert into raw_items select g, 'rectifying', 1, '{}', 1, '' "
                    "from generate_series(1, %s) g", (n,))
        cur.execute("insert into raw_steps (item_id, status) select g, 'pending' "
                    "from generate_series(1, %s) g", (n,))
    db.commit()
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(1, n + 1):
        with db.cursor() as cur:
            cur.execute("select state, version, last_seq from raw_items where id=%s for update",
                        (i,))
            state, version, seq = cur.fetchone()  # type: ignore[misc]
            cur.execute("update raw_items set state='done', version=%s, last_seq=%s where id=%s "
                        "and version=%s", (version + 1, seq + 1, i, version))
            cur.execute("insert into raw_history (item_id, seq, trigger, source, dest, actor, "
                        "at, data, prev_hash, hash) values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                        (i, seq + 1, "finish", state, "done", "zhang", "t", "{}", "", "h"))
            cur.execute("update raw_steps set status='cancelled' where item_id=%s and "
                        "status='pending'", (i,))
        db.commit()
    same_work = n / (time.perf_counter() - start)
    same_cpu = (time.process_time() - cpu) / n * 1000
    db.autocommit = True
    two_trips, two_cpu = _raw_two_trips(db, n)
    one_one, one_one_cpu = _raw_one_and_one(db, n)
    start = time.perf_counter()
    for i in range(1, n + 1):
        db.execute("update raw_items set version = version + 1 where id = %s", (i,))
    floor = n / (time.perf_counter() - start)
    db.close()
    return {"raw psycopg": (same_work, same_cpu), "raw 2 trips": (two_trips, two_cpu),
            "raw 1+1": (one_one, one_one_cpu), "1-row commit": (floor, 0.0)}


def _reset(db: Any) -> None:
    """Every raw item back in rectifying with its step pending, for the next baseline."""
    with db.cursor() as cur:
        cur.execute("update raw_items set state = 'rectifying'")
        cur.execute("update raw_steps set status = 'pending'")


def _raw_two_trips(db: Any, n: int) -> tuple[float, float]:
    """The same work as rectify sends it: BEGIN with the locked read in one pipelined round
    trip, the writes with COMMIT in another, on one cursor (statements prepared by psycopg
    after five runs); the rate and the client CPU per transition in ms."""
    _reset(db)
    cur = db.cursor()
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(1, n + 1):
        with db.pipeline():
            cur.execute("BEGIN")
            cur.execute("select state, version, last_seq from raw_items where id=%s for update",
                        (i,))
        state, version, seq = cur.fetchone()
        with db.pipeline():
            cur.execute("update raw_items set state='done', version=%s, last_seq=%s where id=%s "
                        "and version=%s", (version + 1, seq + 1, i, version))
            cur.execute("insert into raw_history (item_id, seq, trigger, source, dest, actor, "
                        "at, data, prev_hash, hash) values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                        (i, seq + 1, "finish", state, "done", "zhang", "t", "{}", "", "h"))
            cur.execute("update raw_steps set status='cancelled' where item_id=%s and "
                        "status='pending'", (i,))
            cur.execute("COMMIT")
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1000


_ONE_STATEMENT = """
    with item as (update raw_items set state = 'done', version = %s, last_seq = %s
                  where id = %s and version = %s returning id),
         history as (insert into raw_history (item_id, seq, trigger, source, dest, actor, at,
                                              data, prev_hash, hash)
                     select id, %s, %s, %s, %s, %s, %s, %s, %s, %s from item),
         cancelled as (update raw_steps set status = 'cancelled'
                       where item_id in (select id from item) and status = 'pending')
    select id from item"""


def _raw_one_and_one(db: Any, n: int) -> tuple[float, float]:
    """The same work as rectify sends it on PostgreSQL: in autocommit, the read, then every
    write in one statement (data-modifying CTEs that write nothing unless the version still
    matches), each prepared by psycopg after five runs; the rate and the client CPU per
    transition in ms."""
    _reset(db)
    cur = db.cursor()
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(1, n + 1):
        cur.execute("select state, version, last_seq from raw_items where id = %s", (i,))
        state, version, seq = cur.fetchone()
        cur.execute(_ONE_STATEMENT, (version + 1, seq + 1, i, version, seq + 1, "finish",
                                     state, "done", "zhang", "t", "{}", "", "h"))
        if cur.fetchone() is None:
            raise RuntimeError(f"raw item {i} changed under the benchmark")
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"sqlite": [], "raw sqlite3": [], "postgresql": [],
                                     "raw psycopg": [], "raw 2 trips": [], "raw 1+1": [],
                                     "1-row commit": []}
    cpu_ms: dict[str, list[float]] = {"sqlite": [], "postgresql": [], "raw psycopg": [],
                                      "raw 2 trips": [], "raw 1+1": []}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            rate, cpu = ours(f"sqlite:///{folder / 'r.db'}", folder, args.items)
            rates["sqlite"].append(rate)
            cpu_ms["sqlite"].append(cpu)
            rates["raw sqlite3"].append(raw_sqlite(folder, args.items))
            pg = _pg_schema(args.pg)
            if pg:
                rate, cpu = ours(pg, folder, args.items)
                rates["postgresql"].append(rate)
                cpu_ms["postgresql"].append(cpu)
                for name, (rate, cpu) in raw_postgres(_pg_schema(args.pg) or pg,
                                                      args.items).items():
                    rates[name].append(rate)
                    if cpu:
                        cpu_ms[name].append(cpu)
    print(f"single committed transitions, {args.items} items, median of {args.runs} runs")
    print(f"{'backend':<15}{'per second':>12}  ratio")
    bases = {"sqlite": "raw sqlite3", "postgresql": "raw 1+1",
             "raw psycopg": "1-row commit", "raw 2 trips": "1-row commit",
             "raw 1+1": "1-row commit"}
    for name, values in rates.items():
        if values:
            median = statistics.median(values)
            base = bases.get(name)
            ratio = (f"{median / statistics.median(rates[base]):.2f}x {base}"
                     if base and rates[base] else "")
            print(f"{name:<15}{median:>12,.0f}  {ratio}")
    print("client CPU per transition (ms, median): " + ", ".join(
        f"{name} {statistics.median(values):.2f}" for name, values in cpu_ms.items() if values))
    print("targets: sqlite and postgresql >= 2,000 transitions/s, PostgreSQL client CPU <= "
          "0.35 ms. 'raw psycopg' sends the work one statement per round trip; 'raw 2 trips' "
          "as rectify did until session 12 (BEGIN with the locked read, the writes with "
          "COMMIT, pipelined); 'raw 1+1' as rectify does (autocommit: the read, then the "
          "writes as one statement of data-modifying CTEs checked by version). "
          "'1-row commit' is one autocommitted one-row UPDATE on PostgreSQL (a round trip and "
          "a WAL flush): no durable transition can be faster.")


def _pg_schema(url: str) -> str | None:
    """A fresh schema on the PostgreSQL server, or None if it is not reachable."""
    import uuid

    from sqlalchemy import create_engine, text

    try:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with create_engine(url).begin() as conn:
            conn.execute(text(f"create schema {schema}"))
        return f"{url}?options=-csearch_path%3D{schema}"
    except Exception:
        return None


if __name__ == "__main__":
    main()
