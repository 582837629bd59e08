"""Render the weekly report (周报) in a format: md, html, xlsx or csv.

The figures are computed elsewhere (`reports/weekly.py`), the model they fill is
`reports/model.py`, and each format is a small module in `reports/renderers/`. This module is
the entry point callers use: it picks the renderer and writes the file. The model's names are
re-exported here because callers build a report and render it in one breath.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from .model import UnitRow, WeeklyReport, WeekPoint, report_as_json
from .renderers.csv import render_csv
from .renderers.html import render_html
from .renderers.markdown import render_markdown

__all__ = ["ReportFormat", "UnitRow", "WeekPoint", "WeeklyReport", "render_report",
           "report_as_json"]

ReportFormat = Literal["md", "html", "xlsx", "csv"]

TEXT_RENDERERS: Mapping[str, Callable[[WeeklyReport], str]] = {
    "md": render_markdown,
    "html": render_html,
    "csv": render_csv,
}


def render_report(report: WeeklyReport, fmt: ReportFormat, path: Path | None = None) -> str | None:
    """Render in `fmt`. md/html/csv return the text and also write it when `path` is given (csv
    with a BOM so Excel shows the Chinese); xlsx needs `path` and returns None. An existing file
    is replaced: a report is regenerated, not edited."""
    if fmt == "xlsx":
        if path is None:
            raise ValueError("an xlsx report needs a path to write to")
        from .renderers.xlsx import render_xlsx  # openpyxl loads only for xlsx reports

        render_xlsx(report, Path(path))
        return None
    if fmt not in TEXT_RENDERERS:
        raise ValueError(f"unknown report format {fmt!r}: use md, html, xlsx or csv")
    text = TEXT_RENDERERS[fmt](report)
    if path is not None:
        encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
        Path(path).write_text(text, encoding=encoding, newline="")
    return text
