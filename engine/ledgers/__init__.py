"""Problem ledgers (问题台账) in Excel or CSV <-> plain rows. No database here.

Offices keep their ledgers in spreadsheets they built themselves: a merged title row on top,
headers like "问题描述（必填）", dates typed five different ways, a 责任单位 merged down over a
township's rows. `read_ledger` turns such a sheet into `LedgerRow`s plus a list of `RowError`s
(every problem in the file, each with the row number Excel shows); `write_ledger` goes the other
way for exports. The rules are documented in docs/ledgers.md.

The modules, one concern each: `mapping` (column mapping files), `cells` (cell parsers),
`headers` (header detection and the column plan), `formats` (one reader protocol, a registry of
file formats: xlsx, csv), `read` (sheet -> rows), `write` (rows -> xlsx or csv), `workbook`
(xlsx sheets), `paper` (how a sheet prints), `sheets` (a sheet, and values as cells), `rows`
(the row and error records). Callers import from here.
"""

from __future__ import annotations

from .cells import excel_serial_to_date, parse_date
from .formats import LedgerReader, register_reader
from .headers import BUILTIN_ALIASES, BUILTIN_TARGETS, normalize_header
from .mapping import load_mapping
from .read import Ledger, open_ledger, read_ledger
from .rows import LedgerRow, RowError
from .sheets import argb, text_on
from .write import (
                    HEADER_FILL,
                    LIGHT_FILLS,
                    LIGHT_LABELS,
                    LedgerSheet,
                    csv_cell,
                    write_ledger,
                    write_sheets,
)

__all__ = [
    "BUILTIN_ALIASES",
    "BUILTIN_TARGETS",
    "HEADER_FILL",
    "LIGHT_FILLS",
    "LIGHT_LABELS",
    "Ledger",
    "LedgerReader",
    "LedgerRow",
    "LedgerSheet",
    "RowError",
    "argb",
    "csv_cell",
    "excel_serial_to_date",
    "load_mapping",
    "normalize_header",
    "open_ledger",
    "parse_date",
    "read_ledger",
    "register_reader",
    "text_on",
    "write_ledger",
    "write_sheets",
]
