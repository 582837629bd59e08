"""The weekly report (周报) as data: the neutral model every renderer lays out.

`WeeklyReport` holds what the figures computed (`reports/weekly.py`); the helpers here shape it
the same way for every format: the ranking's columns, rates, townships and their villages, which
red-item columns a public report (公开版) shows (never the assignee's name), the JSON form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from ..settings import DEFAULT_COLORS

LIGHT_LABELS = {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}

__all__ = [
    "DEFAULT_COLORS",
    "LIGHT_LABELS",
    "RANK_COLUMNS",
    "RED_ITEM_HEADERS",
    "RED_ITEM_KEYS",
    "WEIGHT_LABELS",
    "UnitRow",
    "WeekPoint",
    "WeeklyReport",
    "display",
    "escalation_levels",
    "escalation_text",
    "parent_names",
    "percent",
    "ranking_table",
    "rate",
    "red_keys",
    "report_as_json",
    "top_rows",
    "township_sections",
    "when",
]


@dataclass(frozen=True)
class UnitRow:
    rank: int
    unit: str
    unit_name: str
    parent: str | None
    found: int
    closed: int
    closed_on_time: int
    overdue: int
    rejected: int
    escalations: Mapping[str, int]  # escalation level (督办, 约谈...) -> count
    score: float
    extended: int = 0  # 延期申请 granted in the week
    urged: int = 0  # 催办 in the week
    light: str = "green"  # red: an overdue item; yellow: an item near its deadline


@dataclass(frozen=True)
class WeekPoint:
    week: str
    open: int
    closed: int


@dataclass(frozen=True)
class WeeklyReport:
    title: str
    week: str
    generated_at: str
    rows: Sequence[UnitRow]
    red_items: Sequence[Mapping[str, object]]  # keys: RED_ITEM_KEYS
    history: Sequence[WeekPoint]
    weights: Mapping[str, float]
    public: bool  # published to the public (公开版): no assignee names anywhere
    anchor: str | None = None  # `audit anchor`'s digest when made: a printed report pins history
    period: str = ""  # the week as offices write it: 2025年9月22日—9月28日
    office: str = ""  # 填报单位 / the issuing office (`[report] office`)
    issue: str = ""  # 期号 (`[report] issue_number`)
    colors: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COLORS))
    red_total: int = 0  # red items in all; `red_items` holds the first `[report] red_limit`

    @property
    def red_more(self) -> int:
        """Red items not listed (the list is bounded)."""
        return max(0, self.red_total - len(self.red_items))


RED_ITEM_KEYS = ("id", "unit_name", "state_label", "due_at", "assignee_name", "description")
RED_ITEM_HEADERS = {
    "id": "编号", "unit_name": "责任单位", "state_label": "状态", "due_at": "整改时限",
    "assignee_name": "责任人", "description": "问题描述",
}  # fmt: skip
WEIGHT_LABELS = {
    "found": "发现问题", "closed": "已整改", "closed_on_time": "按期整改", "overdue": "逾期",
    "rejected": "验收退回", "escalations": "升级督办", "on_time": "按期整改",
    "late": "逾期整改",
}  # fmt: skip
# The ranking's columns: (header, how to get the value). Escalations are added per level.
RANK_COLUMNS: tuple[tuple[str, Callable[[UnitRow], object]], ...] = (
    ("排名", lambda r: r.rank),
    ("单位", lambda r: r.unit_name),
    ("发现问题", lambda r: r.found),
    ("已整改", lambda r: r.closed),
    ("按期整改", lambda r: r.closed_on_time),
    ("逾期", lambda r: r.overdue),
    ("验收退回", lambda r: r.rejected),
    ("延期", lambda r: r.extended),
    ("催办", lambda r: r.urged),
    ("整改率", lambda r: rate(r.closed, r.found)),
    ("按期率", lambda r: rate(r.closed_on_time, r.closed)),
)


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percent(value: object) -> str:
    return "—" if value is None else f"{value:.1%}"


def when(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def escalation_levels(rows: Sequence[UnitRow]) -> list[str]:
    """Every escalation level seen, in order of first appearance (the ladder's order)."""
    return list(dict.fromkeys(level for r in rows for level in r.escalations))


def escalation_text(row: UnitRow) -> str:
    return "、".join(f"{level}×{n}" for level, n in row.escalations.items() if n)


def parent_names(rows: Sequence[UnitRow]) -> dict[str, str]:
    return {r.unit: r.unit_name for r in rows}


def red_keys(report: WeeklyReport) -> tuple[str, ...]:
    """The red-item columns shown: a public report leaves out who is responsible."""
    if report.public:
        return tuple(k for k in RED_ITEM_KEYS if k != "assignee_name")
    return RED_ITEM_KEYS


def top_rows(rows: Sequence[UnitRow]) -> list[UnitRow]:
    """The main ranking: rows whose parent is not itself in the report (the townships)."""
    units = {r.unit for r in rows}
    return [r for r in rows if r.parent not in units]


def township_sections(rows: Sequence[UnitRow]) -> list[tuple[UnitRow, list[UnitRow]]]:
    """(township, its villages by rank) for every row that is some other row's parent."""
    children: dict[str, list[UnitRow]] = {}
    for row in rows:
        if row.parent is not None:
            children.setdefault(row.parent, []).append(row)
    return [
        (row, sorted(children[row.unit], key=lambda r: r.rank))
        for row in sorted(rows, key=lambda r: r.rank)
        if row.unit in children
    ]


def ranking_table(
    rows: Sequence[UnitRow], levels: Sequence[str], names: Mapping[str, str]
) -> tuple[list[str], list[list]]:
    """Headers and raw cell values (rates as fractions or None); `names`: unit id -> name."""
    headers = [h for h, _ in RANK_COLUMNS[:2]] + ["上级单位", "灯"]
    headers += [h for h, _ in RANK_COLUMNS[2:]] + [f"升级:{lv}" for lv in levels] + ["得分"]
    body = []
    for r in rows:
        cells = [get(r) for _, get in RANK_COLUMNS]
        parent = names.get(r.parent, r.parent) if r.parent else ""
        cells[2:2] = [parent, LIGHT_LABELS.get(r.light, r.light)]
        body.append(cells + [r.escalations.get(lv, 0) for lv in levels] + [r.score])
    return headers, body


def display(header: str, value: object) -> str:
    """One ranking cell as text for Markdown and CSV."""
    if header in ("整改率", "按期率"):
        return percent(value)
    if header == "得分" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return when(value)


def _jsonable(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def report_as_json(report: WeeklyReport) -> dict:
    """The report as JSON-ready data; red items keep only the documented keys."""
    keys = red_keys(report)
    return {
        "title": report.title,
        "week": report.week,
        "period": report.period,
        "office": report.office,
        "issue": report.issue,
        "generated_at": report.generated_at,
        "public": report.public,
        "rows": [_jsonable(_unit_dict(r)) for r in report.rows],
        "red_items": [{k: _jsonable(item.get(k)) for k in keys} for item in report.red_items],
        "red_total": report.red_total,
        "history": [{"week": p.week, "open": p.open, "closed": p.closed} for p in report.history],
        "weights": dict(report.weights),
        "anchor": report.anchor,
    }


def _unit_dict(row: UnitRow) -> dict[str, object]:
    return {
        "rank": row.rank, "unit": row.unit, "unit_name": row.unit_name, "parent": row.parent,
        "found": row.found, "closed": row.closed, "closed_on_time": row.closed_on_time,
        "overdue": row.overdue, "rejected": row.rejected, "extended": row.extended,
        "urged": row.urged, "light": row.light,
        "escalations": dict(row.escalations), "score": row.score,
    }  # fmt: skip
