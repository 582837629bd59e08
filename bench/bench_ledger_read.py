"""Time `read_ledger` on an 80,000-row ledger: the size of a county's yearly 问题台账.

Generates the xlsx with openpyxl (write-only) into a temporary directory, shaped like an office
ledger (a merged-style title row, then 10 columns of text, choices, numbers and dates in the
forms people type), reads it three times and prints the median. Target: well under 5 s.

    python bench/bench_ledger_read.py [ROWS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType

from openpyxl import Workbook
from rectify.engine.core.errors import SourceLoc
from rectify.engine.core.spec import FieldSpec, WorkflowSpec
from rectify.engine.ledgers import read_ledger

HEADERS = [
    "问题编号", "乡镇", "村", "责任人", "户主", "问题类别",
    "问题描述", "整改措施", "金额（元）", "发现日期", "整改时限",
]  # fmt: skip
CATEGORIES = ("信息不实", "填写不完整", "其他")


def bench_spec() -> WorkflowSpec:
    loc = SourceLoc("bench", 1, 1)
    fields = [
        FieldSpec("description", "text", "问题描述", loc),
        FieldSpec("category", "choice", "问题类别", loc, choices=CATEGORIES),
        FieldSpec("measures", "text", "整改措施", loc),
        FieldSpec("amount", "number", "金额", loc),
        FieldSpec("found_on", "date", "发现日期", loc),
    ]
    return WorkflowSpec(
        name="bench", title="bench", timezone="Asia/Shanghai", calendar="cn",
        initial="discovered", fields=MappingProxyType({f.name: f for f in fields}),
        roles=MappingProxyType({}), states=MappingProxyType({}), transitions=(),
        file="bench", loc=loc,
    )  # fmt: skip


def _row(i: int) -> list[object]:
    found = date(2026, 1, 1) + timedelta(days=i % 300)
    # Half the deadlines as real date cells, half as text typed by hand.
    due: object = found + timedelta(days=30) if i % 2 else f"{found.year}年{found.month}月28日"
    return [
        f"WT-{i:06d}", f"乡镇{i % 17}", f"村{i % 211}", f"干部{i % 997}", f"户主{i % 5003}",
        CATEGORIES[i % 3], f"第{i}号问题：家庭人口信息与实际不符，需核实更正",
        "入户核实后更正系统信息", round(i * 1.5, 2), found, due,
    ]  # fmt: skip


def make_ledger(path: Path, rows: int) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("台账")
    sheet.append(["某县2026年问题整改台账"])
    sheet.append(HEADERS)
    for i in range(rows):
        sheet.append(_row(i))
    book.save(path)


def main(rows: int = 80_000) -> float:
    spec = bench_spec()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.xlsx"
        started = time.perf_counter()
        make_ledger(path, rows)
        print(f"generated {rows} rows in {time.perf_counter() - started:.1f} s")
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            good, errors = read_ledger(path, spec)
            timings.append(time.perf_counter() - started)
            assert len(good) == rows and not errors, (len(good), errors[:3])
    median = statistics.median(timings)
    runs = ", ".join(f"{t:.2f}" for t in timings)
    print(f"read_ledger: {rows} rows x {len(HEADERS)} columns, median {median:.2f} s ({runs})")
    return median


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 80_000)
