"""The first sheet of a large .xlsx, one row at a time, in bounded memory.

calamine (what reads every other sheet: fast) builds the whole sheet in memory, about 900 MB
for a million rows; openpyxl's read-only mode streams but took 44 µs a cell here (a million
rows of nine cells: seven minutes). This reads the sheet's XML with the standard library's
`iterparse`, dropping each row once it is handed over, and turns cells into the values
calamine gives: text, numbers, booleans, and dates for numbers in a date format (openpyxl's
`is_date_format` and `from_excel` decide and convert). Memory: the shared strings (the file's
distinct texts) and one row.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, fromstring, iterparse

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import from_excel

from .xlsx_check import MAX_SMALL, column_index

__all__ = ["stream_rows"]

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _CELL, _VALUE, _TEXT, _RUN, _INLINE = (
    f"{_NS}row", f"{_NS}c", f"{_NS}v", f"{_NS}t", f"{_NS}r", f"{_NS}is")
_SHEET_DATA, _STRING_ITEM, _XF, _NUMFMT, _CELL_XFS = (
    f"{_NS}sheetData", f"{_NS}si", f"{_NS}xf", f"{_NS}numFmt", f"{_NS}cellXfs")
# Built-in formats that are dates in a Chinese (and Japanese, Korean) Excel: 27-36, 50-58
# (yyyy"年"m"月" …), which openpyxl's table leaves out because they depend on the locale.
_EAST_ASIAN_DATES = frozenset(range(27, 37)) | frozenset(range(50, 59))


def stream_rows(path: Path, member: str) -> Iterator[list[Any]]:
    """Rows from row 1 (missing rows as empty lists, so index + 1 is Excel's row number)."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        strings = _shared_strings(archive, names)
        dates = _date_styles(archive, names)
        with archive.open(member) as sheet:
            yield from _rows(sheet, strings, dates)


def _rows(sheet: Any, strings: list[str], dates: frozenset[int]) -> Iterator[list[Any]]:
    data: Element | None = None
    expected = 1
    for event, element in iterparse(sheet, events=("start", "end")):
        if event == "start":
            if element.tag == _SHEET_DATA:
                data = element
            continue
        if element.tag != _ROW:
            continue
        number = int(element.get("r") or expected)
        while expected < number:  # rows Excel left out because they are empty
            yield []
            expected += 1
        yield _row(element, strings, dates)
        expected = number + 1
        if data is not None:
            data.clear()  # the rows already handed over: nothing of them stays


def _row(element: Element, strings: list[str], dates: frozenset[int]) -> list[Any]:
    cells: list[Any] = []
    for cell in element.iter(_CELL):
        ref = cell.get("r")
        if ref:
            column = column_index(ref.rstrip("0123456789"))
            cells.extend([None] * (column - len(cells)))
        cells.append(_value(cell, strings, dates))
    return cells


def _value(cell: Element, strings: list[str], dates: frozenset[int]) -> Any:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find(_INLINE)
        return _text(inline) if inline is not None else None
    raw = cell.findtext(_VALUE)
    if raw is None:
        return None
    if kind == "s":
        return strings[int(raw)]
    if kind == "b":
        return raw.strip() == "1"
    if kind in ("str", "e"):
        return raw
    if kind == "d":
        return datetime.fromisoformat(raw)
    number = float(raw)
    if int(cell.get("s") or 0) in dates:
        moment = from_excel(number)
        return moment.date() if isinstance(moment, datetime) and moment.time() == \
            datetime.min.time() else moment
    return number


def _text(item: Element) -> str:
    """A string item's text: its <t>, or its rich-text runs' (never phonetic guides)."""
    parts = [child.text or "" for child in item if child.tag == _TEXT]
    parts += [run.findtext(_TEXT) or "" for run in item if run.tag == _RUN]
    return "".join(parts)


def _shared_strings(archive: zipfile.ZipFile, names: set[str]) -> list[str]:
    member = next((n for n in names if n.lower() == "xl/sharedstrings.xml"), None)
    if member is None:
        return []
    strings: list[str] = []
    with archive.open(member) as source:
        for _event, element in iterparse(source):
            if element.tag == _STRING_ITEM:
                strings.append(_text(element))
                element.clear()
    return strings


def _date_styles(archive: zipfile.ZipFile, names: set[str]) -> frozenset[int]:
    """Indexes of the cell styles whose number format shows a date."""
    if "xl/styles.xml" not in names or archive.getinfo("xl/styles.xml").file_size > MAX_SMALL:
        return frozenset()
    root = fromstring(archive.read("xl/styles.xml"))
    custom = {int(f.get("numFmtId", -1)): f.get("formatCode", "")
              for f in root.iter(_NUMFMT)}
    xfs = root.find(_CELL_XFS)
    found = set()
    for index, xf in enumerate(xfs.iter(_XF) if xfs is not None else ()):
        number = int(xf.get("numFmtId", 0))
        code = custom.get(number, BUILTIN_FORMATS.get(number, ""))
        if number in _EAST_ASIAN_DATES or (code and is_date_format(code)):
            found.add(index)
    return frozenset(found)
