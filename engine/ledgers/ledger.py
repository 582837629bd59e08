"""Problem ledgers (问题台账) in Excel or CSV <-> plain rows. No database here.

Offices keep their ledgers in spreadsheets they built themselves: a merged title row on top,
headers like "问题描述（必填）", dates typed five different ways, a 责任单位 merged down over a
township's rows. `read_ledger` turns such a sheet into `LedgerRow`s plus a list of `RowError`s
(every problem in the file, each with the row number Excel shows); `write_ledger` goes the other
way for exports. Resolving unit or person names to ids is the caller's job, as is deciding
whether one bad row rejects the whole file. The rules are documented in docs/ledgers.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any, Literal

import yaml

from ..core.errors import InvalidInput, Problem, SourceLoc
from ..core.spec import FieldSpec, WorkflowSpec

__all__ = [
    "BUILTIN_ALIASES",
    "BUILTIN_TARGETS",
    "LIGHT_FILLS",
    "LIGHT_LABELS",
    "LedgerRow",
    "RowError",
    "csv_cell",
    "excel_serial_to_date",
    "load_mapping",
    "normalize_header",
    "parse_date",
    "read_ledger",
    "write_ledger",
]


@dataclass(frozen=True)
class LedgerRow:
    row: int  # 1-based row number as Excel shows it
    key: str  # the 编号 cell, else the content hash (see `_content_key`)
    unit: str | None
    assignee: str | None
    subject: str | None
    due: date | None
    fields: dict[str, object] = field(default_factory=dict)
    # The row's other unit cells (its 乡镇 when `unit` came from 村), to tell apart two
    # villages of the same name; not part of the content key.
    unit_context: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None  # the header text as written in the file; None for whole-row problems
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


# Built-in columns, most specific / most trusted alias first. For the key only the best column
# present is used (mixing 问题编号 and 序号 values would collide); for the others each row takes
# the first non-empty cell, so a 村 cell wins over the 乡镇 cell and an empty 村 falls back to it.
BUILTIN_ALIASES: Mapping[str, tuple[str, ...]] = {
    "key": ("问题编号", "编号", "序号", "key"),
    "unit": ("责任单位", "整改单位", "所属单位", "单位", "村", "社区", "乡镇", "街道", "unit"),
    "assignee": ("整改责任人", "责任人", "整改负责人", "负责人", "assignee"),
    "subject": ("对象", "整改对象", "检查对象", "监督对象", "户主", "户主姓名", "subject"),
    "due": ("整改时限", "整改期限", "完成时限", "截止时间", "截止日期", "due"),
}
BUILTIN_TARGETS = tuple(BUILTIN_ALIASES)
IGNORE = "-"  # mapping target that drops a column on purpose (no warning)

LIGHT_LABELS: Mapping[str, str] = {"green": "绿", "yellow": "黄", "red": "红"}
LIGHT_FILLS: Mapping[str, str] = {"green": "FF63BE7B", "yellow": "FFFFD966", "red": "FFF8696B"}
HEADER_FILL = "FFD9E1F2"

_HEADER_SCAN_ROWS = 30  # title, subtitle, blank lines: headers sit near the top
_PROGRESS_EVERY = 5000
_UNIT_CONTEXT = "@unit_context"  # collected beside a row's values, never hashed into its key
_WIDTH_SAMPLE = 200  # rows looked at to size xlsx columns


# ---------------------------------------------------------------------------------------------
# Headers and mapping files


_TRAILING_NOTE = re.compile(r"[(\[【][^()\[\]【】]*[)\]】]$")


def normalize_header(text: object) -> str:
    """The comparable form of a header: `问题描述（必填）`, ` 问题描述 ` and `*问题描述` all match.

    NFKC folds full-width brackets, colons and letters; all whitespace goes (headers often carry
    line breaks); leading `*`/`※` required-markers and trailing bracketed notes are dropped.
    """
    text = "".join(unicodedata.normalize("NFKC", str(text)).split()).strip("*※★:")
    while (note := _TRAILING_NOTE.search(text)) and note.start() > 0:
        text = text[: note.start()].rstrip("*※★:")
    return text.lower()


def load_mapping(path: Path) -> dict[str, str]:
    """Read a YAML mapping file (`columns: {表头: target}`; docs/ledgers.md) into a dict.

    A null or `-` target becomes `IGNORE`. Every problem is reported at its line.
    """
    path = Path(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            [f"{path}: cannot read the mapping file: {exc}"], source=str(path)
        ) from exc
    node = _columns_node(root, path)
    mapping: dict[str, str] = {}
    problems: list[Problem] = []
    for key_node, value_node in node.value:
        target = _mapping_target(value_node)
        if not isinstance(key_node, yaml.ScalarNode) or target is None:
            problems.append(Problem(_loc(path, key_node), "expected `header text: target` pairs"))
        elif key_node.value in mapping:
            problems.append(Problem(_loc(path, key_node), f"header {key_node.value!r} twice"))
        else:
            mapping[key_node.value] = target
    if problems:
        raise InvalidInput(problems, source=str(path))
    return mapping


def _columns_node(root: yaml.Node | None, path: Path) -> yaml.MappingNode:
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if key_node.value == "columns" and isinstance(value_node, yaml.MappingNode):
                return value_node
    where = _loc(path, root) if root is not None else SourceLoc(str(path), 1, 1)
    raise InvalidInput(
        [Problem(where, "a mapping file needs a `columns:` mapping of header text -> target")],
        source=str(path),
    )


def _mapping_target(node: yaml.Node) -> str | None:
    """The target text of one mapping value; None when it is not a scalar."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    if node.tag.endswith(":null") or node.value in ("", "~", "null", IGNORE):
        return IGNORE
    return node.value.strip()


def _loc(path: Path, node: yaml.Node) -> SourceLoc:
    return SourceLoc(str(path), node.start_mark.line + 1, node.start_mark.column + 1)


# ---------------------------------------------------------------------------------------------
# Cell parsers: each takes a non-empty cell (str already stripped) and raises ValueError.


_FORMULA_START = ("=", "+", "-", "@")  # what makes Excel treat a CSV cell as a formula
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_YMD = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"
    r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SERIAL = re.compile(r"\d{1,7}(?:\.\d+)?")
_EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_MAX_SERIAL = 2958465  # 9999-12-31


def excel_serial_to_date(serial: float) -> date:
    """An Excel 1900-system serial as a date. Serial 60 is Excel's phantom 1900-02-29."""
    day = math.floor(serial)
    if not 1 <= day <= _EXCEL_MAX_SERIAL:
        raise ValueError(f"{serial:g} is outside Excel's date range")
    if day == 60:
        raise ValueError("Excel serial 60 is 1900-02-29, a day that does not exist")
    # Excel counts 1900 as a leap year, so serials before the phantom day are one day off.
    return _EXCEL_EPOCH + timedelta(days=day + 1 if day < 60 else day)


def parse_date(value: object) -> date:
    """A date from what offices type or what the reader hands over; ValueError otherwise.

    Accepts date/datetime cells, 2026-12-01, 2026/12/1, 2026.12.1, 2026年12月1日, 20261201
    (text or number) and Excel serial numbers (46357 -> 2026-12-01).
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (time, timedelta)):
        raise ValueError(f"{value} is a time of day, not a date")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _date_from_number(float(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if match := _YMD.fullmatch(text) or _COMPACT.fullmatch(text):
        return _make_date(*match.groups())
    if _SERIAL.fullmatch(text):
        return _date_from_number(float(text))
    raise ValueError(f"{value!r} is not a date; write it like 2026-12-01 or 2026年12月1日")


def _date_from_number(number: float) -> date:
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a date")
    if number.is_integer() and 19000101 <= number <= 99991231:
        return _make_date(*_COMPACT.fullmatch(str(int(number))).groups())  # type: ignore[union-attr]
    if number.is_integer() and 1900 <= number <= 2100:
        # As a serial this would be a day in 1905; far likelier someone typed only the year.
        raise ValueError(f"{number:g} looks like a year alone; give the full date")
    return excel_serial_to_date(number)


def _make_date(year: str, month: str, day: str) -> date:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"no such date: {year}-{month}-{day}") from None


def _to_text(value: object) -> str:
    """A cell as text: whole numbers lose Excel's `.0`, dates print as ISO."""
    if isinstance(value, str):
        # write_ledger's CSV guard: a quote before =, +, - or @ stops Excel running a formula.
        if value[:1] == "'" and value[1:].lstrip()[:1] in _FORMULA_START:
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


def _parse_number(value: object) -> int | float:
    if isinstance(value, bool):
        raise ValueError(f"{_to_text(value)} is not a number")
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


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = _to_text(value).strip().lower()
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
        text = _to_text(value)
        if not allowed:
            return text
        try:
            return allowed[_squash(text)]
        except KeyError:
            raise ValueError(f"{text!r} is not an allowed value; allowed: {listing}") from None

    return parse


def _field_parser(spec: FieldSpec) -> Callable[[object], object] | None:
    """The parser for a field's cells; None for types a spreadsheet cannot carry (files)."""
    if spec.type == "choice":
        return _choice_parser(spec)
    return {"text": _to_text, "number": _parse_number, "date": parse_date, "bool": _parse_bool}.get(
        spec.type
    )


_BUILTIN_PARSERS: Mapping[str, Callable[[object], object]] = {
    "key": _to_text,
    "unit": _to_text,
    "assignee": _to_text,
    "subject": _to_text,
    "due": parse_date,
}


# ---------------------------------------------------------------------------------------------
# Column plan: which column feeds which target


@dataclass(frozen=True)
class _Column:
    index: int
    header: str  # as written in the file
    target: str  # a field name, or "@unit" etc. so a field named `unit` cannot collide
    parse: Callable[[object], object]
    rank: int = 0  # alias priority among columns of one built-in target; lower wins


@dataclass
class _Plan:
    key: _Column | None = None
    columns: list[_Column] = field(default_factory=list)  # everything but the key, by priority
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)

    @property
    def targets(self) -> set[str]:
        return {c.target for c in self.columns} | ({"@key"} if self.key else set())


class _Matcher:
    """Resolves normalized header text to a target: mapping, then field label/name, then alias."""

    def __init__(self, spec: WorkflowSpec, mapping: Mapping[str, str] | None) -> None:
        self.spec = spec
        self.by_label = {normalize_header(f.label): f.name for f in spec.fields.values()}
        self.by_name = {normalize_header(f.name): f.name for f in spec.fields.values()}
        self.aliases = {
            normalize_header(alias): (f"@{target}", rank)
            for target, aliases in BUILTIN_ALIASES.items()
            for rank, alias in enumerate(aliases)
        }
        self.mapping = _resolve_mapping(mapping or {}, spec, self.by_label)

    def match(self, header: str) -> tuple[str, int] | None:
        """(target, rank) for a header; rank -1 for mapped columns so they beat any alias."""
        norm = normalize_header(header)
        if norm in self.mapping:
            return self.mapping[norm], -1
        name = self.by_label.get(norm) or self.by_name.get(norm)
        if name:
            return name, 0
        return self.aliases.get(norm)


def _resolve_mapping(
    mapping: Mapping[str, str], spec: WorkflowSpec, by_label: Mapping[str, str]
) -> dict[str, str]:
    """Normalized header -> internal target. Targets: built-in, field name or field label."""
    resolved: dict[str, str] = {}
    unknown: list[str] = []
    for header, target in mapping.items():
        target = target.strip() if target else IGNORE
        if target == IGNORE:
            resolved[normalize_header(header)] = IGNORE
        elif target in BUILTIN_ALIASES:
            resolved[normalize_header(header)] = f"@{target}"
        elif target in spec.fields:
            resolved[normalize_header(header)] = target
        elif normalize_header(target) in by_label:
            resolved[normalize_header(header)] = by_label[normalize_header(target)]
        else:
            unknown.append(f"column mapping {header!r} -> {target!r}: no such field or built-in")
    if unknown:
        choices = ", ".join([*BUILTIN_TARGETS, *spec.fields])
        raise InvalidInput([*unknown, f"targets are: {choices}, or - to ignore the column"])
    return resolved


def _plan_columns(header: Sequence[object], header_row: int, matcher: _Matcher) -> _Plan:
    plan = _Plan()
    seen_fields: dict[str, str] = {}
    keys: list[_Column] = []
    for index, cell in enumerate(header):
        text = _to_text(cell).strip() if cell is not None else ""
        found = matcher.match(text) if text else None
        if found is None:
            if text:
                plan.warnings.append(RowError(header_row, text, "column not recognised; ignored"))
            continue
        target, rank = found
        if target == IGNORE:
            continue
        column = _make_column(index, text, target, rank, matcher.spec, plan, header_row)
        if column is None:
            continue
        if target == "@key":
            keys.append(column)
        elif not target.startswith("@") and target in seen_fields:
            plan.errors.append(RowError(header_row, text, _twice(target, seen_fields[target])))
        else:
            seen_fields.setdefault(target, text)
            plan.columns.append(column)
    _choose_key(plan, keys, header_row)
    plan.columns.sort(key=lambda c: (c.target, c.rank, c.index))
    return plan


def _make_column(
    index: int, text: str, target: str, rank: int, spec: WorkflowSpec, plan: _Plan, header_row: int
) -> _Column | None:
    if target.startswith("@"):
        return _Column(index, text, target, _BUILTIN_PARSERS[target[1:]], rank)
    parse = _field_parser(spec.fields[target])
    if parse is None:
        message = f"field {target} ({spec.fields[target].type}) cannot be imported; ignored"
        plan.warnings.append(RowError(header_row, text, message))
        return None
    return _Column(index, text, target, parse, rank)


def _twice(target: str, first: str) -> str:
    return f"field {target} already comes from column {first!r}; remove one or map it to -"


def _choose_key(plan: _Plan, keys: list[_Column], header_row: int) -> None:
    keys.sort(key=lambda c: (c.rank, c.index))
    if keys:
        plan.key = keys[0]
    for other in keys[1:]:
        message = f"not used as the key: column {keys[0].header!r} is"
        plan.warnings.append(RowError(header_row, other.header, message))


# ---------------------------------------------------------------------------------------------
# Reading files into a grid of cells

Grid = list[list[Any]]  # rows of cells: str, float, int, bool, date, datetime, time, timedelta
Merged = list[tuple[tuple[int, int], tuple[int, int]]]  # 0-based ((top, left), (bottom, right))


def _read_grid(path: Path) -> tuple[Grid, Merged]:
    """All rows from row 1 (so index + 1 is Excel's row number) and the merged ranges."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path)
    if suffix == ".csv":
        return _read_csv(path), []
    raise InvalidInput(
        [
            f"{path}: cannot read {suffix or 'files without an extension'}; "
            "save the ledger as .xlsx (Excel 工作簿) or .csv"
        ],
        source=str(path),
    )


def _read_xlsx(path: Path) -> tuple[Grid, Merged]:
    from python_calamine import CalamineWorkbook  # imported late: only xlsx reads need it

    try:
        with CalamineWorkbook.from_path(str(path)) as book:
            sheet = book.get_sheet_by_index(0)
            # skip_empty_area=False keeps leading blank rows so row numbers match Excel's.
            grid = sheet.to_python(skip_empty_area=False)
            merged = list(sheet.merged_cell_ranges or [])
    except Exception as exc:  # calamine raises its own types for corrupt or protected files
        raise InvalidInput(
            [f"{path}: cannot read this xlsx file: {exc}"], source=str(path)
        ) from exc
    return grid, merged


def _read_csv(path: Path) -> Grid:
    """UTF-8 (with or without BOM), else GB18030: what Excel on Chinese Windows saves."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput([f"{path}: {exc.strerror or exc}"], source=str(path)) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                [f"{path}: neither UTF-8 nor GBK/GB18030 text; save it as CSV UTF-8"],
                source=str(path),
            ) from exc
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InvalidInput([f"{path}: not a readable CSV file: {exc}"], source=str(path)) from exc


def _fill_merged(grid: Grid, merged: Merged, below: int) -> None:
    """Copy a vertically merged cell's value down: a 责任单位 merged over a township's rows
    belongs to each of them. Only below the header (the title is merged too), and only down
    the first column, so a merge across two columns does not put one value in both fields."""
    for (top, left), (bottom, _right) in merged:
        if top <= below or top >= len(grid) or left >= len(grid[top]):
            continue
        value = grid[top][left]
        for row in grid[top + 1 : bottom + 1]:
            if left < len(row):
                row[left] = value


def _non_empty(row: Sequence[object]) -> int:
    return sum(1 for c in row if c is not None and (not isinstance(c, str) or c.strip()))


def _find_header(grid: Sequence[Sequence[object]], matcher: _Matcher) -> int | None:
    """Index of the header row: the first row near the top with two or more cells and at least
    one recognised header; failing that, the first row with two or more cells. Rows with a
    single cell (the merged title) are never the header."""
    candidates = [i for i, row in enumerate(grid[:_HEADER_SCAN_ROWS]) if _non_empty(row) >= 2]
    for index in candidates:
        if any(isinstance(c, str) and c.strip() and matcher.match(c) for c in grid[index]):
            return index
    return candidates[0] if candidates else None


# ---------------------------------------------------------------------------------------------
# Rows


def _parse_cells(
    cells: Sequence[object], row_no: int, plan: _Plan, errors: list[RowError]
) -> tuple[dict[str, object], int]:
    """Parsed values by target and how many mapped cells were filled (0: a blank row)."""
    values: dict[str, object] = {}
    failed: list[tuple[int, str, str]] = []  # (column index, target, message)
    width = len(cells)
    filled = 0
    context: list[str] = []
    for col in plan.columns:
        raw = cells[col.index] if col.index < width else None
        if raw is None or raw == "" or (isinstance(raw, str) and not (raw := raw.strip())):
            continue
        filled += 1
        if col.target in values or (failed and any(t == col.target for _, t, _ in failed)):
            # A better alias column of the same built-in already gave this row's value; other
            # unit cells are kept as context (the 乡镇 of a 村).
            if col.target == "@unit":
                context.append(_to_text(raw).strip())
            continue
        try:
            values[col.target] = col.parse(raw)
        except ValueError as exc:
            failed.append((col.index, col.target, str(exc)))
    if failed:
        headers = {c.index: c.header for c in plan.columns}
        # Reported left to right, as the user reads the row.
        errors.extend(RowError(row_no, headers[i], m) for i, _, m in sorted(failed))
    if context:
        values[_UNIT_CONTEXT] = tuple(context)
    return values, filled


def _cell_key(cells: Sequence[object], plan: _Plan) -> str | None:
    if plan.key is None or plan.key.index >= len(cells):
        return None
    raw = cells[plan.key.index]
    if raw is None or raw == "":
        return None
    return _to_text(raw).strip() or None


def _content_key(values: Mapping[str, object]) -> str:
    """The fallback key: first 16 hex digits of SHA-256 over the row's parsed values.

    Canonical text: `target=value` for each non-empty value, sorted by target, joined with
    newlines; targets are field names and @unit/@assignee/@subject/@due; values are ISO dates,
    whole numbers without `.0`, text with whitespace runs collapsed to one space. Hence the same
    row reads to the same key from xlsx or csv and whatever the column order.
    """
    lines = sorted(f"{target}={_canonical(value)}" for target, value in values.items())
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def _canonical(value: object) -> str:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, bool):
        return "true" if value else "false"
    return _to_text(value)


def _build_row(row_no: int, key: str, values: dict[str, object],
               unit_context: tuple[str, ...] = ()) -> LedgerRow:
    """Consumes `values`: the built-ins are popped off, what remains are the fields."""
    return LedgerRow(
        row=row_no,
        key=key,
        unit=values.pop("@unit", None),  # type: ignore[arg-type]
        assignee=values.pop("@assignee", None),  # type: ignore[arg-type]
        subject=values.pop("@subject", None),  # type: ignore[arg-type]
        due=values.pop("@due", None),  # type: ignore[arg-type]
        fields=values,
        unit_context=unit_context,
    )


def _read_rows(
    grid: Sequence[Sequence[object]],
    start: int,
    plan: _Plan,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[LedgerRow], list[RowError]]:
    rows: list[LedgerRow] = []
    errors = list(plan.errors)
    seen: dict[str, int] = {}
    total = len(grid) - start
    for done, index in enumerate(range(start, len(grid)), 1):
        if progress and done % _PROGRESS_EVERY == 0:
            progress(done, total)
        cells, row_no = grid[index], index + 1
        before = len(errors)
        values, filled = _parse_cells(cells, row_no, plan, errors)
        context: tuple[str, ...] = values.pop(_UNIT_CONTEXT, ())  # type: ignore[assignment]
        if not filled:
            continue  # blank (or only a pre-filled 序号): skipped, not an error
        key, column = _cell_key(cells, plan), plan.key.header if plan.key else None
        if key is None and len(errors) == before:
            key, column = _content_key(values), None
        if key is not None and key in seen:
            errors.append(_duplicate(row_no, column, key, seen[key]))
        elif key is not None:
            seen[key] = row_no
        if len(errors) == before and key is not None:
            rows.append(_build_row(row_no, key, values, context))
    if progress:
        progress(total, total)
    return rows, errors


def _duplicate(row_no: int, column: str | None, key: str, first: int) -> RowError:
    if column is None:  # a content key: the whole row repeats another
        return RowError(row_no, None, f"the same content as row {first} (duplicate row)")
    return RowError(row_no, column, f"duplicate {column} {key!r}: also row {first}")


def read_ledger(
    path: Path,
    spec: WorkflowSpec,
    mapping: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    warnings: list[RowError] | None = None,
) -> tuple[list[LedgerRow], list[RowError]]:
    """Read the first sheet of an .xlsx, or a .csv, into good rows and every error found.

    Bad rows are left out of the first list; the caller decides whether any error rejects the
    file. File-level problems (unreadable file, no header, no recognised column, a mapping
    naming an unknown field) raise InvalidInput. Non-fatal findings (ignored columns) are
    appended to `warnings` when a list is passed. `progress(done, total)` is called as rows go.
    """
    path = Path(path)
    matcher = _Matcher(spec, mapping)
    grid, merged = _read_grid(path)
    header_index = _find_header(grid, matcher)
    if header_index is None:
        message = f"{path}: no header row found: the sheet is empty or has only a title"
        raise InvalidInput([message], source=str(path))
    plan = _plan_columns(grid[header_index], header_index + 1, matcher)
    if not plan.targets - {"@key"}:
        message = _no_columns(path, grid[header_index], header_index + 1, spec)
        raise InvalidInput([message], source=str(path))
    _warn_unused_mapping(plan, grid[header_index], header_index + 1, mapping)
    if warnings is not None:
        warnings.extend(plan.warnings)
    _fill_merged(grid, merged, header_index)
    return _read_rows(grid, header_index + 1, plan, progress)


def _no_columns(path: Path, header: Sequence[object], row: int, spec: WorkflowSpec) -> str:
    found = ", ".join(_to_text(c).strip() for c in header if _non_empty([c])) or "(none)"
    expected = ", ".join(f.label for f in spec.fields.values())
    return (
        f"{path}: row {row}: no column matches the workflow; headers found: {found}; "
        f"expected some of: {expected}, 责任单位, 责任人, 整改时限 (or give a column mapping)"
    )


def _warn_unused_mapping(
    plan: _Plan, header: Sequence[object], row: int, mapping: Mapping[str, str] | None
) -> None:
    present = {normalize_header(_to_text(c)) for c in header if _non_empty([c])}
    for text in mapping or {}:
        if normalize_header(text) not in present:
            plan.warnings.append(RowError(row, text, "mapped column not in this file"))


# ---------------------------------------------------------------------------------------------
# Writing


def write_ledger(
    rows: Iterable[Mapping[str, object]],
    columns: Sequence[tuple[str, str]],
    path: Path,
    fmt: Literal["xlsx", "csv"],
    *,
    light_column: str | None = None,
    status_choices: Sequence[str] = (),
    status_column: str = "status",
    force: bool = False,
) -> int:
    """Write rows as a ledger; `columns` are (row key, header text) pairs. Returns rows written.

    xlsx: bold filled header, frozen header row, column widths, the light column shown as
    绿/黄/红 on a matching fill, a drop-down of `status_choices` on `status_column`.
    csv: UTF-8 with BOM so Excel shows the Chinese. The file is written beside the target and
    moved into place, so a failed export never leaves half a file.
    """
    path = Path(path)
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"unknown ledger format {fmt!r}: use xlsx or csv")
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; use --force to overwrite it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "xlsx":
            count = _write_xlsx(rows, columns, tmp, light_column, status_choices, status_column)
        else:
            count = _write_csv(rows, columns, tmp, light_column)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _plain(value: object) -> object:
    """A value as a spreadsheet cell holds it: None, str, number, date or datetime."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: keep the wall time
    if value is None or isinstance(value, (str, int, float, date)):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (list, tuple, set, frozenset)):
        return "、".join(str(v) for v in value)
    return str(value)


def _light(value: object) -> tuple[object, str | None]:
    """(displayed text, fill colour) of a traffic-light cell."""
    if isinstance(value, str) and value in LIGHT_LABELS:
        return LIGHT_LABELS[value], LIGHT_FILLS[value]
    return _plain(value), None


def csv_cell(value: object) -> str:
    """A cell as CSV text. Text starting with =, +, - or @ (and not a number) gets a leading
    quote so Excel shows it instead of running it as a formula; read_ledger drops the quote."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    formula_like = isinstance(value, str) and text.lstrip()[:1] in _FORMULA_START
    if formula_like and not _PLAIN_NUMBER.fullmatch(text.strip()):  # "-3" is just a number
        return "'" + text
    return text


def _write_csv(
    rows: Iterable[Mapping[str, object]],
    columns: Sequence[tuple[str, str]],
    path: Path,
    light_column: str | None,
) -> int:
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([header for _, header in columns])
        for row in rows:
            writer.writerow(
                [
                    csv_cell(_light(row.get(k))[0] if k == light_column else row.get(k))
                    for k, _ in columns
                ]
            )
            count += 1
    return count


def _display_width(value: object) -> int:
    text = csv_cell(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text[:80])


def _column_widths(
    columns: Sequence[tuple[str, str]], sample: Sequence[Mapping[str, object]]
) -> list[int]:
    """Width per column from the header and the first rows; CJK characters count double."""
    widths = []
    for key, header in columns:
        longest = max([_display_width(header), *(_display_width(r.get(key)) for r in sample)])
        widths.append(min(60, max(8, longest + 2)))
    return widths


def _write_xlsx(
    rows: Iterable[Mapping[str, object]],
    columns: Sequence[tuple[str, str]],
    path: Path,
    light_column: str | None,
    status_choices: Sequence[str],
    status_column: str,
) -> int:
    from openpyxl import Workbook  # imported late: only xlsx writes need it
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)  # streams rows: 80k rows stay fast and small in memory
    sheet = book.create_sheet("台账")
    iterator = iter(rows)
    head = list(islice(iterator, _WIDTH_SAMPLE))
    for number, width in enumerate(_column_widths(columns, head), 1):
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(_header_cells(sheet, columns))
    cells = _XlsxCells(sheet, light_column)
    count = 0
    for row in chain(head, iterator):
        sheet.append([cells.make(key, row.get(key)) for key, _ in columns])
        count += 1
    keys = [key for key, _ in columns]
    if status_choices and status_column in keys:
        _add_status_dropdown(book, sheet, keys.index(status_column) + 1, status_choices)
    book.save(path)
    return count


def _header_cells(sheet, columns: Sequence[tuple[str, str]]) -> list[object]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill

    font, fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    align = Alignment(horizontal="center", vertical="center", wrap_text=True)
    cells = []
    for _, header in columns:
        cell = WriteOnlyCell(sheet, header)
        cell.font, cell.fill, cell.alignment = font, fill, align
        cells.append(cell)
    return cells


class _XlsxCells:
    """Builds write-only cells; plain values pass through, styled cells only where needed."""

    def __init__(self, sheet, light_column: str | None) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import PatternFill

        self.sheet, self.light_column, self.cell_type = sheet, light_column, WriteOnlyCell
        self.illegal = ILLEGAL_CHARACTERS_RE
        self.fills = {c: PatternFill("solid", fgColor=c) for c in LIGHT_FILLS.values()}

    def make(self, key: str, value: object) -> object:
        fill = None
        if key == self.light_column:
            value, fill = _light(value)
        else:
            value = _plain(value)
        if isinstance(value, str):
            # Control characters pasted from other systems make openpyxl refuse the whole file.
            text: str = self.illegal.sub("", value)
            if text.startswith("=") or fill:
                cell = self.cell_type(self.sheet, text)
                cell.data_type = "s"  # text, never a formula
                if fill:
                    cell.fill = self.fills[fill]
                return cell
            return text
        return value


def _add_status_dropdown(book, sheet, column: int, choices: Sequence[str]) -> None:
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    inline = ",".join(choices)
    if len(inline) <= 250 and not any("," in c or '"' in c for c in choices):
        formula = f'"{inline}"'
    else:
        # Excel caps an inline list at 255 characters and has no escape for commas: use a sheet.
        lists = book.create_sheet("选项")
        lists.sheet_state = "hidden"
        for choice in choices:
            lists.append([choice])
        formula = f"'选项'!$A$1:$A${len(choices)}"
    validation = DataValidation(type="list", formula1=formula, allow_blank=True)
    validation.showErrorMessage = True
    validation.error = "请从下拉列表中选择"
    letter = get_column_letter(column)
    validation.add(f"{letter}2:{letter}1048576")  # the whole column, for rows added later too
    sheet.data_validations.append(validation)
