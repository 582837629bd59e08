"""Picks the renderer by the output's extension: `.pdf` is a PDF, anything else HTML."""

from __future__ import annotations

from pathlib import Path

from .model import Document


def render(document: Document, path: Path | None) -> str | None:
    """Writes the document to `path` (a PDF if it ends in .pdf, else HTML), or returns the
    HTML when there is no path. An existing file is replaced."""
    if path is not None and path.suffix.lower() == ".pdf":
        from .pdf import write_pdf

        write_pdf(document, path)
        return None
    from .html import to_html

    page = to_html(document)
    if path is None:
        return page
    path.write_text(page, encoding="utf-8")
    return None
