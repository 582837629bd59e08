"""`write_ledger` / `write_sheets`: rows -> an xlsx or csv ledger as offices print it.

A ledger is one or more `LedgerSheet`s, each with its columns and a stream of rows (any
iterable: rows are written as they come, never held). xlsx is laid out for paper by
`workbook.py` and `paper.py`; csv is the data alone. The file is written beside the target and
moved into place, so a failed export never leaves half a file; CSV cells that Excel would run
as formulas are defused (`csv_cell`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from .cells import FORMULA_START, PLAIN_NUMBER

__all__ = ["HEADER_FILL", "LIGHT_FILLS", "LIGHT_LABELS", "LedgerSheet", "csv_cell",
           "write_ledger", "write_sheets"]

LIGHT_LABELS: Mapping[str, str] = {"green": "绿", "yellow": "黄", "red": "红"}
LIGHT_FILLS: Mapping[str, str] = {"green": "FF63BE7B", "yellow": "FFFFD966", "red": "FFF8696B"}
HEADER_FILL = "FFD9E1F2"


@dataclass(frozen=True)
class LedgerSheet:
    """One sheet: `columns` are (row key, header text) pairs giving order and headers; `rows`
    are mappings by those keys, streamed. `title` and `subtitle` stand above the header on
    paper (xlsx only); `light_column` shows green/yellow/red as 绿/黄/红 on a coloured cell; a
    drop-down of `status_choices` goes on `status_column`."""

    columns: Sequence[tuple[str, str]]
    rows: Iterable[Mapping[str, object]]
    name: str = "台账"
    title: str | None = None
    subtitle: str | None = None
    light_column: str | None = None
    status_choices: Sequence[str] = ()
    status_column: str = "status"


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
        raise FileExistsError(f"{path} already exists; use --force to overwrite it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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


def plain(value: object) -> object:
    """A value as a spreadsheet cell holds it: None, str, number, date or datetime."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: keep the wall time
    if value is None or isinstance(value, (str, int, float, date)):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (list, tuple, set, frozenset)):
        return "、".join(str(v) for v in value)
    return str(value)


def light_cell(value: object) -> tuple[object, str | None]:
    """(displayed text, fill colour) of a traffic-light cell."""
    if isinstance(value, str) and value in LIGHT_LABELS:
        return LIGHT_LABELS[value], LIGHT_FILLS[value]
    return plain(value), None


def csv_cell(value: object) -> str:
    """A cell as CSV text. Text starting with =, +, - or @ (and not a number) gets a leading
    quote so Excel shows it instead of running it as a formula; read_ledger drops the quote."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    formula_like = isinstance(value, str) and text.lstrip()[:1] in FORMULA_START
    if formula_like and not PLAIN_NUMBER.fullmatch(text.strip()):  # "-3" is just a number
        return "'" + text
    return text


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
