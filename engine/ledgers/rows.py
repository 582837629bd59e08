"""What reading a ledger yields: good rows (`LedgerRow`) and problems (`RowError`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ..core.i18n import Text, _
from .cells import RelativeDue

__all__ = ["LedgerRow", "RowError"]


@dataclass(frozen=True)
class LedgerRow:
    row: int  # 1-based row number as Excel shows it
    key: str  # the 编号 cell, else the content hash (see `_content_key`)
    unit: str | None
    assignee: str | None
    subject: str | None
    due: date | RelativeDue | None  # RelativeDue: 立行立改, 长期坚持 … (cells.parse_due)
    fields: dict[str, object] = field(default_factory=dict)
    # The row's other unit cells (its 乡镇 when `unit` came from 村), to tell apart two
    # villages of the same name; not part of the content key.
    unit_context: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None  # the header text as written in the file; None for whole-row problems
    message: str | Text  # a Text reads in the language it is shown in (--json: English)

    def __str__(self) -> str:
        if self.column:
            return _("row {row}, column {column}: {problem}").format(
                row=self.row, column=self.column, problem=self.message)
        return _("row {row}: {problem}").format(row=self.row, problem=self.message)

