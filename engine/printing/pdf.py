"""A document as a PDF, drawn with fpdf2 and a Chinese font embedded (subset) in the file.

fpdf2 is pure Python (fontTools for the font), so it installs the same on the Windows
machines of a township office as on a server, with no system library to add; it embeds
TrueType/OpenType fonts and collections (.ttc). The font is the one `RECTIFY_FONT` names, else
the first of the usual Chinese fonts found: WenQuanYi Micro Hei (Debian: fonts-wqy-microhei),
Noto Sans CJK, or Microsoft YaHei / SimSun / SimHei on Windows.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import UsageError
from ..core.i18n import _
from .model import Document, Section

FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
MARGIN, LINE = 18.0, 7.0  # mm
LABEL_SHARE = 28  # % of the width for a section's labels


def chinese_font() -> Path:
    """The font file the PDF embeds; a clear error when there is none."""
    named = os.environ.get("RECTIFY_FONT")
    if named:
        if not Path(named).is_file():
            raise UsageError(_("RECTIFY_FONT={path}: no such font file").format(path=named))
        return Path(named)
    for candidate in FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise UsageError(_("no Chinese font found for the PDF: install one (Debian: apt-get "
                       "install fonts-wqy-microhei) or set RECTIFY_FONT to a .ttf/.ttc file; or "
                       "write .html and print it from the browser"))


def write_pdf(document: Document, path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(MARGIN, 20, MARGIN)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_font("cjk", "", str(chinese_font()))
    pdf.set_title(document.title)
    pdf.set_creator("rectify")
    pdf.add_page()
    pdf.set_font("cjk", size=22)
    pdf.cell(0, 14, _spaced(document.title), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=12)
    if document.number:
        pdf.cell(0, LINE, document.number, align="R", new_x="LMARGIN", new_y="NEXT")
    for line in document.before:
        pdf.multi_cell(0, LINE, line, new_x="LMARGIN", new_y="NEXT")
    for section in document.sections:
        _section(pdf, section)
    for line in document.after:
        pdf.multi_cell(0, LINE, line, new_x="LMARGIN", new_y="NEXT")
    if document.signature:
        pdf.ln(8)
        for line in document.signature:
            pdf.multi_cell(0, LINE + 3, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def _section(pdf: object, section: Section) -> None:
    from fpdf import FPDF

    assert isinstance(pdf, FPDF)
    pdf.ln(3)
    if section.heading:
        pdf.set_font("cjk", size=13)
        pdf.multi_cell(0, LINE + 1, section.heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=12)
    with pdf.table(col_widths=(LABEL_SHARE, 100 - LABEL_SHARE), text_align="LEFT",
                   first_row_as_headings=False, line_height=LINE, padding=1.5) as table:
        for label, value in section.rows:
            row = table.row()
            row.cell(label)
            row.cell(value or "")


def _spaced(title: str) -> str:
    """A short title set wide, as official documents do: 督 办 单."""
    return " ".join(title) if len(title) <= 4 else title
