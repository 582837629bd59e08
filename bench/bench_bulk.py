"""Bulk transitions with history rows on SQLite: 1,000,000 items closed by one bulk action.

The template database holds N items in `rectifying` of a small workflow (tests/seeding.py's
LADDER_WORKFLOW: one escalation step pending in the source state, none in the final state, no
notifications), each with its hash-chained creation row. Each run copies the template and, in a
fresh process (so its peak RSS, VmHWM, is its own):

- rectify: a warm service (workflow compiled, calendar and actor read) runs
  `engine.bulk.bulk(service, "wang", "finish", ItemFilter(workflow=..., state=...))` as 王五,
  who holds the leader role over the items' village; only that call is timed;
- raw sqlite3: the same updates and inserts by hand, per batch of 500 in one transaction:
  select the items (keyset on id), executemany the item UPDATE (state, version, last_seq,
  last_hash, entry_no, entered_at, final, closed_at, due columns, counts, cycle_actors, fields,
  optimistic on version), executemany the history INSERT hashed with rectify's own row_hash
  (with the row's `via` and its seal of the item as the transition leaves it, audit.item_seal),
  executemany the cancelling of pending steps; same PRAGMAs as rectify's engine.

After each run the parent checks, with plain sqlite3, that history grew by exactly N rows, every
item is `done`, no step is pending, and that both sides wrote identical chain heads (last_hash)
for a sample of items: the same work, hash for hash.

Run: python bench/bench_bulk.py [--items 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

ORG = HERE.parent / "tests" / "fixtures" / "org.yaml"
NOW = datetime(2025, 9, 26, 2, tzinfo=UTC)
ENTERED = NOW - timedelta(days=3)
DUE = NOW + timedelta(days=11)  # the deadline and the one pending step, both still ahead
ACTOR = "wang"  # 王五: leader at town-a, so over village-a1, where the items are
UNIT = "village-a1"
WORKFLOW, SOURCE, DEST, TRIGGER = "ladder", "rectifying", "done", "finish"
ROLES = ("rectifier", "leader")  # who may fire `finish` (LADDER_WORKFLOW)
BATCH = 500


def build_template(folder: Path, items: int) -> Path:
    """A migrated database: org, LADDER_WORKFLOW, `items` items in `rectifying`."""
    from rectify.engine.app.service import Service
    from rectify.engine.core.clock import FixedClock
    from rectify.engine.store.db import open_engine, upgrade
    from seeding import LADDER_WORKFLOW, seed

    path = folder / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    service = Service(engine, FixedClock(NOW), files_dir=folder / "files")
    service.load_org(ORG)
    (folder / "ladder.yaml").write_text(LADDER_WORKFLOW, "utf-8")
    version = service.load_workflow(folder / "ladder.yaml")[0]
    seed(engine, version.id, WORKFLOW, SOURCE, UNIT, items, entered=ENTERED, due=DUE,
         step_at=DUE)
    engine.dispose()
    with sqlite3.connect(path) as db:
        db.execute("pragma wal_checkpoint(truncate)")
        db.execute("analyze")
    db.close()
    return path


# --- the measured children ---------------------------------------------------------------------

def child_ours(db: Path) -> dict[str, Any]:
    """In a fresh process: a warm service, one timed bulk action over every item."""
    from rectify.engine.app.bulk import bulk
    from rectify.engine.app.service import Service
    from rectify.engine.app.views import ItemFilter
    from rectify.engine.core.clock import FixedClock
    from rectify.engine.store import repo
    from rectify.engine.store.db import open_engine, read

    engine = open_engine(f"sqlite:///{db}")
    service = Service(engine, FixedClock(NOW), files_dir=db.parent / "files")
    with read(engine) as conn:
        service.latest(conn, WORKFLOW)  # compiled: workflow parsed, Machine built
        service.actor(conn, ACTOR, repo.unit(conn, UNIT).path)
    service.calendar()
    start = time.perf_counter()
    summary = bulk(service, ACTOR, TRIGGER, ItemFilter(workflow=WORKFLOW, state=SOURCE))
    elapsed = time.perf_counter() - start
    engine.dispose()
    return {"seconds": elapsed, "fired": summary.fired, "refused": summary.refused,
            "rss_mb": rss_mb()}


_SELECT = ("select id, version, last_seq, last_hash, entry_no, unit_path, counts, cycle_actors,"
           " fields, workflow_version_id, unit_id, assignee_id from items"
           " where workflow=? and state=? and id>? order by id limit ?")
_UPDATE = ("update items set state=?, fields=?, counts=?, cycle_actors=?, entry_no=?, "
           "entered_at=?, final=1, closed_at=?, due_at=null, original_due_at=null, "
           "due_provisional=0, "
           "due_override=0, version=?, last_seq=?, last_hash=? where id=? and version=?")
_INSERT = ("insert into history (item_id, seq, kind, \"trigger\", source, dest, actor, at, "
           "comment, data, prev_hash, hash, via, seal) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
_CANCEL = ("update escalation_steps set status='cancelled', due_at=null "
           "where item_id=? and status='pending'")
_MAY_ACT = ("select 1 from role_grants g join units u on u.id = g.unit_id join people p on "
            "p.id = g.person_id where g.person_id=? and p.active and g.role in (?, ?) "
            "and substr(?, 1, length(u.path)) = u.path limit 1")


def child_raw(db: Path, batch: int = BATCH) -> dict[str, Any]:
    """The same reads, decisions and writes in plain sqlite3 (see the module docstring)."""
    from rectify.engine.core.audit import item_seal, row_hash

    conn = sqlite3.connect(db, isolation_level=None)
    # JSON columns through rectify's own codec (orjson), as the engine writes them.
    from rectify.engine.store.db import SQLITE_PRAGMAS, dumps, loads

    for pragma in SQLITE_PRAGMAS:
        conn.execute(f"pragma {pragma}")
    now_s = NOW.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    data: dict[str, Any] = {"changes": {}, "attachments": []}
    data_s = dumps(data)
    may: dict[str, bool] = {}
    fired = refused = last = 0
    start = time.perf_counter()
    while True:
        conn.execute("begin immediate")
        rows = conn.execute(_SELECT, (WORKFLOW, SOURCE, last, batch)).fetchall()
        updates, history, cancels = [], [], []
        for (item_id, version, seq, prev, entry_no, unit_path, counts, cycle, fields,
             version_id, unit_id, assignee) in rows:
            allowed = may.get(unit_path)
            if allowed is None:
                allowed = may[unit_path] = conn.execute(
                    _MAY_ACT, (ACTOR, *ROLES, unit_path)).fetchone() is not None
            if not allowed:
                refused += 1
                continue
            counts = loads(counts)
            counts[TRIGGER] = counts.get(TRIGGER, 0) + 1
            actors = loads(cycle).get(TRIGGER, [])
            cycle = {TRIGGER: list(dict.fromkeys([*actors, ACTOR]))}
            seal = item_seal({"workflow_version_id": version_id, "state": DEST,
                              "entry_no": entry_no + 1, "unit_id": unit_id,
                              "assignee_id": assignee, "due_at": None, "fields": loads(fields)})
            row = {"item_id": item_id, "seq": seq + 1, "kind": "transition", "trigger": TRIGGER,
                   "source": SOURCE, "dest": DEST, "actor": ACTOR, "at": NOW, "comment": None,
                   "data": data, "via": "cli", "seal": seal}
            h = row_hash(prev, row)
            updates.append((DEST, fields, dumps(counts), dumps(cycle), entry_no + 1,
                            now_s, now_s, version + 1, seq + 1, h, item_id, version))
            history.append((item_id, seq + 1, "transition", TRIGGER, SOURCE, DEST, ACTOR, now_s,
                            None, data_s, prev, h, "cli", seal))
            cancels.append((item_id,))
        if conn.executemany(_UPDATE, updates).rowcount != len(updates):
            conn.execute("rollback")
            raise RuntimeError("an item changed under the raw bulk run")
        conn.executemany(_CANCEL, cancels)
        conn.executemany(_INSERT, history)
        conn.execute("commit")
        fired += len(updates)
        if len(rows) < batch:
            break
        last = rows[-1][0]
    elapsed = time.perf_counter() - start
    conn.close()
    return {"seconds": elapsed, "fired": fired, "refused": refused, "rss_mb": rss_mb()}


def rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM from /proc where there is one. Not ru_maxrss:
    on Linux a child started by subprocess (vfork + exec) inherits its parent's ru_maxrss
    high-water mark, so a child of a parent that seeded 1,000,000 items would report the
    parent's peak. ru_maxrss is the fallback elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the parent: runs, checks, table -------------------------------------------------------------

def in_child(script: str, kind: str, db: Path) -> dict[str, Any]:
    """Run `script --child kind db` in a fresh interpreter; its last stdout line is JSON."""
    done = subprocess.run([sys.executable, script, "--child", kind, str(db)], check=False,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{kind} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def db_state(db: Path, sample: list[int]) -> dict[str, Any]:
    """What the guard compares: row counts and the chain heads of a sample of items."""
    conn = sqlite3.connect(db)
    try:
        marks = ",".join("?" * len(sample))
        return {
            "history": conn.execute("select count(*) from history").fetchone()[0],
            "not_done": conn.execute("select count(*) from items where state != ?",
                                     (DEST,)).fetchone()[0],
            "pending_steps": conn.execute("select count(*) from escalation_steps "
                                          "where status = 'pending'").fetchone()[0],
            "heads": dict(conn.execute(f"select id, last_hash from items where id in ({marks})",
                                       sample).fetchall()),
        }
    finally:
        conn.close()


def sample_ids(items: int) -> list[int]:
    return sorted({1, 2, max(items // 2, 1), max(items - 1, 1), items})


def check(kind: str, before: dict[str, Any], after: dict[str, Any], items: int,
          result: dict[str, Any], heads: dict[str, Any]) -> None:
    """The correctness guard: N transitions written, nothing left behind, same chain heads."""
    problems = []
    if after["history"] - before["history"] != items:
        problems.append(f"history grew by {after['history'] - before['history']:,}, "
                        f"not {items:,}")
    if result.get("fired", items) != items:
        problems.append(f"fired {result['fired']:,} of {items:,}")
    if after["not_done"] or after["pending_steps"]:
        problems.append(f"{after['not_done']} items not done, "
                        f"{after['pending_steps']} steps still pending")
    if after["heads"] == before["heads"]:
        problems.append("chain heads unchanged")
    reference = heads.setdefault("reference", (kind, after["heads"]))
    if after["heads"] != reference[1]:
        problems.append(f"chain heads differ from those written by {reference[0]}")
    if problems:
        sys.exit(f"{kind}: correctness guard failed: " + "; ".join(problems))


def measure(scripts: dict[str, str], template: Path, items: int, runs: int
            ) -> dict[str, list[dict[str, Any]]]:
    """`runs` rounds of each kind (run as `scripts[kind] --child kind DB`), alternating, each
    on a fresh copy of the template, each checked."""
    sample = sample_ids(items)
    before = db_state(template, sample)
    heads: dict[str, Any] = {}
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in scripts}
    for i in range(runs):
        for kind, script in scripts.items():
            db = template.parent / f"{kind}.db"
            shutil.copy(template, db)
            result = in_child(script, kind, db)
            check(kind, before, db_state(db, sample), items, result, heads)
            out[kind].append(result)
            for f in template.parent.glob(f"{kind}.db*"):
                f.unlink()
        print(f"run {i + 1}/{runs} done", file=sys.stderr, flush=True)
    return out


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def seeded(folder: Path, items: int) -> Path:
    print(f"seeding {items:,} items ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    template = build_template(folder, items)
    print(f"seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, db = args.child
        print(json.dumps({"ours": child_ours, "raw": child_raw}[kind](Path(db))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        template = seeded(Path(tmp), args.items)
        runs = measure({"ours": __file__, "raw": __file__}, template, args.items, args.runs)
    report(args.items, args.runs, runs)


def report(items: int, runs: int, results: dict[str, list[dict[str, Any]]]) -> None:
    ours, raw = median(results["ours"], "seconds"), median(results["raw"], "seconds")
    print(f"bulk transitions with history rows on SQLite: {items:,} items, median of {runs} "
          f"run(s), each in its own process; history +{items:,} rows checked after every run")
    print(f"{'run':<30}{'seconds':>10}{'transitions/s':>15}{'peak MB':>10}{'vs raw':>9}")
    for name, kind, secs in (("rectify bulk()", "ours", ours),
                             ("raw sqlite3, same work", "raw", raw)):
        print(f"{name:<30}{secs:>10.2f}{items / secs:>15,.0f}"
              f"{median(results[kind], 'rss_mb'):>10.0f}{secs / raw:>8.2f}x")
    print("targets: >= 25,000 transitions/s; within 2x of raw sqlite3 (time ratio <= 2.00x); "
          "peak <= 200 MB")


if __name__ == "__main__":
    main()
