"""`rectify outbox dispatch` of 10,000 item notices to a file channel (issue 21: <= 1.5 s).

The rows are what a sweep queues: item notices stored as their template's context (`overdue`,
each its own item), rendered by the dispatcher when sent. Each run copies a template database
and runs the real console command in its own process, interpreter start-up included (what an
operator or cron waits for), and the same command with nothing due (its start-up). The
baseline, in the same run: raw sqlite3 claiming and marking the same rows in batches of 500 and
writing the very lines the dispatch wrote (read back from its file), one write per line, as the
file channel does. Prints medians of wall and CPU time; compare CPU on a shared machine.

Bytecode: the command runs with PYTHONPYCACHEPREFIX set to a temporary folder and without
PYTHONDONTWRITEBYTECODE (as bench_cli.py runs), after a warm-up run, so rectify's modules load
from cached bytecode as in an installed package; nothing is written into the repository.
(Before session 11 every run compiled rectify's ~45 modules from source: ~50 ms of each.)

Run: python bench/bench_dispatch.py [--rows 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOW = datetime(2025, 9, 26, 2, tzinfo=UTC)
PYCACHE: Path | None = None  # set in main: a bytecode cache outside the repository


def env() -> dict[str, str]:
    """The command's environment: bytecode cached (in PYCACHE) as in an installed package."""
    out = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if PYCACHE is not None:
        out["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return out


def build(folder: Path, rows: int) -> Path:
    """A migrated SQLite database with `rows` pending item notices due at NOW."""
    from rectify.engine.store.db import open_engine, upgrade, write
    from rectify.engine.store.outbox import enqueue
    from rectify.notifications.context import sample_context

    path = folder / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    people = {"people": [{"person_id": "zhang", "name": "张三", "email": "z@example.org",
                          "mobile": None}]}
    queued = []
    for n in range(1, rows + 1):
        context = sample_context("overdue")
        context["item"] = {**context["item"], "id": n}
        queued.append({"dedupe_key": f"item:{n}:e1:s1:file", "channel": "file",
                       "template": "overdue", "item_id": None, "unit_id": "village-a1",
                       "recipients": people, "subject": None, "body_text": None,
                       "body_markdown": None, "data": context, "templates_dir": None,
                       "status": "pending", "attempts": 0, "next_attempt_at": NOW,
                       "created_at": NOW, "fold_key": None})
    with write(engine) as conn:
        enqueue(conn, queued)
    engine.dispose()
    return path


def dispatch_once(template: Path, work: Path) -> tuple[float, float, Path]:
    """Copy the database, run `rectify outbox dispatch`; (wall s, child CPU s, its file)."""
    db = work / "run.db"
    shutil.copy(template, db)
    out = work / "out.jsonl"
    out.unlink(missing_ok=True)
    (work / "rectify.toml").write_text(f'[channels.file]\ntype = "file"\npath = "{out}"\n')
    command = [sys.executable, "-m", "rectify.cli", "--db", f"sqlite:///{db}", "--now",
               NOW.isoformat(), "--json", "outbox", "dispatch"]
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False,
                          env=env())
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    report = json.loads(done.stdout)
    assert report["failed"] == 0, report
    return wall, after.children_user + after.children_system - before.children_user \
        - before.children_system, out


def baseline(template: Path, lines: list[str], work: Path) -> tuple[float, float]:
    """Raw sqlite3 doing the dispatch's database work on a copy of the same rows, and writing
    the lines it wrote: claim 500 due rows at a time (read their columns, push their
    next_attempt_at on), append each row's line to a file (open, one write, close, as the
    file channel does), mark the batch sent in one UPDATE. No rendering: the lines are the
    dispatch's own. (wall s, CPU s), in this process."""
    db_path, out = work / "raw.db", work / "raw.jsonl"
    shutil.copy(template, db_path)
    out.unlink(missing_ok=True)
    encoded = [line.encode("utf-8") for line in lines]
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("pragma journal_mode=wal")
    now, until = (t.strftime("%Y-%m-%d %H:%M:%S.%f") for t in (NOW, NOW + timedelta(minutes=5)))
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    start, cpu, sent = time.perf_counter(), time.process_time(), 0
    while True:
        db.execute("begin immediate")
        rows = db.execute(
            "select id, channel, attempts, dedupe_key, template, item_id, unit_id, recipients,"
            " subject, body_text, body_markdown, templates_dir, data, fold_key from outbox"
            " where status = 'pending' and next_attempt_at <= ?"
            " order by next_attempt_at, id limit 500", (now,)).fetchall()
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        if ids:
            db.execute(f"update outbox set next_attempt_at = ? where id in ({marks})",
                       (until, *ids))
        db.execute("commit")
        if not ids:
            break
        for line in encoded[sent:sent + len(ids)]:
            fd = os.open(out, flags, 0o666)
            os.write(fd, line)
            os.close(fd)
        sent += len(ids)
        db.execute("begin immediate")
        db.execute("update outbox set status = 'sent', sent_at = ?, last_error = null,"
                   f" attempts = attempts + 1, next_attempt_at = null where id in ({marks})",
                   (now, *ids))
        db.execute("commit")
    db.close()
    assert sent == len(lines), (sent, len(lines))
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    global PYCACHE
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        PYCACHE = work / "pycache"
        template = build(work, args.rows)
        walls, cpus, raws, idles = [], [], [], []
        empty = build_empty(work)
        dispatch_once(empty, work)  # warm-up: writes the bytecode cache
        for _ in range(args.runs):
            wall, cpu, out = dispatch_once(template, work)
            lines = out.read_text("utf-8").splitlines(keepends=True)
            assert len(lines) == args.rows, f"{len(lines)} lines for {args.rows} rows"
            assert len({json.loads(line)["key"] for line in lines}) == args.rows  # each once
            walls.append(wall)
            cpus.append(cpu)
            raws.append(baseline(template, lines, work))
            idles.append(dispatch_once(empty, work)[:2])
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    raw_wall, raw_cpu = (statistics.median(r[i] for r in raws) for i in (0, 1))
    idle_wall, idle_cpu = (statistics.median(r[i] for r in idles) for i in (0, 1))
    print(f"outbox dispatch, {args.rows:,} rows to a file channel, median of {args.runs}; "
          f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"  rectify outbox dispatch (whole command) {wall:7.3f} s wall  {cpu:7.3f} s CPU"
          f"   {args.rows / wall:9,.0f} rows/s   target <= 1.5 s")
    print(f"  same command, nothing due (start-up)    {idle_wall:7.3f} s wall"
          f"  {idle_cpu:7.3f} s CPU")
    print(f"  the dispatch itself (minus start-up)    {wall - idle_wall:7.3f} s wall"
          f"  {cpu - idle_cpu:7.3f} s CPU")
    print(f"  raw sqlite3: claim, same lines, mark    {raw_wall:7.3f} s wall  {raw_cpu:7.3f} s CPU"
          f"   CPU ratio {(cpu - idle_cpu) / raw_cpu:5.1f}x (start-up excluded)")
    print(f"  all runs (wall): {', '.join(f'{w:.3f}' for w in walls)}")


def build_empty(work: Path) -> Path:
    folder = work / "empty"
    folder.mkdir(exist_ok=True)
    return build(folder, 0)


if __name__ == "__main__":
    main()
