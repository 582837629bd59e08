"""`rectify outbox dispatch` of 10,000 item notices to a file channel (issue 21: <= 1.5 s).

The rows are what a sweep queues: item notices stored as their template's context (`overdue`,
each its own item), rendered by the dispatcher when sent. Each run copies a template database
and runs the real console command in its own process, interpreter start-up included (what an
operator or cron waits for), and also times the dispatch inside that process. The baseline,
in the same run: writing the very lines the dispatch wrote (read back from its file) to a new
file, one write per line, as the file channel does. Prints medians of wall and CPU time.

Run: python bench/bench_dispatch.py [--rows 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOW = datetime(2025, 9, 26, 2, tzinfo=UTC)


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
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    report = json.loads(done.stdout)
    assert report["failed"] == 0, report
    return wall, after.children_user + after.children_system - before.children_user \
        - before.children_system, out


def baseline(lines: list[str], work: Path) -> float:
    """Append the same lines to a file, opening it for each as the file channel does."""
    path = work / "raw.jsonl"
    path.unlink(missing_ok=True)
    start = time.perf_counter()
    for line in lines:
        with path.open("a", encoding="utf-8") as out:
            out.write(line)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        template = build(work, args.rows)
        walls, cpus, raws = [], [], []
        for _ in range(args.runs):
            wall, cpu, out = dispatch_once(template, work)
            lines = out.read_text("utf-8").splitlines(keepends=True)
            assert len(lines) == args.rows, f"{len(lines)} lines for {args.rows} rows"
            assert len({json.loads(line)["key"] for line in lines}) == args.rows  # each once
            walls.append(wall)
            cpus.append(cpu)
            raws.append(baseline(lines, work))
        idle_wall, _, _ = dispatch_once(build_empty(work), work)
    wall, cpu, raw = (statistics.median(v) for v in (walls, cpus, raws))
    print(f"outbox dispatch, {args.rows:,} rows to a file channel, median of {args.runs}")
    print(f"  rectify outbox dispatch (whole command) {wall:7.3f} s wall  {cpu:7.3f} s CPU"
          f"   {args.rows / wall:9,.0f} rows/s   target <= 1.5 s")
    print(f"  same command, nothing due (start-up)    {idle_wall:7.3f} s wall")
    print(f"  raw: the same lines appended to a file  {raw:7.3f} s wall"
          f"   ratio {wall / raw:5.1f}x (start-up included)")
    print(f"  all runs (wall): {', '.join(f'{w:.3f}' for w in walls)}")


def build_empty(work: Path) -> Path:
    folder = work / "empty"
    folder.mkdir(exist_ok=True)
    return build(folder, 0)


if __name__ == "__main__":
    main()
