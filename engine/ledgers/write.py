"""`write_ledger` / `write_sheets`: rows -> an xlsx or csv ledger as offices print it.

A ledger is one or more `LedgerSheet`s, each with its columns and a stream of rows (any
iterable: rows are written as they come, never held). xlsx is laid out for paper by
`workbook.py` and `paper.py`; csv is the data alone. The file is written beside the target and
moved into place, so a failed export never leaves half a file; CSV cells that Excel would run
as formulas are defused (`csv_cell`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from ..core.i18n import _
from .sheets import HEADER_FILL, LIGHT_FILLS, LIGHT_LABELS, LedgerSheet, csv_cell, light_cell

__all__ = ["HEADER_FILL", "LIGHT_FILLS", "LIGHT_LABELS", "LedgerSheet", "csv_cell",
           "write_ledger", "write_sheets"]


def write_ledger(
    rows: Iterable[Mapping[str, object]],
    columns: Sequence[tuple[str, str]],
    path: Path,
    fmt: Literal["xlsx", "csv"],
    *,
    light_column: str | None = None,
    status_choices: Sequence[str] = (),
    status_column: str = "status",
    force: bool = False,
) -> int:
    """Write one sheet of rows as a ledger (see `LedgerSheet`). Returns the rows written."""
    sheet = LedgerSheet(columns, rows, light_column=light_column,
                        status_choices=status_choices, status_column=status_column)
    return write_sheets([sheet], path, fmt, force=force)[0]


def write_sheets(sheets: Sequence[LedgerSheet], path: Path, fmt: Literal["xlsx", "csv"], *,
                 force: bool = False) -> list[int]:
    """Write the sheets to one file (csv: exactly one sheet). Returns the rows of each.

    An existing file is refused with FileExistsError unless `force`."""
    path = Path(path)
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"unknown ledger format {fmt!r}: use xlsx or csv")
    if fmt == "csv" and len(sheets) != 1:
        raise ValueError("a csv ledger holds exactly one sheet")
    if path.exists() and not force:
        raise FileExistsError(_("{path} already exists; use --force to overwrite it").format(
            path=path))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Fail on an unwritable folder before anything streams: openpyxl's write-only sheet, left
    # half-written, would print a traceback when it is collected after our one-line error.
    tmp.open("wb").close()
    try:
        if fmt == "xlsx":
            from .workbook import write_xlsx  # openpyxl is loaded only for xlsx

            counts = write_xlsx(sheets, tmp)
        else:
            counts = [_write_csv(sheets[0], tmp)]
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return counts


def _write_csv(sheet: LedgerSheet, path: Path) -> int:
    count = 0
    light = sheet.light_column
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([header for _, header in sheet.columns])
        for row in sheet.rows:
            writer.writerow([csv_cell(light_cell(row.get(k))[0] if k == light else row.get(k))
                             for k, _ in sheet.columns])
            count += 1
    return count
