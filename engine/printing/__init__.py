"""Documents an office prints: the 督办单 (supervision notice) and the 公示表 (public notice of
四议两公开). No database here: the use cases in engine/app/printing.py read the items and build
a `Document` (model.py), a neutral page of title, lines and label/value sections; one renderer
per format lays it out: html.py (a page for the browser to print, A4 print CSS, the Jinja2
template templates/document.html.j2) and pdf.py (fpdf2 with a Chinese font embedded)."""

from __future__ import annotations

from .model import Document, Section
from .render import render

__all__ = ["Document", "Section", "render"]
