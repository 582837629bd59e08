"""File formats a ledger is read from: one reader protocol, a registry by file suffix.

A reader turns a file into a `Sheet`: its rows of cells from row 1 (so index + 1 is the row
number the office sees), handed over one at a time, and the merged ranges; everything after
that is format-blind. .xlsx, .xls (Excel 97-2003), .ods (LibreOffice, WPS) and .csv. A large
.xlsx streams (xlsx_stream.py) and so does a .csv: a million-row ledger never sits in memory
whole. .xls holds at most 65,536 rows and .ods is read whole by calamine, as is an .xlsx whose
sheet inflates to less than WHOLE_XLSX bytes (faster).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..core.errors import InvalidInput
from ..core.i18n import _, os_error_text

__all__ = [
    "READERS",
    "CalamineReader",
    "CsvReader",
    "Grid",
    "LedgerReader",
    "Merged",
    "Sheet",
    "XlsxReader",
    "read_grid",
    "read_sheet",
    "register_reader",
]

Grid = list[list[Any]]  # rows of cells: str, float, int, bool, date, datetime, time, timedelta
Merged = list[tuple[tuple[int, int], tuple[int, int]]]  # 0-based ((top, left), (bottom, right))
WHOLE_XLSX = 64 << 20  # an inflated sheet up to this (~100,000 rows) is read whole: faster


@dataclass
class Sheet:
    rows: Iterator[list[Any]]  # from row 1; each list is the caller's to change
    merged: Merged
    total: int | None = None  # how many rows, when the format says (for progress)


class LedgerReader(Protocol):
    """Reads one file format into a Sheet; raises InvalidInput for a file it cannot read."""

    label: str  # how the format is named to users: ".xlsx (Excel 工作簿)"

    def read(self, path: Path) -> Sheet: ...


READERS: dict[str, LedgerReader] = {}  # file suffix (lower case, with the dot) -> its reader


def register_reader(suffix: str, reader: LedgerReader) -> None:
    """Make `read_grid` read files ending in `suffix` with `reader`."""
    READERS[suffix.lower()] = reader


def read_grid(path: Path) -> tuple[Grid, Merged]:
    """All rows from row 1 (so index + 1 is Excel's row number) and the merged ranges."""
    sheet = read_sheet(path)
    return list(sheet.rows), sheet.merged


def read_sheet(path: Path) -> Sheet:
    """The first sheet of the file, its rows streamed where the format allows."""
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        formats = _(" or ").join(r.label for r in READERS.values())
        raise InvalidInput(
            [_("{path}: cannot read {suffix}; save the ledger as {formats}").format(
                path=path, suffix=suffix or _("files without an extension"), formats=formats)],
            source=str(path),
        )
    return reader.read(path)


class CalamineReader:
    """The first sheet of a workbook calamine reads whole: .xls, .ods (and small .xlsx)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def read(self, path: Path) -> Sheet:
        from python_calamine import CalamineWorkbook  # imported late: only workbooks need it

        if path.suffix.lower() == ".ods":  # a zip too: its declared sizes checked first
            from .xlsx_check import check_zip_sizes

            check_zip_sizes(path)
        try:
            with CalamineWorkbook.from_path(str(path)) as book:
                sheet = book.get_sheet_by_index(0)
                # skip_empty_area=False keeps leading blank rows so row numbers match Excel's.
                grid = sheet.to_python(skip_empty_area=False)
                merged = list(sheet.merged_cell_ranges or [])
        except Exception as exc:  # calamine raises its own types for corrupt or protected files
            raise InvalidInput([_("{path}: cannot read this {suffix} file: {reason}").format(
                path=path, suffix=path.suffix, reason=exc)], source=str(path)) from exc
        return Sheet(iter(grid), merged, len(grid))


class XlsxReader:
    """An Excel workbook: checked for bombs first, then read whole by calamine (fast) or,
    when its first sheet is large, streamed a row at a time (xlsx_stream.py)."""

    label = ".xlsx (Excel 工作簿)"

    def read(self, path: Path) -> Sheet:
        from .xlsx_check import check_xlsx

        first = check_xlsx(path)  # a zip bomb or unsaved formulas, refused before inflating
        if first.member is None or first.size <= WHOLE_XLSX:
            return CalamineReader(self.label).read(path)
        from .xlsx_stream import stream_rows

        return Sheet(_guarded(path, stream_rows(path, first.member)), first.merged)


def _guarded(path: Path, rows: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """A damaged archive found halfway is the same one line as one found at the start."""
    try:
        yield from rows
    except Exception as exc:  # zipfile, zlib and XML errors: the file, not the program
        raise InvalidInput([_("{path}: cannot read this xlsx file: {reason}").format(
            path=path, reason=exc)], source=str(path)) from exc


class CsvReader:
    """UTF-8 (with or without BOM), else GB18030: what Excel on Chinese Windows saves. The
    encoding is settled by one pass over the bytes, then the rows stream."""

    label = ".csv"

    def read(self, path: Path) -> Sheet:
        encoding = _csv_encoding(path)
        return Sheet(_csv_rows(path, encoding), [])


def _csv_encoding(path: Path) -> str:
    try:
        for encoding in ("utf-8-sig", "gb18030"):
            decoder = codecs.getincrementaldecoder(encoding)()
            try:
                with path.open("rb") as data:
                    while chunk := data.read(1 << 20):
                        decoder.decode(chunk)
                    decoder.decode(b"", final=True)
                return encoding
            except UnicodeDecodeError:
                continue
    except OSError as exc:
        raise InvalidInput([f"{path}: {os_error_text(exc)}"], source=str(path)) from exc
    raise InvalidInput([_("{path}: neither UTF-8 nor GBK/GB18030 text; save it as CSV "
                          "UTF-8").format(path=path)], source=str(path))


def _csv_rows(path: Path, encoding: str) -> Iterator[list[Any]]:
    try:
        with path.open(encoding=encoding, newline="") as text:
            yield from csv.reader(text)
    except csv.Error as exc:
        raise InvalidInput([_("{path}: not a readable CSV file: {reason}").format(
            path=path, reason=exc)], source=str(path)) from exc


register_reader(".xlsx", XlsxReader())
register_reader(".xls", CalamineReader(".xls (Excel 97-2003)"))
register_reader(".ods", CalamineReader(".ods (OpenDocument 电子表格)"))
register_reader(".csv", CsvReader())
