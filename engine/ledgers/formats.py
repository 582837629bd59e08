"""File formats a ledger is read from: one reader protocol, a registry by file suffix.

A reader turns a file into a grid of cells from row 1 (so index + 1 is the row number the
office sees) and the merged ranges; everything after that is format-blind. xlsx and csv today;
an .xls or .ods reader is one class and one `register_reader` line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Protocol

from ..core.errors import InvalidInput

__all__ = [
    "READERS",
    "CsvReader",
    "Grid",
    "LedgerReader",
    "Merged",
    "XlsxReader",
    "read_grid",
    "register_reader",
]

Grid = list[list[Any]]  # rows of cells: str, float, int, bool, date, datetime, time, timedelta
Merged = list[tuple[tuple[int, int], tuple[int, int]]]  # 0-based ((top, left), (bottom, right))


class LedgerReader(Protocol):
    """Reads one file format into a grid; raises InvalidInput for a file it cannot read."""

    label: str  # how the format is named to users: ".xlsx (Excel 工作簿)"

    def read(self, path: Path) -> tuple[Grid, Merged]: ...


READERS: dict[str, LedgerReader] = {}  # file suffix (lower case, with the dot) -> its reader


def register_reader(suffix: str, reader: LedgerReader) -> None:
    """Make `read_grid` read files ending in `suffix` with `reader`."""
    READERS[suffix.lower()] = reader


def read_grid(path: Path) -> tuple[Grid, Merged]:
    """All rows from row 1 (so index + 1 is Excel's row number) and the merged ranges."""
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        formats = " or ".join(r.label for r in READERS.values())
        raise InvalidInput(
            [f"{path}: cannot read {suffix or 'files without an extension'}; "
             f"save the ledger as {formats}"],
            source=str(path),
        )
    return reader.read(path)


class XlsxReader:
    """The first sheet of an Excel workbook, read with calamine (fast, and keeps merges)."""

    label = ".xlsx (Excel 工作簿)"

    def read(self, path: Path) -> tuple[Grid, Merged]:
        from python_calamine import CalamineWorkbook  # imported late: only xlsx reads need it

        from .xlsx_check import check_xlsx

        check_xlsx(path)  # a zip bomb or unsaved formulas, refused before calamine inflates
        try:
            with CalamineWorkbook.from_path(str(path)) as book:
                sheet = book.get_sheet_by_index(0)
                # skip_empty_area=False keeps leading blank rows so row numbers match Excel's.
                grid = sheet.to_python(skip_empty_area=False)
                merged = list(sheet.merged_cell_ranges or [])
        except Exception as exc:  # calamine raises its own types for corrupt or protected files
            raise InvalidInput(
                [f"{path}: cannot read this xlsx file: {exc}"], source=str(path)
            ) from exc
        return grid, merged


class CsvReader:
    """UTF-8 (with or without BOM), else GB18030: what Excel on Chinese Windows saves."""

    label = ".csv"

    def read(self, path: Path) -> tuple[Grid, Merged]:
        return _csv_rows(path, _csv_text(path)), []


def _csv_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput([f"{path}: {exc.strerror or exc}"], source=str(path)) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                [f"{path}: neither UTF-8 nor GBK/GB18030 text; save it as CSV UTF-8"],
                source=str(path),
            ) from exc


def _csv_rows(path: Path, text: str) -> Grid:
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InvalidInput([f"{path}: not a readable CSV file: {exc}"], source=str(path)) from exc


register_reader(".xlsx", XlsxReader())
register_reader(".csv", CsvReader())
