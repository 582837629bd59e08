"""Cell parsers: what offices type (dates five ways, 是/否, ¥1,200元) -> typed values.

Each parser takes a non-empty cell (a str already stripped, or what the file format holds:
number, bool, date, datetime) and raises ValueError with a message in the user's words.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime, time

from ..core.dates import excel_serial_to_date, parse_date
from ..core.spec import FieldSpec

__all__ = [
    "BUILTIN_PARSERS",
    "FORMULA_START",
    "PLAIN_NUMBER",
    "excel_serial_to_date",
    "field_parser",
    "parse_bool",
    "parse_date",
    "parse_number",
    "to_text",
]

FORMULA_START = ("=", "+", "-", "@")  # what makes Excel treat a CSV cell as a formula
PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
def to_text(value: object) -> str:
    """A cell as text: whole numbers lose Excel's `.0`, dates print as ISO."""
    if isinstance(value, str):
        # write_ledger's CSV guard: a quote before =, +, - or @ stops Excel running a formula.
        if value[:1] == "'" and value[1:].lstrip()[:1] in FORMULA_START:
            return value[1:].strip()
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time() else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def parse_number(value: object) -> int | float:
    if isinstance(value, bool):
        raise ValueError(f"{to_text(value)} is not a number")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = "".join(unicodedata.normalize("NFKC", str(value)).split()).replace(",", "")
        text = text.removeprefix("¥").removesuffix("元")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a number")
    return int(number) if number.is_integer() else number


_TRUE = frozenset({"是", "有", "对", "√", "✓", "✔", "true", "yes", "y", "t", "1"})
_FALSE = frozenset({"否", "无", "不是", "没有", "错", "×", "✗", "✘", "false", "no", "n", "f", "0"})


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = to_text(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes/no; write 是 or 否")


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _choice_parser(spec: FieldSpec) -> Callable[[object], object]:
    """Matches ignoring whitespace and full/half width, returns the choice as declared."""
    allowed = {_squash(choice): choice for choice in spec.choices}
    listing = ", ".join(spec.choices)

    def parse(value: object) -> str:
        text = to_text(value)
        if not allowed:
            return text
        try:
            return allowed[_squash(text)]
        except KeyError:
            raise ValueError(f"{text!r} is not an allowed value; allowed: {listing}") from None

    return parse


def field_parser(spec: FieldSpec) -> Callable[[object], object] | None:
    """The parser for a field's cells; None for types a spreadsheet cannot carry (files)."""
    if spec.type == "choice":
        return _choice_parser(spec)
    return {"text": to_text, "number": parse_number, "date": parse_date, "bool": parse_bool}.get(
        spec.type
    )


BUILTIN_PARSERS: Mapping[str, Callable[[object], object]] = {
    "key": to_text,
    "unit": to_text,
    "assignee": to_text,
    "subject": to_text,
    "due": parse_date,
}

