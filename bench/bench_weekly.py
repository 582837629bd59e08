"""`rectify report weekly` at 1,000,000 items on SQLite: time and peak memory, against raw sqlite3
running the same aggregates in the same run.

The database is built with raw inserts (a few hundred thousand rows a second): 10 townships of
10 villages, items of the bundled 问题整改闭环 created over the last 50 weeks; 60% closed (a
fifth of them late), the rest open (整改中, 待验收, 追责问责), some overdue; history rows for
create, assign, submit, reject and accept, and the escalation steps of each 整改中 entry. Each
report runs as the real console script in its own process (cold start included), and its peak
RSS is the kernel's high-water mark for that process. The raw baseline runs the same GROUP BY
queries (found, the light bands, closed and on time, rejections, steps, the chart) in sqlite3.

The database is built in a child process: a report's process is forked from this one, and the
kernel's high-water mark of its memory (ru_maxrss) starts from this process's size at the fork,
so a build here (~280 MB of rows) made every report look that large. Each report runs with its
bytecode cached (PYTHONPYCACHEPREFIX, after a warm-up run), as an installed package runs; the
environment here sets PYTHONDONTWRITEBYTECODE, which would compile rectify anew in every run.
`--against DIR` runs a second tree (DIR on PYTHONPATH holds its `rectify`, e.g. main's `git
archive` beside a symlink) in the same rounds, alternating, and checks both write the same bytes.

Run: python bench/bench_weekly.py [--items 1000000] [--runs 5] [--db FILE (kept, reused)]
     [--against DIR]
"""

from __future__ import annotations

import argparse
import os
import random
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
NOW = datetime(2025, 11, 7, 10, tzinfo=UTC)  # Friday 18:00 in Beijing, W45
WEEK_START = datetime(2025, 11, 2, 16, tzinfo=UTC)  # Monday 00:00 in Beijing
WEEKS = 50
TOWNS, VILLAGES = 10, 10
LADDER = ((-2, 0), (0, 1), (3, 1), (5, 1))  # (days from the deadline, past_deadline)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def org_yaml() -> str:
    lines = ["units:", "  - id: county", "    name: 某县", "    children:"]
    for t in range(TOWNS):
        lines += [f"      - id: t{t}", f"        name: 第{t}镇", "        children:"]
        lines += [f"          - {{id: t{t}v{v}, name: 第{t}镇{v}村}}" for v in range(VILLAGES)]
    lines += ["people:", "  - {id: li, name: 李四, roles: {inspector: county, leader: county}}",
              "  - {id: zhang, name: 张三, roles: {rectifier: county, acceptor: county}}"]
    return "\n".join(lines) + "\n"


def build(path: Path, items: int) -> None:
    """A migrated database with the org, the bundled workflows and `items` raw-inserted items."""
    env = {**os.environ, "RECTIFY_DB": f"sqlite:///{path}"}
    org = path.parent / "org.yaml"
    org.write_text(org_yaml(), "utf-8")
    for args in (["init"], ["org", "load", str(org)]):
        subprocess.run(["rectify", "--db", f"sqlite:///{path}", *args], check=True, env=env,
                       capture_output=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("pragma journal_mode=wal")
    db.execute("pragma synchronous=off")
    version = db.execute(
        "select id from workflow_versions where name='rectification'").fetchone()[0]
    rng = random.Random(7)
    chunk = 50_000
    started = time.perf_counter()
    for first in range(1, items + 1, chunk):
        rows = [_item(rng, i, version) for i in range(first, min(first + chunk, items + 1))]
        db.execute("begin")
        db.executemany(
            "insert into items (id, workflow, workflow_version_id, state, unit_id, unit_path, "
            "assignee_id, creator_id, fields, counts, cycle_actors, entry_no, entered_at, "
            "due_at, due_provisional, due_override, final, created_at, closed_at, version, "
            "last_seq, last_hash, original_due_at) values "
            "(?,?,?,?,?,?,?,?,?,'{}','{}',?,?,?,0,0,?,?,?,1,?,'',?)",
            [r["item"] for r in rows])
        db.executemany(
            "insert into history (item_id, seq, kind, \"trigger\", source, dest, actor, at, "
            "data, prev_hash, hash) values (?,?,?,?,?,?,?,?,'{}','','')",
            [h for r in rows for h in r["history"]])
        db.executemany(
            "insert into escalation_steps (item_id, entry_no, step_index, state, due_at, "
            "planned_at, status, applied_at, late, past_deadline) values (?,?,?,?,?,?,?,?,0,?)",
            [s for r in rows for s in r["steps"]])
        db.execute("commit")
    db.execute("analyze")
    db.execute("pragma wal_checkpoint(truncate)")
    db.close()
    print(f"built {items:,} items in {time.perf_counter() - started:.1f} s", flush=True)


def _item(rng: random.Random, i: int, version: int) -> dict:
    t, v = rng.randrange(TOWNS), rng.randrange(VILLAGES)
    unit, path = f"t{t}v{v}", f"/county/t{t}/t{t}v{v}/"
    created = NOW - timedelta(days=rng.uniform(0, WEEKS * 7))
    due = created + timedelta(days=14)
    fate = rng.random()
    history = [(i, 1, "create", None, None, "discovered", "li", _ts(created)),
               (i, 2, "transition", "assign", "discovered", "rectifying", "li", _ts(created))]
    steps = []
    late = rng.random() < 0.2
    done_at = due + timedelta(days=rng.uniform(1, 6)) if late else \
        created + timedelta(days=rng.uniform(1, 13))
    if fate < 0.6 and done_at < NOW:  # closed: submitted, perhaps rejected once, accepted
        for k, (days, past) in enumerate(LADDER):
            at = due + timedelta(days=days)
            applied = at < done_at
            steps.append((i, 2, k, "rectifying", None, _ts(at),
                          "applied" if applied else "cancelled", _ts(at) if applied else None,
                          past))
        history += [(i, 3, "transition", "submit", "rectifying", "accepting", "zhang",
                     _ts(done_at)),
                    (i, 4, "transition", "accept", "accepting", "closed", "zhang",
                     _ts(done_at + timedelta(hours=5)))]
        closed = _ts(done_at + timedelta(hours=5))
        state, entry, entered, item_due, final = "closed", 4, closed, None, 1
    else:  # open, in 整改中 (overdue if its deadline has passed) or a later state
        state = rng.choice(("rectifying", "rectifying", "rectifying", "accepting"))
        entry, entered, item_due, final, closed = 2, _ts(created), _ts(due), 0, None
        for k, (days, past) in enumerate(LADDER):
            at = due + timedelta(days=days)
            applied = at < NOW
            steps.append((i, 2, k, "rectifying", None if applied else _ts(at), _ts(at),
                          "applied" if applied else "pending", _ts(at) if applied else None,
                          past))
        if state == "accepting":
            history.append((i, 3, "transition", "submit", "rectifying", "accepting", "zhang",
                            _ts(created + timedelta(days=3))))
            entry, entered = 3, _ts(created + timedelta(days=3))
            item_due = _ts(created + timedelta(days=6))
    item = (i, "rectification", version, state, unit, path, "zhang", "li",
            f'{{"description": "问题 {i}"}}', entry, entered, item_due, final, _ts(created),
            closed, len(history), item_due)
    return {"item": item, "history": history, "steps": steps}


def env(pythonpath: str | None = None) -> dict[str, str]:
    """The report's environment: bytecode cached in PYCACHE; `pythonpath` puts another tree's
    rectify first."""
    out = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if PYCACHE is not None:
        out["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    if pythonpath is not None:
        out["PYTHONPATH"] = pythonpath
    return out


PYCACHE: Path | None = None  # set in main: a bytecode cache outside the repository


def run_report(db: Path, out: Path, fmt: str,
               pythonpath: str | None = None) -> dict[str, float]:
    """The console script in its own process: wall seconds, CPU seconds, peak RSS in MB."""
    start = time.perf_counter()
    proc = subprocess.Popen(["rectify", "--db", f"sqlite:///{db}", "--now", NOW.isoformat(),
                             "report", "weekly", "--format", fmt, "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env(pythonpath))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"report failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return {"seconds": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024}


RAW_QUERIES = (
    "select unit_path, count(*) from items where created_at >= :s and created_at < :e "
    "group by unit_path",
    "select unit_path, case when due_at < :now then 2 when due_at < :soon then 1 else 0 end b, "
    "count(*) from items where final = 0 and due_at is not null group by unit_path, b",
    "select unit_path, count(*), sum(case when exists (select 1 from escalation_steps s where "
    "s.item_id = items.id and s.status = 'applied' and s.past_deadline) then 0 else 1 end) "
    "from items where closed_at >= :s and closed_at < :e group by unit_path",
    "select h.dest, i.unit_path, count(*) from history h join items i on i.id = h.item_id "
    "where h.kind = 'transition' and h.\"trigger\" = 'reject' and h.at >= :s and h.at < :e "
    "group by h.dest, i.unit_path",
    "select s.state, s.step_index, i.unit_path, count(*) from escalation_steps s join items i "
    "on i.id = s.item_id where s.status = 'applied' and s.applied_at >= :s and "
    "s.applied_at < :e group by s.state, s.step_index, i.unit_path",
    "select id, fields from items where final = 0 and due_at < :now order by due_at limit 50",
    "select count(*) from items where created_at < :h",
    "select count(*) from items where closed_at < :h",
)


def raw_baseline(db: Path) -> float:
    """The same aggregates in plain sqlite3, in this process (no start-up): seconds."""
    conn = sqlite3.connect(db)
    params = {"s": _ts(WEEK_START), "e": _ts(WEEK_START + timedelta(days=7)), "now": _ts(NOW),
              "soon": _ts(NOW + timedelta(days=4)), "h": _ts(WEEK_START - timedelta(weeks=7))}
    start = time.perf_counter()
    for query in RAW_QUERIES:
        conn.execute(query, params).fetchall()
    for week in range(8):
        s = WEEK_START - timedelta(weeks=week)
        for column in ("created_at", "closed_at"):
            conn.execute(f"select count(*) from items where {column} >= ? and {column} < ?",
                         (_ts(s), _ts(s + timedelta(days=7)))).fetchall()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, help="build here (or reuse if it exists)")
    parser.add_argument("--against", help="another tree's PYTHONPATH, run in the same rounds")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child that builds
    args = parser.parse_args()
    if args.build:
        build(args.build, args.items)
        return
    if shutil.which("rectify") is None:
        raise SystemExit("the rectify console script is not on PATH")
    folder = Path(tempfile.mkdtemp(prefix="bench-weekly-"))
    global PYCACHE
    PYCACHE = folder / "pycache"
    db = args.db or folder / "weekly.db"
    if not db.exists():
        subprocess.run([sys.executable, __file__, "--build", str(db), "--items",
                        str(args.items)], check=True)
    out = folder / "out"
    trees = {"this tree": None, **({"--against": args.against} if args.against else {})}
    formats = ("html", "xlsx", "md")
    results = {(tree, fmt): [] for tree in trees for fmt in formats}
    for path in trees.values():  # warm-up: bytecode and the page cache
        run_report(db, out.with_suffix(".html"), "html", path)
    raw = []
    for _ in range(args.runs):
        raw.append(raw_baseline(db))
        for fmt in formats:
            for n, (tree, path) in enumerate(trees.items()):
                target = out.with_name(f"out{n}").with_suffix(f".{fmt}")
                results[(tree, fmt)].append(run_report(db, target, fmt, path))
            if args.against and fmt != "xlsx":  # an xlsx holds its own write time
                same = (out.with_name("out0").with_suffix(f".{fmt}").read_bytes()
                        == out.with_name("out1").with_suffix(f".{fmt}").read_bytes())
                assert same, f"the two trees wrote different {fmt}"
    base = statistics.median(raw)
    print(f"items: {args.items:,}   runs: {args.runs} (medians)")
    print(f"raw sqlite3, the same aggregates in-process: {base:.3f} s")
    for (tree, fmt), runs in results.items():
        wall = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rss = max(r["rss_mb"] for r in runs)
        print(f"{tree:9} report weekly --format {fmt:4}: {wall:.3f} s wall, {cpu:.3f} s CPU, "
              f"peak {rss:.0f} MB; {wall / base:.1f}x raw   (target <= 2 s, <= 200 MB)")
    shutil.rmtree(folder)  # the outputs and the bytecode cache; --db is kept


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
