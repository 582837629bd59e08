"""Styling many xlsx cells fast: each kind of cell styled once, its style copied to the rest.

An openpyxl cell's style is a row of ids into the workbook's lists of fonts, borders, fills,
alignments and number formats; setting `cell.border` (or any of them) hashes the value to find
its id, every time. A ledger or report of many rows styles the same few kinds of cell over and
over, so the first cell of a kind is styled attribute by attribute and the rest take a copy of
its ids (90% of the weekly report's xlsx time was hashing the same border).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from copy import copy
from typing import Any


class StyleOnce:
    """`apply(cell, kind, style)`: `style(cell)` for the first cell of `kind`, a copy of that
    cell's style ids for every later one."""

    def __init__(self) -> None:
        self._by_kind: dict[Hashable, Any] = {}

    def apply(self, cell: Any, kind: Hashable, style: Callable[[Any], None]) -> None:
        found = self._by_kind.get(kind)
        if found is None:
            style(cell)
            self._by_kind[kind] = copy(cell._style)
        else:
            cell._style = copy(found)
