"""Time `rectify ledger export` of 50,000 items to xlsx against openpyxl alone writing the
same cells, in the same run (issue 21: <= 2x).

Seeds a fresh SQLite database by importing a generated 50,000-row ledger (bench_import's county
of 17 townships and 204 villages), then, interleaved, for each round: the real console script
exporting the rectification ledger (interpreter start-up, database reads, lights, names, the
print layout, everything a user waits for; wall time, and the child's CPU time), and openpyxl's
write-only mode writing the very cells of that export (read back from it with calamine: the
same values, dates as dates, the same sheet) with nothing else. Prints medians and the ratio.

    python bench/bench_export.py [ITEMS] [RUNS]
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_import import NOW, fresh_db, make_ledger, rectify


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def export(db: Path, out: Path) -> tuple[float, float]:
    cpu, started = cpu_children(), time.perf_counter()
    subprocess.run([*rectify(), "--db", f"sqlite:///{db}", "--now", NOW, "ledger", "export",
                    "--workflow", "rectification", "-o", str(out), "--force"],
                   check=True, capture_output=True)
    return time.perf_counter() - started, cpu_children() - cpu


def cells_of(path: Path) -> list[list[object]]:
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    return [[None if c == "" else c for c in row] for row in sheet.to_python()]


def baseline(cells: list[list[object]], out: Path) -> tuple[float, float]:
    from openpyxl import Workbook

    cpu, started = time.process_time(), time.perf_counter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("问题整改闭环")
    for row in cells:
        sheet.append(row)
    book.save(out)
    return time.perf_counter() - started, time.process_time() - cpu


def main(items: int = 50_000, runs: int = 3) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ledger = folder / "台账.xlsx"
        make_ledger(ledger, items)
        db = fresh_db(folder)
        subprocess.run([*rectify(), "--db", f"sqlite:///{db}", "--as", "boss", "--now", NOW,
                        "item", "import", str(ledger), "--workflow", "rectification"],
                       check=True, capture_output=True)
        ours, raw = [], []
        cells: list[list[object]] = []
        for n in range(runs):
            out = folder / f"export{n}.xlsx"
            ours.append(export(db, out))
            cells = cells or cells_of(out)
            raw.append(baseline(cells, folder / f"raw{n}.xlsx"))
        assert len(cells) == items + 3, len(cells)  # title, 填报单位, header
        wall, cpu = (statistics.median(t[i] for t in ours) for i in (0, 1))
        raw_wall, raw_cpu = (statistics.median(t[i] for t in raw) for i in (0, 1))
        print(f"ledger export, {items} items, {len(cells[2])} columns (median of {runs}):")
        print(f"  rectify ledger export (console script): {wall:.2f} s wall, {cpu:.2f} s CPU")
        print(f"  openpyxl write-only, same cells:         {raw_wall:.2f} s wall, "
              f"{raw_cpu:.2f} s CPU")
        print(f"  ratio: {wall / raw_wall:.2f}x wall, {cpu / raw_cpu:.2f}x CPU (target <= 2x)")
        return wall / raw_wall


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
