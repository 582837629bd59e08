"""The weekly report as CSV: the ranking, one unit per line (the BOM is added when written)."""

from __future__ import annotations

import csv
import io

from ...ledgers import csv_cell
from ..model import WeeklyReport, display, escalation_levels, parent_names, ranking_table

__all__ = ["render_csv"]


def render_csv(report: WeeklyReport) -> str:
    """The ranking, one unit per line; formula-looking text is defused as in ledger exports."""
    rows = report.rows
    headers, body = ranking_table(rows, escalation_levels(rows), parent_names(rows))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for row in body:
        writer.writerow([csv_cell(display(h, c)) for h, c in zip(headers, row, strict=True)])
    return buffer.getvalue()
