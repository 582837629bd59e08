"""A document as one self-contained HTML page for the browser to print on A4: inline CSS with
an @page rule, no scripts, nothing fetched; autoescaped, so stored text is shown, never run."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, Template

from .model import Document

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _template() -> Template:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("document.html.j2")


def to_html(document: Document) -> str:
    return _template().render(doc=document)
