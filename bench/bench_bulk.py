"""Bulk transitions with history rows on SQLite: 1,000,000 items moved by one bulk action.

The template database holds N items in `rectifying` of a small workflow (one escalation step
pending in the source state, no notifications), each with its hash-chained creation row. Two
shapes (`--shape`): `deadline` (the default) moves them into `review`, a state with
`deadline: 5 workdays` and three escalation steps, one of which fires a transition, so each item
gets its deadline columns and three new step rows; `plain` closes them into the final `done`
(tests/seeding.py's LADDER_WORKFLOW), which has neither. Each run copies the template and, in a
fresh process (so its peak RSS, VmHWM, is its own):

- rectify: a warm service (workflow compiled, calendar and actor read) runs
  `engine.bulk.bulk(service, "wang", "finish", ItemFilter(workflow=..., state=...))` as 王五,
  who holds the leader role over the items' village; only that call is timed;
- raw sqlite3: the same updates and inserts by hand, per batch of 500 in one transaction:
  select the items (keyset on id), executemany the item UPDATE (state, version, last_seq,
  last_hash, entry_no, entered_at, final, closed_at, due columns, counts, cycle_actors, fields,
  optimistic on version), executemany the history INSERT hashed with rectify's own row_hash
  (with the row's `via` and its seal of the item as the transition leaves it, audit.item_seal),
  executemany the cancelling of pending steps and (`deadline`) the INSERT of the new state's
  step rows, its deadline computed once with rectify's calendar as a script would; same PRAGMAs
  as rectify's engine.

After each run the parent checks, with plain sqlite3, that history grew by exactly N rows, every
item is in the target state, exactly the new state's steps are pending (3 per item, or none),
and that both sides wrote identical chain heads (last_hash) for a sample of items: the same
work, hash for hash (the seal covers the deadline).

Run: python bench/bench_bulk.py [--items 1000000] [--runs 3] [--shape deadline|plain]
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
WORKFLOW, SOURCE, TRIGGER = "ladder", "rectifying", "finish"
DEST = "done"  # the `plain` shape's target (bench_orm_baseline.py uses that shape)
ROLES = ("rectifier", "leader")  # who may fire `finish` (LADDER_WORKFLOW)
BATCH = 500

# The `deadline` shape: `finish` goes to `review`, with a deadline and a three-step ladder.
DEADLINE_WORKFLOW = """
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
  review:
    label: 待审核
    deadline: 5 workdays
    escalate:
      - {at: -2 workdays, level: 提醒}
      - {at: 0, level: 督办}
      - {at: 3 workdays, fire: expire, level: 超期}
  done: {label: 完成, final: true}
transitions:
  - {trigger: finish, source: rectifying, dest: review, roles: [rectifier, leader]}
  - {trigger: expire, source: review, dest: done, roles: [leader]}
"""
SHAPES = {"deadline": ("review", 3), "plain": ("done", 0)}  # target state, its steps


def shape_workflow(shape: str) -> str:
    from seeding import LADDER_WORKFLOW

    return DEADLINE_WORKFLOW if shape == "deadline" else LADDER_WORKFLOW


def build_template(folder: Path, items: int, shape: str) -> Path:
    """A migrated database: org, the shape's workflow, `items` items in `rectifying`."""
    from rectify.engine.app.service import Service
    from rectify.engine.core.clock import FixedClock
    from rectify.engine.store.db import open_engine, upgrade
    from seeding import seed

    path = folder / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    service = Service(engine, FixedClock(NOW), files_dir=folder / "files")
    service.load_org(ORG)
    (folder / "ladder.yaml").write_text(shape_workflow(shape), "utf-8")
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

def child_ours(db: Path, shape: str) -> dict[str, Any]:
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
    start, cpu = time.perf_counter(), time.process_time()
    summary = bulk(service, ACTOR, TRIGGER, ItemFilter(workflow=WORKFLOW, state=SOURCE))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    engine.dispose()
    return {"seconds": elapsed, "cpu": cpu, "fired": summary.fired,
            "refused": summary.refused, "rss_mb": rss_mb()}


_SELECT = ("select id, version, last_seq, last_hash, entry_no, unit_path, counts, cycle_actors,"
           " fields, workflow_version_id, unit_id, assignee_id from items"
           " where workflow=? and state=? and id>? order by id limit ?")
_UPDATE = ("update items set state=?, fields=?, counts=?, cycle_actors=?, entry_no=?, "
           "entered_at=?, final=?, closed_at=?, due_at=?, original_due_at=?, "
           "due_provisional=0, "
           "due_override=0, version=?, last_seq=?, last_hash=? where id=? and version=?")
_INSERT = ("insert into history (item_id, seq, kind, \"trigger\", source, dest, actor, at, "
           "comment, data, prev_hash, hash, via, seal) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
_CANCEL = ("update escalation_steps set status='cancelled', due_at=null "
           "where item_id=? and status='pending'")
_STEP = ("insert into escalation_steps (item_id, entry_no, step_index, state, due_at, "
         "planned_at, status, late, past_deadline) values (?,?,?,?,?,?,'pending',0,?)")
_MAY_ACT = ("select 1 from role_grants g join units u on u.id = g.unit_id join people p on "
            "p.id = g.person_id where g.person_id=? and p.active and g.role in (?, ?) "
            "and substr(?, 1, length(u.path)) = u.path limit 1")


def _stamp(at: datetime | None) -> str | None:
    """A UTC instant as the engine stores it in SQLite."""
    return None if at is None else at.astimezone(UTC).replace(tzinfo=None).isoformat(
        sep=" ", timespec="microseconds")


class RawTarget:
    """What the raw script writes for the target state, decided once: its deadline and
    ladder from rectify's calendar (as a hand-written script would), their stored forms."""

    def __init__(self, shape: str) -> None:
        from rectify.engine.core.audit import item_seal, row_hash
        from rectify.engine.core.calendar import WorkCalendar
        from rectify.engine.core.escalation import schedule
        from rectify.engine.core.loader import load_workflow
        from rectify.engine.store.db import dumps, loads  # rectify's JSON codec (orjson)

        self.seal, self.hash, self.dumps, self.loads = item_seal, row_hash, dumps, loads
        self.dest = SHAPES[shape][0]
        spec = load_workflow(shape_workflow(shape))
        plan = schedule(spec, self.dest, NOW, WorkCalendar())
        self.final = int(spec.states[self.dest].final)
        self.due, self.due_s = plan.due_at, _stamp(plan.due_at)
        self.now_s = _stamp(NOW)
        self.closed_s = self.now_s if self.final else None
        self.steps = [(s.index, _stamp(s.at), s.past_deadline) for s in plan.steps]
        self.data: dict[str, Any] = {"changes": {}, "attachments": []}
        self.data_s = dumps(self.data)

    def transition(self, row: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """One item's UPDATE and history INSERT parameters: counts, actors, seal, hash."""
        (item_id, version, seq, prev, entry_no, _, counts, cycle, fields,
         version_id, unit_id, assignee) = row
        counts = self.loads(counts)
        counts[TRIGGER] = counts.get(TRIGGER, 0) + 1
        actors = self.loads(cycle).get(TRIGGER, [])
        cycle = {TRIGGER: list(dict.fromkeys([*actors, ACTOR]))}
        seal = self.seal({"workflow_version_id": version_id, "state": self.dest,
                          "entry_no": entry_no + 1, "unit_id": unit_id,
                          "assignee_id": assignee, "due_at": self.due,
                          "fields": self.loads(fields)})
        entry = {"item_id": item_id, "seq": seq + 1, "kind": "transition", "trigger": TRIGGER,
                 "source": SOURCE, "dest": self.dest, "actor": ACTOR, "at": NOW,
                 "comment": None, "data": self.data, "via": "cli", "seal": seal}
        h = self.hash(prev, entry)
        return ((self.dest, fields, self.dumps(counts), self.dumps(cycle), entry_no + 1,
                 self.now_s, self.final, self.closed_s, self.due_s, self.due_s, version + 1,
                 seq + 1, h, item_id, version),
                (item_id, seq + 1, "transition", TRIGGER, SOURCE, self.dest, ACTOR,
                 self.now_s, None, self.data_s, prev, h, "cli", seal))


def child_raw(db: Path, shape: str, batch: int = BATCH) -> dict[str, Any]:
    """The same reads, decisions and writes in plain sqlite3 (see the module docstring)."""
    conn = sqlite3.connect(db, isolation_level=None)
    from rectify.engine.store.db import SQLITE_PRAGMAS

    for pragma in SQLITE_PRAGMAS:
        conn.execute(f"pragma {pragma}")
    target = RawTarget(shape)
    may: dict[str, bool] = {}
    fired = refused = last = 0
    start, cpu = time.perf_counter(), time.process_time()
    while True:
        conn.execute("begin immediate")
        rows = conn.execute(_SELECT, (WORKFLOW, SOURCE, last, batch)).fetchall()
        updates, history, cancels, steps = [], [], [], []
        for row in rows:
            allowed = may.get(row[5])
            if allowed is None:
                allowed = may[row[5]] = conn.execute(
                    _MAY_ACT, (ACTOR, *ROLES, row[5])).fetchone() is not None
            if not allowed:
                refused += 1
                continue
            update, entry = target.transition(row)
            updates.append(update)
            history.append(entry)
            cancels.append((row[0],))
            steps += [(row[0], row[4] + 1, index, target.dest, at, at, past)
                      for index, at, past in target.steps]
        if conn.executemany(_UPDATE, updates).rowcount != len(updates):
            conn.execute("rollback")
            raise RuntimeError("an item changed under the raw bulk run")
        conn.executemany(_CANCEL, cancels)
        conn.executemany(_STEP, steps)
        conn.executemany(_INSERT, history)
        conn.execute("commit")
        fired += len(updates)
        if len(rows) < batch:
            break
        last = rows[-1][0]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return {"seconds": elapsed, "cpu": cpu, "fired": fired, "refused": refused,
            "rss_mb": rss_mb()}


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

def in_child(script: str, kind: str, db: Path, shape: str) -> dict[str, Any]:
    """Run `script --child kind db shape` in a fresh interpreter; its last stdout line is JSON."""
    done = subprocess.run([sys.executable, script, "--child", kind, str(db), shape],
                          check=False, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{kind} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def db_state(db: Path, sample: list[int], dest: str) -> dict[str, Any]:
    """What the guard compares: row counts and the chain heads of a sample of items."""
    conn = sqlite3.connect(db)
    try:
        marks = ",".join("?" * len(sample))
        return {
            "history": conn.execute("select count(*) from history").fetchone()[0],
            "not_done": conn.execute("select count(*) from items where state != ?",
                                     (dest,)).fetchone()[0],
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
          result: dict[str, Any], heads: dict[str, Any], shape: str) -> None:
    """The correctness guard: N transitions written, every item in the target state with
    exactly its new ladder pending, the same chain heads on both sides."""
    problems = []
    if after["history"] - before["history"] != items:
        problems.append(f"history grew by {after['history'] - before['history']:,}, "
                        f"not {items:,}")
    if result.get("fired", items) != items:
        problems.append(f"fired {result['fired']:,} of {items:,}")
    dest, ladder = SHAPES[shape]
    if after["not_done"] or after["pending_steps"] != ladder * items:
        problems.append(f"{after['not_done']} items not in {dest}, "
                        f"{after['pending_steps']:,} steps pending (expected {ladder * items:,})")
    if after["heads"] == before["heads"]:
        problems.append("chain heads unchanged")
    reference = heads.setdefault("reference", (kind, after["heads"]))
    if after["heads"] != reference[1]:
        problems.append(f"chain heads differ from those written by {reference[0]}")
    if problems:
        sys.exit(f"{kind}: correctness guard failed: " + "; ".join(problems))


def measure(scripts: dict[str, str], template: Path, items: int, runs: int,
            shape: str = "plain") -> dict[str, list[dict[str, Any]]]:
    """`runs` rounds of each kind (run as `scripts[kind] --child kind DB shape`), alternating,
    each on a fresh copy of the template, each checked."""
    sample = sample_ids(items)
    dest = SHAPES[shape][0]
    before = db_state(template, sample, dest)
    heads: dict[str, Any] = {}
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in scripts}
    for i in range(runs):
        for kind, script in scripts.items():
            db = template.parent / f"{kind}.db"
            shutil.copy(template, db)
            result = in_child(script, kind, db, shape)
            check(kind, before, db_state(db, sample, dest), items, result, heads, shape)
            out[kind].append(result)
            for f in template.parent.glob(f"{kind}.db*"):
                f.unlink()
        print(f"run {i + 1}/{runs} done", file=sys.stderr, flush=True)
    return out


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def seeded(folder: Path, items: int, shape: str = "plain") -> Path:
    print(f"seeding {items:,} items ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    template = build_template(folder, items, shape)
    print(f"seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="deadline",
                        help="deadline: into a state with a deadline and a 3-step ladder "
                             "(default); plain: into the final state")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, db, shape = args.child
        print(json.dumps({"ours": child_ours, "raw": child_raw}[kind](Path(db), shape)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        template = seeded(Path(tmp), args.items, args.shape)
        runs = measure({"ours": __file__, "raw": __file__}, template, args.items, args.runs,
                       args.shape)
    report(args.items, args.runs, runs, args.shape)


def report(items: int, runs: int, results: dict[str, list[dict[str, Any]]],
           shape: str) -> None:
    ours, raw = median(results["ours"], "seconds"), median(results["raw"], "seconds")
    cpu = {kind: median(results[kind], "cpu") for kind in ("ours", "raw")}
    into = {"deadline": "into `review` (deadline: 5 workdays, 3 escalation steps, one fires)",
            "plain": "into the final state `done` (no deadline, no steps)"}[shape]
    print(f"bulk transitions with history rows on SQLite: {items:,} items {into}; median of "
          f"{runs} run(s), each in its own process; history +{items:,} rows checked after "
          "every run")
    print(f"{'run':<30}{'seconds':>10}{'transitions/s':>15}{'peak MB':>10}{'vs raw':>9}"
          f"{'CPU s':>9}{'CPU vs raw':>12}")
    for name, kind, secs in (("rectify bulk()", "ours", ours),
                             ("raw sqlite3, same work", "raw", raw)):
        print(f"{name:<30}{secs:>10.2f}{items / secs:>15,.0f}"
              f"{median(results[kind], 'rss_mb'):>10.0f}{secs / raw:>8.2f}x"
              f"{cpu[kind]:>9.2f}{cpu[kind] / cpu['raw']:>11.2f}x")
    print("targets: >= 25,000 transitions/s; within 2.5x of raw sqlite3 (time ratio <= 2.50x); "
          "peak <= 200 MB")


if __name__ == "__main__":
    main()
