"""Checks on an .xlsx archive before calamine reads it: sizes, cell lengths, formulas.

An .xlsx is a zip of XML. A 2 MB file can declare a 2 GiB cell (a zip bomb): calamine would build
it in memory (4.3 GB, then an abort). So the archive is checked first, in bounded memory:

- the sizes its directory declares (zipfile never inflates a member past its declared size);
- no text run longer than Excel's own cell limit allows (32,767 characters), scanned from
  the inflated XML a megabyte at a time;
- in the first sheet, a formula cell without a saved value (`<f>` without `<v>`: a file written
  by a program, never opened in Excel) is an error naming its cell, not a silently empty field.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

from ..core.errors import InvalidInput
from ..core.i18n import _

__all__ = ["FirstSheet", "check_xlsx", "check_zip_sizes", "column_index"]

MAX_MEMBER = 1 << 30  # bytes, inflated: a million-row sheet is ~400 MB of XML
MAX_TOTAL = 2 << 30
MAX_SMALL = 16 << 20  # workbook.xml and its relations: a few KB in any honest file
# Excel holds at most 32,767 characters in a cell; as UTF-8 XML with entities (&amp; is five
# bytes for one character) that is at most ~200 KB between two tags.
MAX_RUN = 32_767 * 6
CHUNK = 1 << 20
_CELL = re.compile(rb"<c\b([^>]*?)(?<!/)>(.*?)</c>", re.DOTALL)  # not self-closing <c .../>
_VALUE = re.compile(rb"<v(?:\s[^>]*)?>[^<]")  # a saved value; openpyxl writes an empty <v />
_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_MERGE = re.compile(rb'<mergeCell\s+ref="([A-Z]+)(\d+):([A-Z]+)(\d+)"')
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


@dataclass(frozen=True)
class FirstSheet:
    """What the check learnt of the first sheet on its way: where it is, how large it
    inflates, and its merged ranges (they come after the rows in the XML, so a reader that
    streams the rows needs them first)."""

    member: str | None
    size: int
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)


def check_xlsx(path: Path) -> FirstSheet:
    """InvalidInput if the archive is a bomb or the first sheet has formulas without values."""
    try:
        with zipfile.ZipFile(path) as archive:
            _check_sizes(path, archive)
            first = _first_sheet(archive)
            sheet = FirstSheet(first, archive.getinfo(first).file_size if first else 0)
            for info in archive.infolist():
                if info.filename.endswith(".xml"):
                    _scan(path, archive, info, sheet if info.filename == first else None)
    except (zipfile.BadZipFile, OSError, ElementTree.ParseError, KeyError) as exc:
        raise InvalidInput([_("{path}: cannot read this xlsx file: {reason}").format(
            path=path, reason=exc)], source=str(path)) from exc
    return sheet


def check_zip_sizes(path: Path) -> None:
    """The declared-size check alone, for other zipped formats (.ods)."""
    try:
        with zipfile.ZipFile(path) as archive:
            _check_sizes(path, archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput([_("{path}: cannot read this file: {reason}").format(
            path=path, reason=exc)], source=str(path)) from exc


def _refuse(path: Path, message: str) -> InvalidInput:
    return InvalidInput([f"{path}: {message}"], source=str(path))


def _check_sizes(path: Path, archive: zipfile.ZipFile) -> None:
    infos = archive.infolist()
    for info in infos:
        if info.file_size > MAX_MEMBER:
            raise _refuse(path, _("{member} would inflate to {size} bytes (at most {limit}): "
                                  "not a ledger rectify can read").format(
                member=info.filename, size=f"{info.file_size:,}", limit=f"{MAX_MEMBER:,}"))
    if sum(i.file_size for i in infos) > MAX_TOTAL:
        raise _refuse(path, _("the workbook would inflate to more than {limit} bytes").format(
            limit=f"{MAX_TOTAL:,}"))


def _first_sheet(archive: zipfile.ZipFile) -> str | None:
    """The archive path of the workbook's first sheet (the one a ledger is read from)."""
    book = ElementTree.fromstring(_small(archive, "xl/workbook.xml"))
    sheet = book.find(f"{_MAIN}sheets/{_MAIN}sheet")
    if sheet is None:
        return None
    rid = sheet.get(f"{_DOC_RELS}id")
    rels = ElementTree.fromstring(_small(archive, "xl/_rels/workbook.xml.rels"))
    for rel in rels.iter(f"{_RELS}Relationship"):
        if rel.get("Id") == rid:
            target = rel.get("Target", "")
            return target[1:] if target.startswith("/") else str(PurePosixPath("xl", target))
    return None


def _small(archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > MAX_SMALL:
        raise zipfile.BadZipFile(f"{name} is implausibly large")
    return archive.read(name)


def _scan(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo,
          sheet: FirstSheet | None) -> None:
    """One pass over a member, a chunk at a time: long runs, and (first sheet) formulas."""
    run = 0  # length of the text run still open at the end of the previous chunk
    carry = b""  # first sheet: the part after the last complete cell, joined to the next chunk
    for chunk in _chunks(archive, info):
        pieces = chunk.split(b"<")  # text runs between tags (linear; no regex backtracking)
        if len(pieces) == 1:
            run += len(chunk)
            longest = run
        else:
            longest = max(run + len(pieces[0]), *map(len, pieces[1:]))
            run = len(pieces[-1])
        if longest > MAX_RUN:
            raise _refuse(path, _("{member} holds a text longer than Excel allows in a cell "
                                  "(32,767 characters): not a ledger rectify can read").format(
                member=info.filename))
        if sheet is not None:
            carry = _check_formulas(path, carry + chunk)
            if len(carry) > 8 * CHUNK:
                raise _refuse(path, _("{member}: a cell too large to be a ledger's").format(
                    member=info.filename))
    if sheet is not None:  # the merged ranges follow the last cell: they are in the tail
        sheet.merged.extend(((_cell(m[1], m[2])[::-1]), (_cell(m[3], m[4])[::-1]))
                            for m in _MERGE.finditer(carry))


def _chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    with archive.open(info) as member:
        while chunk := member.read(CHUNK):
            yield chunk


def _check_formulas(path: Path, data: bytes) -> bytes:
    """Refuse the first formula cell without a value; return the unfinished tail of `data`."""
    end = data.rfind(b"</c>")
    if end < 0:
        return data
    complete, tail = data[: end + 4], data[end + 4 :]
    if b"<f" in complete:
        for match in _CELL.finditer(complete):
            attrs, body = match.groups()
            if b"<f" in body and not _VALUE.search(body):
                ref = _REF.search(attrs)
                where = _("row {row} (cell {cell})").format(
                    row=int(ref[2]), cell=f"{ref[1].decode()}{int(ref[2])}") if ref \
                    else _("a cell")
                raise _refuse(path, _("{where}: a formula without a saved value; open the file "
                                      "in Excel and save it (or paste the values) and import "
                                      "again").format(where=where))
    return tail


def column_index(letters: bytes | str) -> int:
    """0-based column of Excel's letters: A -> 0, Z -> 25, AA -> 26."""
    number = 0
    for ch in letters.decode() if isinstance(letters, bytes) else letters:
        number = number * 26 + ord(ch) - 64
    return number - 1


def _cell(letters: bytes, digits: bytes) -> tuple[int, int]:
    """(column, row), both 0-based."""
    return column_index(letters), int(digits) - 1
