"""Cell parsers: what offices type (dates five ways, 是/否, ¥1,200元) -> typed values.

Each parser takes a non-empty cell (a str already stripped, or what the file format holds:
number, bool, date, datetime) and raises ValueError with a message in the user's words.
"""

from __future__ import annotations

import calendar
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time

from ..core.clock import check_year
from ..core.dates import _COMPACT, _YMD, excel_serial_to_date, parse_date
from ..core.i18n import _
from ..core.spec import FieldSpec

__all__ = [
    "BUILTIN_PARSERS",
    "FORMULA_START",
    "PLAIN_NUMBER",
    "RelativeDue",
    "excel_serial_to_date",
    "field_parser",
    "parse_bool",
    "parse_date",
    "parse_due",
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
        raise ValueError(_("{value} is not a number").format(value=to_text(value)))
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = "".join(unicodedata.normalize("NFKC", str(value)).split()).replace(",", "")
        text = text.removeprefix("¥").removesuffix("元")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(_("{value!r} is not a number").format(value=value)) from None
    if not math.isfinite(number):
        raise ValueError(_("{value!r} is not a number").format(value=value))
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
    raise ValueError(_("{value!r} is not yes/no; write 是 or 否").format(value=value))


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _choice_parser(spec: FieldSpec) -> Callable[[object], object]:
    """Matches ignoring whitespace and full/half width, returns the choice as declared."""
    allowed = {_squash(choice): choice for choice in spec.choices}

    def parse(value: object) -> str:
        text = to_text(value)
        if not allowed:
            return text
        try:
            return allowed[_squash(text)]
        except KeyError:
            raise ValueError(_("{text!r} is not an allowed value; allowed: {listing}").format(
                text=text, listing=_(", ").join(spec.choices))) from None

    return parse


def field_parser(spec: FieldSpec) -> Callable[[object], object] | None:
    """The parser for a field's cells; None for types a spreadsheet cannot carry (files)."""
    if spec.type == "choice":
        return _choice_parser(spec)
    return {"text": to_text, "number": parse_number, "date": parse_date, "bool": parse_bool}.get(
        spec.type
    )


# ---------------------------------------------------------------------------------------------
# 整改时限 as offices write it: words, months, quarters, halves of a year

_TODAY_WORDS = frozenset({"立行立改", "立即整改", "立查立改", "即知即改", "即查即改", "马上就改",
                          "立即", "立刻整改", "当即整改", "当天", "当日", "今天"})
_ONGOING_WORDS = frozenset({"长期坚持", "长期", "持续整改", "持续推进", "长期整改", "常态化",
                            "常态化推进", "长期推进", "持续", "持续坚持"})
_BEFORE = re.compile(r"(?:之前|以前|前|内|为止|止|完成|底前完成|前完成|整改到位|到位)+$")
_YEAR = r"(?:(\d{4})\s*年)?"
_MONTH_END = re.compile(_YEAR + r"\s*(\d{1,2})\s*月(?:份)?\s*(底|末|上旬|中旬|下旬)?")
_YEAR_PART = re.compile(r"(\d{4})\s*年\s*(底|末|年底|年末|上半年|下半年|第?[一二三四]季度)?"
                        r"(?:末|底)?")
_DASH_MONTH = re.compile(r"(\d{4})\s*[-/.]\s*(\d{1,2})")
_TENTHS = {"上旬": 10, "中旬": 20}
_QUARTERS = {"一": 3, "二": 6, "三": 9, "四": 12}


@dataclass(frozen=True)
class RelativeDue:
    """A 整改时限 that names no day by itself: 立行立改 (today), 长期坚持 (no deadline of its
    own), 12月底前 (the next end of December). `text` is the cell as written, so a row's
    content key stays the same whichever day it is imported; `resolve` gives the day."""

    text: str
    kind: str  # "today", "ongoing", or "month" (then `month` and `day` say which)
    month: int = 0
    day: int = 0  # 0: the month's last day

    def resolve(self, today: date) -> date | None:
        if self.kind == "today":
            return today
        if self.kind == "ongoing":
            return None
        year = today.year if (self.month, self.day or 31) >= (today.month, today.day) \
            else today.year + 1
        return _in_month(year, self.month, self.day)

    def __str__(self) -> str:
        return self.text


def parse_due(value: object) -> date | RelativeDue:
    """A 整改时限: a date as `parse_date` reads it, or what offices write instead —
    立行立改 (today), 长期坚持 (no deadline), 2025年12月底前 (the month's last day),
    2025年6月中旬 (the 20th), 2025年底 / 2025年下半年 (Dec 31), 2025年三季度 (Sep 30), 2025-12
    (the month's end), and the same without a year (the next such day)."""
    if not isinstance(value, str):
        return parse_date(value)
    text = "".join(unicodedata.normalize("NFKC", value).split())
    if text in _TODAY_WORDS:
        return RelativeDue(text, "today")
    if text in _ONGOING_WORDS:
        return RelativeDue(text, "ongoing")
    bare = _BEFORE.sub("", text) or text
    try:
        return parse_date(bare)
    except ValueError:
        if _YMD.fullmatch(bare) or _COMPACT.fullmatch(bare):
            raise  # a date, but a wrong one (2026-02-30): its own reason says more
    found = _month_words(text, bare)
    if found is None:
        raise ValueError(_("{value!r} is not a 整改时限; write a date like 2026-12-01, "
                           "2026年12月底前, 立行立改 or 长期坚持").format(value=value))
    if isinstance(found, date):
        check_year(found)
    return found


def _month_words(text: str, bare: str) -> date | RelativeDue | None:
    if match := _MONTH_END.fullmatch(bare):
        year, month, part = match.groups()
        if not 1 <= int(month) <= 12:
            raise ValueError(_("{text!r}: there is no month {month}").format(text=text,
                                                                            month=month))
        day = _TENTHS.get(part or "", 0)
        if year is None:
            return RelativeDue(text, "month", int(month), day)
        return _in_month(int(year), int(month), day)
    if match := _DASH_MONTH.fullmatch(bare):
        year, month = match.groups()
        if 1 <= int(month) <= 12:
            return _in_month(int(year), int(month), 0)
    if match := _YEAR_PART.fullmatch(bare):
        year, part = match.groups()
        if part is None and not text.endswith(("底", "末", "前")):
            return None  # "2025年" alone is not a deadline anyone means
        if part and "半年" in part:
            month = 6 if part.startswith("上") else 12
        elif part and "季度" in part:
            month = _QUARTERS[part[-3]]  # 三季度 / 第三季度: the numeral before 季度
        else:
            month = 12
        return _in_month(int(year), month, 0)
    return None


def _in_month(year: int, month: int, day: int) -> date:
    return date(year, month, day or calendar.monthrange(year, month)[1])


BUILTIN_PARSERS: Mapping[str, Callable[[object], object]] = {
    "key": to_text,
    "unit": to_text,
    "assignee": to_text,
    "subject": to_text,
    "due": parse_due,
}

