"""Staff commands as the database grows: does each cost what its answer costs, or what the whole
database costs?

Grows one SQLite database (bench/scale_db.py: items spread over 100 villages, history chains,
seals, ladders, evidence) to each size and runs the installed `rectify` console script as a
subprocess for: `item list` to its first line (as `| head -5` would), the whole `item list` and
`item list --json`, a 1% filter (`--unit` one village), `item show`, `report weekly` (html),
`ledger export` (xlsx), `audit verify` (and, in the same run, raw sqlite3 reading the same rows
and making the same checks: the ratio), and `outbox dispatch` of 10,000 rows to a file
channel. Wall time, CPU time (user + system) and peak RSS come from GNU time
(`/usr/bin/time`), which starts each command itself, so no parent's memory is counted.
Medians over --runs.

At the end: for each command, how its CPU time grew with the database (the exponent k in
cpu ~ n^k between the smallest and largest size), beside how its answer grew.

Run: python bench/bench_scale.py [--sizes 10000,100000,1000000] [--runs 3] [--big-runs 1]
     [--only list,verify]
     [--dir DIR (keep the database there)]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scale_db  # noqa: E402

UNIT = scale_db.village(3)  # one village of 100: 1% of the items
DISPATCH = 10_000
# name: (what the answer is, whether it grows with the database)
ANSWERS = {
    "first": ("5 lines", False), "list": ("every item", True), "json": ("every item", True),
    "unit": ("1% of the items", True), "show": ("one item", False),
    "report": ("one page", False), "ledger": ("every item", True),
    "verify": ("every item", True), "raw verify": ("every item", True),
    "dispatch": (f"{DISPATCH:,} notices", False),
}


def rectify(folder: Path, *args: str) -> list[str]:
    exe = shutil.which("rectify")
    assert exe, "the rectify console script is not installed"
    return [exe, "--db", f"sqlite:///{folder / 'scale.db'}", "--now",
            scale_db.NOW.isoformat(), "--config", str(folder / "rectify.toml"), "--as",
            "boss", *args]


def timed(argv: list[str], folder: Path) -> dict[str, float]:
    """Wall, CPU (user+sys) and peak RSS of one command, its stdout thrown away."""
    report = folder / "time.txt"
    run = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(report), *argv],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         cwd=folder, check=False)
    # Exit 7 would be a failed audit; anything but 0 means the figure is not of the work.
    assert run.returncode == 0, f"{argv[5:]} exited {run.returncode}: {run.stderr[-500:]}"
    wall, user, system, rss_kb = report.read_text().split()[-4:]
    return {"wall": float(wall), "cpu": float(user) + float(system), "rss": int(rss_kb) / 1024}


def first_line(argv: list[str], folder: Path) -> dict[str, float]:
    """Seconds until `item list` prints its first line; then it is stopped, as head would."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=folder)
    assert proc.stdout is not None
    proc.stdout.readline()
    wall = time.perf_counter() - start
    for _ in range(4):
        proc.stdout.readline()
    proc.kill()
    proc.wait()
    return {"wall": wall, "cpu": math.nan, "rss": math.nan}


def add_outbox(folder: Path, n: int) -> None:
    """n pending notices, copies of the templates' own, each under a new dedupe key."""
    db = scale_db.connect(folder / "scale.db")
    cols = [r[1] for r in db.execute("pragma table_info(outbox)") if r[1] != "id"]
    models = db.execute(f"select {','.join(cols)} from outbox where body_text is null "
                        "order by id limit 50").fetchall()
    key, status = cols.index("dedupe_key"), cols.index("status")
    rows = []
    for i in range(n):
        row = list(models[i % len(models)])
        row[key], row[status] = f"bench-{time.time_ns()}-{i}", "pending"
        rows.append(row)
    db.execute("begin")
    db.executemany(f"insert into outbox ({','.join(cols)}) values ({','.join('?' * len(cols))})",
                   rows)
    db.execute("commit")
    db.close()


def measures(folder: Path, size: int) -> dict[str, Callable[[], dict[str, float]]]:
    show_id = size // 2 - (size // 2) % scale_db.VILLAGES + 5  # an item 整改中, mid-table
    return {
        "first": lambda: first_line(rectify(folder, "item", "list"), folder),
        "list": lambda: timed(rectify(folder, "item", "list"), folder),
        "json": lambda: timed(rectify(folder, "--json", "item", "list"), folder),
        "unit": lambda: timed(rectify(folder, "item", "list", "--unit", UNIT), folder),
        "show": lambda: timed(rectify(folder, "item", "show", str(show_id)), folder),
        "report": lambda: timed(rectify(folder, "report", "weekly", "--format", "html", "-o",
                                        str(folder / "weekly.html")), folder),
        "ledger": lambda: timed(rectify(folder, "ledger", "export", "--format", "xlsx",
                                        "--force", "-o", str(folder / "ledger.xlsx")), folder),
        "verify": lambda: timed(rectify(folder, "audit", "verify"), folder),
        "raw verify": lambda: timed([sys.executable, __file__, "--raw-verify",
                                     str(folder / "scale.db")], folder),
        "dispatch": lambda: (add_outbox(folder, DISPATCH),
                             timed(rectify(folder, "outbox", "dispatch"), folder))[1],
    }


def measure_size(folder: Path, size: int, runs: int, only: set[str]) -> dict[str, Any]:
    out = {}
    for name, run in measures(folder, size).items():
        if only and not any(name.startswith(o) for o in only):
            continue
        got = [run() for _ in range(runs)]
        out[name] = {k: statistics.median(g[k] for g in got) for k in ("wall", "cpu")}
        out[name]["rss"] = max(g["rss"] for g in got)
    return out


def print_size(size: int, got: dict[str, Any]) -> None:
    print(f"\n{size:,} items (medians; wall includes interpreter start)")
    print(f"  {'command':<12} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}  answer")
    for name, m in got.items():
        print(f"  {name:<12} {m['wall']:8.2f} {m['cpu']:8.2f} {m['rss']:8.0f}  "
              f"{ANSWERS[name][0]}")
    ratios = [("first line / item show", "first", "show", "wall"),
              ("1% filter / item show", "unit", "show", "wall"),
              ("audit verify / raw sqlite3", "verify", "raw verify", "cpu")]
    for label, a, b, key in ratios:
        if a in got and b in got:
            print(f"  {label}: {got[a][key] / got[b][key]:.2f}x ({key})")


def print_growth(results: dict[int, dict[str, Any]]) -> None:
    small, large = min(results), max(results)
    if small == large:
        return
    print(f"\nGrowth from {small:,} to {large:,} items (cpu ~ n^k; k=0 flat, k=1 linear):")
    for name in results[large]:
        a, b = results[small].get(name), results[large][name]
        key = "cpu" if not math.isnan(b["cpu"]) else "wall"
        if not a or a[key] <= 0:
            continue
        k = math.log(b[key] / a[key]) / math.log(large / small)
        answer, grows = ANSWERS[name]
        verdict = ("grows with the database" if k > 0.5 and not grows else
                   "grows with its answer (the database)" if grows and k > 0.5 else
                   "costs what its answer costs")
        print(f"  {name:<12} k={k:5.2f}  answer: {answer:<16} {verdict}")


_ITEM = ("select id, last_seq, last_hash, workflow_version_id, state, entry_no, unit_id, "
         "assignee_id, due_at, fields, final from items where id > ? order by id limit ?")
_HISTORY_COLUMNS = ("item_id", "seq", "kind", "trigger", "source", "dest", "actor", "via", "at",
                    "comment", "data", "prev_hash", "hash", "os_user", "seal")
_RANGE = "item_id > ? and item_id <= ?"
# The same rows `audit verify` reads besides items and history: the steps a check can find
# wrong (the current entry's, and pending ones) and the attachment rows.
_STEP_ROWS = ("select s.item_id, s.entry_no, s.step_index, s.status, s.planned_at from "
              "escalation_steps s join items i on i.id = s.item_id where s.item_id > ? and "
              "s.item_id <= ? and (s.entry_no = i.entry_no or s.status = 'pending') "
              "order by s.item_id, s.entry_no, s.step_index")
_FILE_ROWS = ("select item_id, sha256, name, size from attachments where item_id > ? and "
              "item_id <= ? order by item_id, id")


def raw_verify(path: Path, batch: int = 2000) -> None:
    """The same rows `audit verify` reads, read and checked in plain sqlite3: every item's head
    and sealed columns, every history row re-hashed, the chain checked to the head and the
    head's seal recomputed; the current entry's escalation steps against its ladder (planned
    with rectify's calendar, once per deadline) and the history's applied steps; attachment
    rows against the history's records. Exits 7 on a mismatch."""
    from datetime import UTC, datetime

    from rectify.engine.core.audit import GENESIS, item_seal, row_hash
    from rectify.engine.core.calendar import WorkCalendar
    from rectify.engine.core.escalation import schedule
    from rectify.engine.core.loader import load_stored_workflow
    from rectify.engine.store.db import loads

    db = scale_db.connect(path)
    specs = {i: load_stored_workflow(text, file) for i, text, file in db.execute(
        "select id, source, file from workflow_versions")}
    calendar = WorkCalendar()
    plans: dict[tuple[int, str, datetime], dict[int, str]] = {}

    def plan(version: int, state: str, due: datetime) -> dict[int, str]:
        key = (version, state, due)
        if key not in plans:
            plans[key] = {p.index: p.at.astimezone(UTC).replace(tzinfo=None).isoformat(
                sep=" ", timespec="microseconds")
                for p in schedule(specs[version], state, due, calendar, due).steps}
        return plans[key]

    last, bad = 0, 0
    while True:
        items = db.execute(_ITEM, (last, batch)).fetchall()
        if not items:
            break
        span = (last, items[-1][0])
        history: dict[int, list[dict[str, Any]]] = {}
        for row in db.execute(f"select {','.join(_HISTORY_COLUMNS)} from history where {_RANGE}"
                              " order by item_id, seq", span):
            h = dict(zip(_HISTORY_COLUMNS, row, strict=True))
            h["data"] = loads(h["data"])
            h["at"] = datetime.fromisoformat(h["at"]).replace(tzinfo=UTC)
            history.setdefault(h["item_id"], []).append(h)
        steps: dict[int, list[tuple[Any, ...]]] = {}
        for row in db.execute(_STEP_ROWS, span):
            steps.setdefault(row[0], []).append(row)
        files: dict[int, set[tuple[Any, ...]]] = {}
        for row in db.execute(_FILE_ROWS, span):
            files.setdefault(row[0], set()).add(row[1:])
        for i in items:
            rows = history.get(i[0], [])
            prev = GENESIS
            for seq, h in enumerate(rows, 1):
                bad += h["seq"] != seq or h["prev_hash"] != prev or row_hash(prev, h) != h["hash"]
                prev = h["hash"]
            due = datetime.fromisoformat(i[8]).replace(tzinfo=UTC) if i[8] else None
            seal = item_seal({"workflow_version_id": i[3], "state": i[4], "entry_no": i[5],
                              "unit_id": i[6], "assignee_id": i[7], "due_at": due,
                              "fields": loads(i[9])})
            bad += not rows or prev != i[2] or rows[-1]["seq"] != i[1] \
                or rows[-1]["seal"] not in (None, seal)
            bad += _raw_steps(i, rows, steps.get(i[0], []),
                              plan(i[3], i[4], due) if due and not i[10] else {})
            recorded = {(f["sha256"], f["name"], f["size"]) for h in rows
                        for f in h["data"].get("attachments") or ()}
            stored = files.get(i[0], set())
            bad += not stored <= recorded or {r[0] for r in recorded} != {s[0] for s in stored}
        last = items[-1][0]
    sys.exit(7 if bad else 0)


def _raw_steps(item: tuple[Any, ...], rows: list[dict[str, Any]], steps: list[tuple[Any, ...]],
               planned: dict[int, str]) -> bool:
    """Whether the current entry's steps are wrong: a pending one from an earlier entry, a
    step missing or extra, applied where the history did not apply it (or the reverse), or
    pending at another time than its ladder's."""
    applied = set()
    for h in reversed(rows):
        if h["kind"] in ("create", "transition", "migrate"):
            break
        if h["kind"] == "escalation":
            applied.add(h["data"].get("step"))
    current = [s for s in steps if s[1] == item[5]]
    return (any(s[3] == "pending" for s in steps if s[1] != item[5])
            or {s[2] for s in current} != set(planned)
            or any((s[3] == "applied") != (s[2] in applied) or s[3] == "cancelled"
                   or (s[3] == "pending" and s[4] != planned[s[2]]) for s in current))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-runs", type=int, default=1,
                        help="runs at 1,000,000 items and more (an export there takes minutes)")
    parser.add_argument("--only", default="", help="comma-separated measure names (prefixes)")
    parser.add_argument("--dir", type=Path, help="build (or reuse) the database here")
    parser.add_argument("--raw-verify", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_verify:
        raw_verify(args.raw_verify)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    only = {o.strip() for o in args.only.split(",") if o.strip()}
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "scale.db").exists():
        scale_db.build_templates(folder)
    print("load average:", " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    results = {}
    for size in sizes:
        start = time.perf_counter()
        size = scale_db.grow(folder / "scale.db", size)
        print(f"\n[grown to {size:,} items in {time.perf_counter() - start:.0f} s]",
              file=sys.stderr)
        runs = args.big_runs if size >= 1_000_000 else args.runs
        results[size] = measure_size(folder, size, runs, only)
        print_size(size, results[size])
    print_growth(results)
    if not args.dir:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
