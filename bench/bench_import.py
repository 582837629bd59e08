"""Time `rectify item import` of an 80,000-row .xlsx ledger into a fresh SQLite database.

Generates the ledger with openpyxl (write-only): a title row, then 编号, 乡镇, 村, 责任人, 户主,
问题类别, 问题描述, 整改措施, 整改时限 (half real date cells, half typed as 2026年3月28日),
for a county of 17 townships and 204 villages. Each run copies a freshly initialised database
(org and bundled workflows loaded) and runs the real console script, interpreter start-up
included, as staff would. Prints the median of the runs (default 3). Then the same ledger with
one bad row (an unknown village in the middle): nothing may be imported, and the row must be
named. Target (issue 6): <= 15 s on the CI machine. Each run's peak memory (the import
process's maximum resident set, from wait4) is printed too; issue 18's target: a 1,000,000-row
ledger under 500 MB.

    python bench/bench_import.py [ROWS] [RUNS] [LEDGER.xlsx]   # an existing ledger of ROWS rows
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook

TOWNS, VILLAGES = 17, 12
NOW = "2026-01-05T09:00:00+08:00"
HEADERS = ["问题编号", "乡镇", "村", "责任人", "户主", "问题类别", "问题描述", "整改措施",
           "整改时限"]
CATEGORIES = ("信息不实", "填写不完整", "逻辑关系错误", "致贫原因不清", "帮扶措施不明显", "其他")


def rectify() -> list[str]:
    beside = Path(sys.executable).parent / "rectify"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "rectify.cli"]


def org_yaml() -> str:
    """A county, its townships and villages; a leader per town, a cadre per village."""
    towns, people = [], [{"id": "boss", "name": "县督查组", "roles": {"inspector": "county"}}]
    for t in range(TOWNS):
        villages = [{"id": f"t{t}-v{v}", "name": f"镇{t}村{v}"} for v in range(VILLAGES)]
        towns.append({"id": f"t{t}", "name": f"镇{t}", "children": villages})
        people += [{"id": f"c{t}-{v}", "name": f"干部{t}-{v}", "roles": {"rectifier": f"t{t}-v{v}"}}
                   for v in range(VILLAGES)]
    return json.dumps({"units": [{"id": "county", "name": "某县", "children": towns}],
                       "people": people}, ensure_ascii=False)


def row(i: int) -> list[object]:
    t, v = i % TOWNS, (i // TOWNS) % VILLAGES
    due = date(2026, 2, 1) + timedelta(days=i % 120)
    return [f"WT-{i:06d}", f"镇{t}", f"镇{t}村{v}", f"干部{t}-{v}", f"户主{i % 5003}",
            CATEGORIES[i % len(CATEGORIES)], f"第{i}号问题：家庭人口信息与实际不符，需核实更正",
            "入户核实后更正系统信息",
            due if i % 2 else f"{due.year}年{due.month}月{due.day}日"]


def make_ledger(path: Path, rows: int, bad_row: int | None = None) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("台账")
    sheet.append(["某县2026年问题整改台账"])
    sheet.append(HEADERS)
    for i in range(rows):
        cells = row(i)
        if i == bad_row:
            cells[1:3] = ["镇0", "不存在村"]
        sheet.append(cells)
    book.save(path)


def fresh_db(folder: Path) -> Path:
    db = folder / "template.db"
    org = folder / "org.yaml"
    org.write_text(org_yaml(), "utf-8")
    for args in (["init"], ["org", "load", str(org)]):
        subprocess.run([*rectify(), "--db", f"sqlite:///{db}", *args], check=True,
                       capture_output=True)
    return db


def run_import(template: Path, ledger: Path, folder: Path, n: int
               ) -> tuple[float, int, Any]:
    """(seconds, peak resident MB of the import process, (result, items in the database))."""
    db = folder / f"run{n}.db"
    shutil.copy(template, db)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [*rectify(), "--db", f"sqlite:///{db}", "--as", "boss", "--now", NOW, "--json",
             "item", "import", str(ledger), "--workflow", "rectification"],
            stdout=out, stderr=err, text=True)
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        err.seek(0)
        done = subprocess.CompletedProcess(process.args, process.returncode, "", err.read())
    with sqlite3.connect(db) as conn:
        items = conn.execute("select count(*) from items").fetchone()[0]
    db.unlink()
    return elapsed, usage.ru_maxrss // 1024, (done, items)


def main(rows: int = 80_000, runs: int = 3, given: str | None = None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ledger, bad = folder / "台账.xlsx", folder / "台账-坏.xlsx"
        started = time.perf_counter()
        if given:
            ledger = Path(given)
        else:
            make_ledger(ledger, rows)
        make_ledger(bad, rows, bad_row=rows // 2)
        print(f"ledgers of {rows} rows ready in {time.perf_counter() - started:.1f} s")
        template = fresh_db(folder)
        timings, peaks = [], []
        for n in range(runs):
            elapsed, peak, (done, items) = run_import(template, ledger, folder, n)
            assert done.returncode == 0 and items == rows, (done.returncode, done.stderr[-500:])
            timings.append(elapsed)
            peaks.append(peak)
        median = statistics.median(timings)
        listed = ", ".join(f"{t:.2f}" for t in timings)
        print(f"item import: {rows} rows, median {median:.2f} s ({listed}); "
              f"peak memory {max(peaks)} MB ({', '.join(map(str, peaks))})")
        elapsed, peak, (done, items) = run_import(template, bad, folder, runs)
        expected_row = rows // 2 + 3  # title row, header row, 1-based
        assert done.returncode == 6 and items == 0, (done.returncode, items)
        assert f"row {expected_row}:" in done.stderr, done.stderr[-500:]
        named = next(line for line in done.stderr.splitlines() if f"row {expected_row}" in line)
        print(f"one bad row: exit 6 in {elapsed:.2f} s, peak {peak} MB, nothing imported; "
              f"stderr says: {named}")
    return median


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]), *sys.argv[3:4])
