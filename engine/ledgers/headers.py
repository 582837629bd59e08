"""Header detection and the column plan: which column of a sheet feeds which target.

A header matches, in this order: the mapping file, a field's label or name, a built-in alias
(`BUILTIN_ALIASES`). Headers are compared in `normalize_header` form, so `问题描述（必填）` and
`*问题描述` match the label `问题描述`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InvalidInput
from ..core.i18n import Text, _, later
from ..core.spec import WorkflowSpec
from .cells import BUILTIN_PARSERS, field_parser, to_text
from .mapping import IGNORE
from .rows import RowError

__all__ = [
    "BUILTIN_ALIASES",
    "BUILTIN_TARGETS",
    "NOT_RECOGNISED",
    "Column",
    "Matcher",
    "Plan",
    "find_header",
    "no_columns_message",
    "non_empty",
    "normalize_header",
    "plan_columns",
    "warn_unused_mapping",
]

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

_HEADER_SCAN_ROWS = 30  # title, subtitle, blank lines: headers sit near the top
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


# ---------------------------------------------------------------------------------------------
# Column plan: which column feeds which target


@dataclass(frozen=True)
class Column:
    index: int
    header: str  # as written in the file
    target: str  # a field name, or "@unit" etc. so a field named `unit` cannot collide
    parse: Callable[[object], object]
    rank: int = 0  # alias priority among columns of one built-in target; lower wins


@dataclass
class Plan:
    key: Column | None = None
    columns: list[Column] = field(default_factory=list)  # everything but the key, by priority
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)

    @property
    def targets(self) -> set[str]:
        return {c.target for c in self.columns} | ({"@key"} if self.key else set())


class Matcher:
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
        self.mapping = resolve_mapping(mapping or {}, spec, self.by_label)

    def match(self, header: str) -> tuple[str, int] | None:
        """(target, rank) for a header; rank -1 for mapped columns so they beat any alias."""
        norm = normalize_header(header)
        if norm in self.mapping:
            return self.mapping[norm], -1
        name = self.by_label.get(norm) or self.by_name.get(norm)
        if name:
            return name, 0
        return self.aliases.get(norm)


NOT_RECOGNISED = later("column not recognised; ignored")


def resolve_mapping(
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
            unknown.append(_("column mapping '{header}' -> '{target}': no such field or "
                             "built-in").format(header=header, target=target))
    if unknown:
        choices = ", ".join([*BUILTIN_TARGETS, *spec.fields])
        raise InvalidInput([*unknown, _("targets are: {choices}, or - to ignore the "
                                        "column").format(choices=choices)])
    return resolved


def plan_columns(header: Sequence[object], header_row: int, matcher: Matcher) -> Plan:
    plan = Plan()
    seen_fields: dict[str, str] = {}
    keys: list[Column] = []
    for index, cell in enumerate(header):
        text = to_text(cell).strip() if cell is not None else ""
        found = matcher.match(text) if text else None
        if found is None:
            if text:
                plan.warnings.append(RowError(header_row, text, NOT_RECOGNISED))
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
    index: int, text: str, target: str, rank: int, spec: WorkflowSpec, plan: Plan, header_row: int
) -> Column | None:
    if target.startswith("@"):
        return Column(index, text, target, BUILTIN_PARSERS[target[1:]], rank)
    parse = field_parser(spec.fields[target])
    if parse is None:
        message = later("field {field} ({type}) cannot be imported; ignored", field=target,
                        type=spec.fields[target].type)
        plan.warnings.append(RowError(header_row, text, message))
        return None
    return Column(index, text, target, parse, rank)


def _twice(target: str, first: str) -> Text:
    return later("field {field} already comes from column '{column}'; remove one or map it "
                 "to -", field=target, column=first)


def _choose_key(plan: Plan, keys: list[Column], header_row: int) -> None:
    keys.sort(key=lambda c: (c.rank, c.index))
    if keys:
        plan.key = keys[0]
    for other in keys[1:]:
        message = later("not used as the key: column '{column}' is", column=keys[0].header)
        plan.warnings.append(RowError(header_row, other.header, message))


def non_empty(row: Sequence[object]) -> int:
    return sum(1 for c in row if c is not None and (not isinstance(c, str) or c.strip()))


def find_header(grid: Sequence[Sequence[object]], matcher: Matcher) -> int | None:
    """Index of the header row: the first row near the top with two or more cells and at least
    one recognised header; failing that, the first row with two or more cells. Rows with a
    single cell (the merged title) are never the header."""
    candidates = [i for i, row in enumerate(grid[:_HEADER_SCAN_ROWS]) if non_empty(row) >= 2]
    for index in candidates:
        if any(isinstance(c, str) and c.strip() and matcher.match(c) for c in grid[index]):
            return index
    return candidates[0] if candidates else None


def no_columns_message(path: Path, header: Sequence[object], row: int, spec: WorkflowSpec) -> str:
    found = _(", ").join(to_text(c).strip() for c in header if non_empty([c])) or _("(none)")
    expected = _(", ").join(f.label for f in spec.fields.values())
    return _("{file}: row {row}: no column matches the workflow; headers found: {found}; "
             "expected some of: {expected}, 责任单位, 责任人, 整改时限 (or give a column "
             "mapping)").format(file=path, row=row, found=found, expected=expected)


def warn_unused_mapping(
    plan: Plan, header: Sequence[object], row: int, mapping: Mapping[str, str] | None
) -> None:
    present = {normalize_header(to_text(c)) for c in header if non_empty([c])}
    for text in mapping or {}:
        if normalize_header(text) not in present:
            plan.warnings.append(RowError(row, text, later("mapped column not in this file")))

