"""Time `rectify ledger export` of 50,000 items to xlsx against openpyxl alone writing the
same cells, in the same run (issue 21: <= 2x).

Seeds a fresh SQLite database by importing a generated 50,000-row ledger (bench_import's county
of 17 townships and 204 villages), then, interleaved, for each round: the real console script
exporting the rectification ledger (interpreter start-up, database reads, lights, names, the
print layout, everything a user waits for; wall time, and the child's CPU time), and openpyxl's
write-only mode writing the very cells of that export (read back from it with openpyxl: the same
values, dates as dates, and each cell's format: the lights' fills, wrapped text, the header,
the rows' heights), each kind of format set once and copied to the rest, with nothing else; a
guard checks that workbook holds the export's values and formats. Also openpyxl writing the
values alone, unstyled, as before session 13. Prints medians and both ratios.

    python bench/bench_export.py [ITEMS] [RUNS]
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from copy import copy
from datetime import date, datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import Any, NamedTuple

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


class Cells(NamedTuple):
    """What the export holds, cell by cell: values, and each cell's style as a kind (None:
    unstyled), with the styles of each kind and the rows' heights."""

    values: list[list[object]]
    kinds: list[list[int | None]]
    styles: list[tuple[Any, ...]]  # font, fill, border, alignment, number format
    heights: dict[int, float]


def cells_of(path: Path) -> Cells:
    """Read the export back with openpyxl: its values (dates as dates) and its formats. A day
    whose only format is the date format openpyxl gives a `date` by itself is kept as a plain
    `date` (what the export writes: no styled cell needed for it)."""
    from openpyxl import load_workbook

    sheet = load_workbook(path).worksheets[0]
    styles: dict[tuple[Any, ...], int] = {}
    values, kinds = [], []
    day = _style(_plain_date_cell())
    for row in sheet.iter_rows():
        cells = [(c.value, _style(c) if c.has_style and c.style_id else None) for c in row]
        cells = [(v.date(), None) if style == day and _midnight(v) else (v, style)
                 for v, style in cells]
        values.append([v for v, _ in cells])
        kinds.append([None if style is None else styles.setdefault(style, len(styles))
                      for _, style in cells])
    heights = {n: d.height for n, d in sheet.row_dimensions.items() if d.height}
    return Cells(values, kinds, list(styles), heights)


def _style(cell: Any) -> tuple[Any, ...]:
    return (copy(cell.font), copy(cell.fill), copy(cell.border), copy(cell.alignment),
            cell.number_format)


def _plain_date_cell() -> Any:
    from openpyxl import Workbook

    cell = Workbook().active["A1"]
    cell.value = date(2025, 1, 1)
    return cell


def _midnight(value: object) -> bool:
    return isinstance(value, datetime) and value == datetime.combine(value.date(), time_of_day())


def _as_read(value: object) -> object:
    """A value as openpyxl reads it back: a date cell is a datetime."""
    return datetime.combine(value, time_of_day()) if type(value) is date else value


def baseline(cells: Cells, out: Path, styled: bool = True) -> tuple[float, float]:
    """openpyxl's write-only mode writing those cells: with their formats (each kind styled
    once and its style ids copied to the rest, as fast as openpyxl styles many cells) and the
    rows' heights, or (`styled` False) the values alone."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    cpu, started = time.process_time(), time.perf_counter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("问题整改闭环")
    made: dict[int, Any] = {}
    for number, (row, kinds) in enumerate(zip(cells.values, cells.kinds, strict=True), 1):
        if styled:
            if number in cells.heights:
                sheet.row_dimensions[number].height = cells.heights[number]
            row = [value if kind is None else
                   _styled(WriteOnlyCell(sheet, value), kind, cells, made)
                   for value, kind in zip(row, kinds, strict=True)]
        sheet.append(row)
    book.save(out)
    return time.perf_counter() - started, time.process_time() - cpu


def _styled(cell: Any, kind: int, cells: Cells, made: dict[int, Any]) -> Any:
    """`cell` in its kind's format: set attribute by attribute the first time, copied after
    (the import of openpyxl's cell is outside the timed loop, as rectify's own is)."""
    style = made.get(kind)
    if style is None:
        cell.font, cell.fill, cell.border, cell.alignment, cell.number_format = \
            cells.styles[kind]
        made[kind] = copy(cell._style)
    else:
        cell._style = copy(style)
    return cell


def main(items: int = 50_000, runs: int = 3) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ledger = folder / "台账.xlsx"
        make_ledger(ledger, items)
        db = fresh_db(folder)
        subprocess.run([*rectify(), "--db", f"sqlite:///{db}", "--as", "boss", "--now", NOW,
                        "item", "import", str(ledger), "--workflow", "rectification"],
                       check=True, capture_output=True)
        ours, styled, plain = [], [], []
        cells: Cells | None = None
        for n in range(runs):
            out = folder / f"export{n}.xlsx"
            ours.append(export(db, out))
            if cells is None:
                cells = cells_of(out)
                _same_cells(cells, folder / "check.xlsx")
            styled.append(baseline(cells, folder / f"raw{n}.xlsx"))
            plain.append(baseline(cells, folder / f"plain{n}.xlsx", styled=False))
        assert cells is not None and len(cells.values) == items + 3  # title, 填报单位, header
        wall, cpu = (statistics.median(t[i] for t in ours) for i in (0, 1))
        print(f"ledger export, {items} items, {len(cells.values[2])} columns, "
              f"{len(cells.styles)} kinds of styled cell (median of {runs}):")
        print(f"  rectify ledger export (console script): {wall:.2f} s wall, {cpu:.2f} s CPU")
        ratio = 0.0
        for name, runs_of in (("openpyxl write-only, same cells, styled", styled),
                              ("openpyxl write-only, values only", plain)):
            raw_wall, raw_cpu = (statistics.median(t[i] for t in runs_of) for i in (0, 1))
            print(f"  {name + ':':<42}{raw_wall:.2f} s wall, {raw_cpu:.2f} s CPU; rectify "
                  f"{wall / raw_wall:.2f}x wall, {cpu / raw_cpu:.2f}x CPU")
            ratio = ratio or wall / raw_wall
        print("  target: <= 2x openpyxl writing the same cells (the styled line)")
        return ratio


def _same_cells(cells: Cells, out: Path) -> None:
    """The baseline's workbook must hold what the export holds: values and formats alike."""
    baseline(cells, out)
    again = cells_of(out)
    ours = [[k if k is None else cells.styles[k] for k in row] for row in cells.kinds]
    theirs = [[k if k is None else again.styles[k] for k in row] for row in again.kinds]
    same_values = [[_as_read(v) for v in row] for row in again.values] == \
        [[_as_read(v) for v in row] for row in cells.values]
    if not same_values or theirs != ours or again.heights != cells.heights:
        sys.exit("the baseline's cells differ from the export's")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
