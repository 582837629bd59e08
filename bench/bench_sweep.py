"""The sweep at scale: 1,000,000 items on SQLite, 10,000 of them with an escalation step due.

Each applied step is the real work: claim, a hash-chained history row, the item's version and
chain head, and a 督办 notice to the assignee in the outbox (its context, rendered when sent).
`--fire` of the due steps (1,000 by default) are instead the ladder's `fire` step: the
escalation row, then the transition `expire` as the system into `review`, a state with
`deadline: 5 workdays` and three escalation steps (one fires), so the item gets its new deadline
and three new step rows. The same work is also done in plain sqlite3 in the same run, and the
ratio printed: the very rows rectify writes (each history row sealed and hashed, the notice's
context and recipients stored for the dispatcher to render, the new state's deadline and ladder
computed once with rectify's calendar), made directly for this one workflow; after each run the
parent checks that both sides left identical history (hash chains and seals), items, steps and
outbox rows. An idle sweep (nothing due) is timed on the swept database. Each sweep runs in its
own process, so its peak memory (max RSS) is its own.

Run: python bench/bench_sweep.py [--items 1000000] [--due 10000] [--fire 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
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
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

ORG = HERE.parent / "tests" / "fixtures" / "org.yaml"
NOW = datetime(2025, 9, 26, 2, tzinfo=UTC)
STEP_AT = NOW - timedelta(minutes=5)
LATER = NOW + timedelta(days=30)

WORKFLOW = """
workflow: ladder
title: 批量测试
roles: {leader: 分管领导, rectifier: 整改责任人}
initial: rectifying
fields:
  description: {type: text, label: 问题描述}
states:
  rectifying:
    label: 整改中
    deadline: 10 workdays
    escalate:
      - {at: 0, level: 督办, notify: [assignee], template: overdue}
      - {at: 3 workdays, level: 超期, fire: expire}
  review:
    label: 待审核
    deadline: 5 workdays
    escalate:
      - {at: -2 workdays, level: 提醒}
      - {at: 0, level: 督办}
      - {at: 3 workdays, level: 约谈, fire: close}
  done: {label: 完成, final: true}
transitions:
  - {trigger: finish, source: rectifying, dest: done, roles: [rectifier, leader]}
  - {trigger: expire, source: rectifying, dest: review, roles: [leader]}
  - {trigger: close, source: review, dest: done, roles: [leader]}
"""


def build_template(folder: Path, items: int, due: int, fire: int) -> Path:
    """A database with `items` items, `due` of them with a step due before NOW, `fire` of
    those the ladder's `fire` step (index 1) rather than its 督办 (index 0)."""
    from rectify.engine.app.service import Service
    from rectify.engine.core.clock import FixedClock
    from rectify.engine.store.db import open_engine, upgrade
    from seeding import seed

    path = folder / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    service = Service(engine, FixedClock(NOW), files_dir=folder / "files")
    service.load_org(ORG)
    (folder / "ladder.yaml").write_text(WORKFLOW, "utf-8")
    version = service.load_workflow(folder / "ladder.yaml")[0]
    # Due steps spread among the quiet ones, so the index, not insertion order, finds them.
    every = max(items // max(due, 1), 1)
    made = 0
    for start in range(0, items, 100_000):
        n = min(100_000, items - start)
        due_here = min(due - made, n // every)
        seed(engine, version.id, "ladder", "rectifying", "village-a1", n - due_here,
             entered=NOW - timedelta(days=20), due=LATER, step_at=LATER)
        if due_here:
            seed(engine, version.id, "ladder", "rectifying", "village-a1", due_here,
                 entered=NOW - timedelta(days=20), due=STEP_AT, step_at=STEP_AT)
            made += due_here
    engine.dispose()
    with sqlite3.connect(path) as db:
        db.execute("update escalation_steps set step_index = 1 where id in (select id from "
                    "escalation_steps where due_at = (select min(due_at) from escalation_steps)"
                    " order by item_id limit ?)", (fire,))
        db.commit()
        db.execute("pragma wal_checkpoint(truncate)")
        db.execute("analyze")
    return path


def child_ours(db: Path) -> dict[str, float]:
    """In a fresh process: a warm service (as the scheduler holds one), one timed sweep."""
    from rectify.engine.app.service import Service
    from rectify.engine.app.sweep import sweep
    from rectify.engine.core.clock import FixedClock
    from rectify.engine.store.db import open_engine, read

    engine = open_engine(f"sqlite:///{db}")
    service = Service(engine, FixedClock(NOW), files_dir=db.parent / "files")
    with read(engine) as conn:
        service.latest(conn, "ladder")
    service.calendar()
    assert service.notices is not None  # made, as a scheduler has long since made it
    # A scheduler's process has long since collected its start-up garbage; a fresh one runs a
    # full collection (~30 ms here) at some allocation count, which would land in the timing.
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    report = sweep(service)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": elapsed, "cpu": cpu, "applied": len(report.escalations),
            "fired": len(report.fired), "errors": len(report.errors), "rss_mb": _rss_mb()}


_ITEMS = ("select id, version, last_seq, last_hash, assignee_id, unit_id, fields, due_at, "
          "entry_no, workflow_version_id from items where id in ({})")
_HISTORY = ("insert into history (item_id, seq, kind, \"trigger\", source, dest, actor, at, "
            "comment, data, prev_hash, hash, via, seal) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
_HEAD = "update items set version=?, last_seq=?, last_hash=? where id=? and version=?"
_MOVE = ("update items set state=?, counts=?, cycle_actors=?, entry_no=?, entered_at=?, "
         "due_at=?, original_due_at=?, version=?, last_seq=?, last_hash=? "
         "where id=? and version=?")
_CANCEL = ("update escalation_steps set status='cancelled', due_at=null "
           "where item_id=? and status='pending'")
_STEP = ("insert into escalation_steps (item_id, entry_no, step_index, state, due_at, "
         "planned_at, status, late, past_deadline) values (?,?,?,?,?,?,'pending',0,?)")
_OUTBOX = ("insert into outbox (dedupe_key, channel, template, item_id, unit_id, recipients, "
           "data, status, attempts, next_attempt_at, created_at) "
           "values (?,?,?,?,?,?,?,'pending',0,?,?) on conflict (dedupe_key) do nothing")
_CLAIM = ("update escalation_steps set status='applied', applied_at=?, due_at=null, late=0 "
          "where id in (select id from escalation_steps where due_at <= ? and "
          "status='pending' order by due_at limit ?) "
          "returning id, item_id, entry_no, step_index, planned_at")


class RawSweep:
    """The writes of one batch in plain sqlite3, gathered per statement: the very rows rectify
    writes (the guard compares them), each made directly for this one workflow."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        from rectify.engine.core.audit import item_seal, row_hash
        from rectify.engine.core.calendar import WorkCalendar
        from rectify.engine.core.escalation import schedule
        from rectify.engine.core.loader import load_workflow
        from rectify.engine.store.db import dumps, loads  # rectify's JSON codec (orjson)

        self.seal, self.hash, self.dumps, self.loads = item_seal, row_hash, dumps, loads
        # The notice's addressee and unit as templates show them (the org, read once).
        self.people = {pid: {"person_id": pid, "name": name, "email": email, "mobile": mobile}
                       for pid, name, email, mobile in conn.execute(
                           "select id, name, email, mobile from people")}
        self.units = dict(conn.execute("select id, name from units"))
        self.now_s = _stamp(NOW)
        self.now_local = _local(NOW)
        plan = schedule(load_workflow(WORKFLOW), "review", NOW, WorkCalendar())
        self.due = plan.due_at
        self.due_s = _stamp(plan.due_at)
        self.steps = [(p.index, _stamp(p.at), p.past_deadline) for p in plan.steps]
        self.moved = {"changes": {}, "attachments": []}
        self.times: dict[str, datetime] = {}  # a stored time, read back (a batch shares a few)
        self.reset()

    def reset(self) -> None:
        """Empty the gathered writes for the next batch."""
        self.history: list[tuple[Any, ...]] = []
        self.heads: list[tuple[Any, ...]] = []
        self.moves: list[tuple[Any, ...]] = []
        self.cancels: list[tuple[int]] = []
        self.new_steps: list[tuple[Any, ...]] = []
        self.outbox: list[tuple[Any, ...]] = []

    def time(self, stored: str) -> datetime:
        found = self.times.get(stored)
        if found is None:
            found = self.times[stored] = datetime.fromisoformat(stored).replace(tzinfo=UTC)
        return found

    def escalation(self, item: tuple[Any, ...], fields: dict[str, Any], index: int,
                   level: str, action: str, notify: list[str], planned: str, seq: int,
                   prev: str) -> str:
        """The step's history row (the item sealed as it stands); its hash."""
        item_id, _, _, _, assignee, unit, _, due, entry_no, version_id = item
        data = {"step": index, "level": level, "action": action,
                "planned_at": self.time(planned).isoformat(), "late": False, "notify": notify}
        seal = self.seal({"workflow_version_id": version_id, "state": "rectifying",
                          "entry_no": entry_no, "unit_id": unit, "assignee_id": assignee,
                          "due_at": due and self.time(due), "fields": fields})
        trigger = f"escalate:{level}"
        row = {"item_id": item_id, "seq": seq, "kind": "escalation", "trigger": trigger,
               "source": "rectifying", "dest": "rectifying", "actor": "system", "at": NOW,
               "comment": None, "data": data, "via": "system", "seal": seal}
        h = self.hash(prev, row)
        self.history.append((item_id, seq, "escalation", trigger, "rectifying", "rectifying",
                             "system", self.now_s, None, self.dumps(data), prev, h, "system",
                             seal))
        return h

    def notify(self, item: tuple[Any, ...], planned: str) -> None:
        """The 督办 step: its history row, the chain head, the notice's outbox row."""
        item_id, version, seq, last, assignee, unit, stored_fields, due, entry_no = item[:9]
        fields = self.loads(stored_fields)
        h = self.escalation(item, fields, 0, "督办", "督办", ["assignee"], planned, seq + 1,
                            last)
        self.heads.append((version + 1, seq + 1, h, item_id, version))
        person = self.people[assignee]
        description = fields.get("description")
        context = {
            "item": {"id": item_id, "workflow": "ladder", "workflow_title": "批量测试",
                     "state": "rectifying", "state_label": "整改中", "unit": unit,
                     "unit_name": self.units[unit], "assignee_name": person["name"],
                     "due_at": due and _local(self.time(due)), "subject": None,
                     "summary": description if len(description) <= 20
                     else description[:19] + "…",
                     "fields": {"问题描述": description}},
            "step": {"level": "督办", "at": _local(self.time(planned)), "late": False,
                     "fired": None},
            "comment": None, "actor_name": None, "recipients": [person["name"]],
            "now": self.now_local, "item_url": None}
        self.outbox.append((f"item:{item_id}:e{entry_no}:s0:log", "log", "overdue", item_id,
                            unit, self.dumps({"people": [person]}), self.dumps(context),
                            self.now_s, self.now_s))

    def fire(self, item: tuple[Any, ...], planned: str) -> None:
        """The 超期 step: its escalation row, then `expire` as the system into `review`."""
        item_id, version, seq, last, assignee, unit, stored_fields, _, entry_no, version_id = item
        fields = self.loads(stored_fields)
        h1 = self.escalation(item, fields, 1, "超期", "fire:expire", [], planned, seq + 1, last)
        seal = self.seal({"workflow_version_id": version_id, "state": "review",
                          "entry_no": entry_no + 1, "unit_id": unit, "assignee_id": assignee,
                          "due_at": self.due, "fields": fields})
        comment = "系统自动：超期"
        row = {"item_id": item_id, "seq": seq + 2, "kind": "transition", "trigger": "expire",
               "source": "rectifying", "dest": "review", "actor": "system", "at": NOW,
               "comment": comment, "data": self.moved, "via": "system", "seal": seal}
        h2 = self.hash(h1, row)
        self.history.append((item_id, seq + 2, "transition", "expire", "rectifying", "review",
                             "system", self.now_s, comment, self.dumps(self.moved), h1, h2,
                             "system", seal))
        self.moves.append(("review", self.dumps({"expire": 1}),
                           self.dumps({"expire": ["system"]}), entry_no + 1, self.now_s,
                           self.due_s, self.due_s, version + 2, seq + 2, h2, item_id, version))
        self.cancels.append((item_id,))
        self.new_steps += [(item_id, entry_no + 1, index, "review", at, at, past)
                           for index, at, past in self.steps]

    def write(self, conn: sqlite3.Connection) -> None:
        conn.executemany(_HISTORY, self.history)
        conn.executemany(_HEAD, self.heads)
        conn.executemany(_MOVE, self.moves)
        conn.executemany(_CANCEL, self.cancels)
        conn.executemany(_STEP, self.new_steps)
        conn.executemany(_OUTBOX, self.outbox)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


_SHANGHAI = ZoneInfo("Asia/Shanghai")


def _local(at: datetime) -> str:
    return at.astimezone(_SHANGHAI).strftime("%Y-%m-%d %H:%M")


def child_raw(db: Path, batch: int = 500) -> dict[str, float]:
    """The same work in plain sqlite3: claim, read items, seal and hash, history, items, the
    notice's context and recipients in the outbox, and for a `fire` step the transition with
    its new deadline and ladder."""
    conn = sqlite3.connect(db, isolation_level=None)
    from rectify.engine.store.db import SQLITE_PRAGMAS

    for pragma in SQLITE_PRAGMAS:
        conn.execute(f"pragma {pragma}")
    applied = 0
    raw = RawSweep(conn)
    gc.collect()  # as for rectify's side: no start-up garbage collected inside the timing
    start, cpu = time.perf_counter(), time.process_time()
    while True:
        conn.execute("begin immediate")
        raw.reset()
        claimed = conn.execute(_CLAIM, (raw.now_s, raw.now_s, batch)).fetchall()
        ids = sorted({r[1] for r in claimed})
        items = {r[0]: r for r in conn.execute(
            _ITEMS.format(",".join("?" * len(ids))), ids)} if ids else {}
        for _step, item_id, _entry_no, index, planned in sorted(claimed, key=lambda r: r[1]):
            if index == 1:
                raw.fire(items[item_id], planned)
            else:
                raw.notify(items[item_id], planned)
        raw.write(conn)
        conn.execute("commit")
        applied += len(claimed)
        if len(claimed) < batch:
            break
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "applied": applied, "rss_mb": _rss_mb()}


def _rss_mb() -> float:
    """This process's own peak resident memory. (ru_maxrss of a child started by a big
    parent can report the parent's peak, so read the kernel's high-water mark.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_child(kind: str, db: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(db)], check=False,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{kind} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


_TOUCHED = "select item_id from history where at = ?"
_WRITTEN = {
    "history": "select item_id, seq, kind, \"trigger\", source, dest, actor, at, comment, "
               "data, prev_hash, hash, via, os_user, seal from history where at = ? "
               "order by item_id, seq",
    "items": f"select * from items where id in ({_TOUCHED}) order by id",
    "steps": "select item_id, entry_no, step_index, state, due_at, planned_at, status, "
             f"applied_at, late, past_deadline from escalation_steps where item_id in "
             f"({_TOUCHED}) order by item_id, entry_no, step_index",
    "outbox": "select dedupe_key, channel, template, item_id, unit_id, recipients, subject, "
              "body_text, body_markdown, data, status, attempts, next_attempt_at, created_at, "
              "templates_dir, fold_key from outbox order by dedupe_key",
}


def _written(db: Path) -> dict[str, Any]:
    """What the guard compares between the two sides after a sweep: every row the sweep wrote
    or changed (history, items, their steps, outbox), as a digest per table, and the counts."""
    conn = sqlite3.connect(db)
    try:
        found: dict[str, Any] = {}
        for table, sql in _WRITTEN.items():
            digest, count = hashlib.sha256(), 0
            for row in conn.execute(sql, (_stamp(NOW),) * sql.count("?")):
                digest.update(repr(row).encode())
                count += 1
            found[table] = (count, digest.hexdigest()[:16])
        found["in_review"] = conn.execute(
            "select count(*) from items where state = 'review'").fetchone()[0]
        return found
    finally:
        conn.close()


def _check(written: dict[str, dict[str, Any]], kind: str, db: Path, args: argparse.Namespace
           ) -> None:
    """Both sides must leave the very same rows (history with its hash chain and seals,
    items, steps, outbox), and `fire` items in review."""
    found = written.setdefault(kind, _written(db))
    reference = written.setdefault("reference", found)
    if found != reference or found["in_review"] != args.fire:
        sys.exit(f"{kind}: correctness guard failed: {found} (expected {reference}, "
                 f"{args.fire} in review)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--fire", type=int, default=1_000,
                        help="how many of the due steps fire `expire` into `review`")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, db = args.child
        print(json.dumps(child_ours(Path(db)) if kind == "ours" else
                         child_raw(Path(db)) if kind == "raw" else {}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"seeding {args.items:,} items, {args.due:,} due ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        template = build_template(folder, args.items, args.due, args.fire)
        print(f"seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "raw": [], "idle": []}
        for i in range(args.runs):
            written: dict[str, dict[str, int]] = {}
            for kind in ("ours", "raw"):
                db = folder / f"{kind}.db"
                shutil.copy(template, db)
                runs[kind].append(_in_child(kind, db))
                _check(written, kind, db, args)
                if kind == "ours":
                    runs["idle"].append(_in_child("ours", db))
                db.unlink()
            print(f"run {i + 1}/{args.runs} done", file=sys.stderr, flush=True)
    report(args, runs)


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, float]]]) -> None:
    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    ours, raw, idle = med("ours", "seconds"), med("raw", "seconds"), med("idle", "seconds")
    applied = {r["applied"] for r in runs["ours"]}
    fired = {r["fired"] for r in runs["ours"]}
    print(f"sweep on SQLite: {args.items:,} items, {args.due:,} due, {args.fire:,} of them "
          f"firing `expire` into a state with a deadline and 3 steps; median of {args.runs} "
          "runs (each sweep in its own process)")
    print(f"{'run':<26}{'seconds':>10}{'steps/s':>12}{'peak MB':>10}{'vs raw':>9}"
          f"{'CPU s':>9}{'CPU vs raw':>12}")
    cpu = {kind: med(kind, "cpu") for kind in ("ours", "raw")}
    print(f"{'rectify sweep':<26}{ours:>10.3f}{args.due / ours:>12,.0f}"
          f"{med('ours', 'rss_mb'):>10.0f}{ours / raw:>8.2f}x{cpu['ours']:>9.3f}"
          f"{cpu['ours'] / cpu['raw']:>11.2f}x")
    print(f"{'raw sqlite3, same work':<26}{raw:>10.3f}{args.due / raw:>12,.0f}"
          f"{med('raw', 'rss_mb'):>10.0f}{1:>8.2f}x{cpu['raw']:>9.3f}{1:>11.2f}x")
    print(f"{'idle sweep (nothing due)':<26}{idle * 1000:>9.2f}ms{'':>12}"
          f"{med('idle', 'rss_mb'):>10.0f}")
    print(f"steps applied per run: {sorted(applied)}, transitions fired: {sorted(fired)}; "
          "targets: <= 0.5 s and <= 2x raw, idle <= 5 ms, peak <= 200 MB")


if __name__ == "__main__":
    main()
