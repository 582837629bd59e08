"""Render the weekly report (周报) as Markdown, one self-contained HTML page, xlsx or csv.

The figures are computed elsewhere; this module only lays them out. The HTML page carries its
CSS and an inline SVG chart and references no external asset, so it can be mailed or opened
offline on an office intranet. A public report (公开版) never shows the assignee's name.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Literal

from jinja2 import Environment

from ..ledgers import HEADER_FILL, csv_cell

__all__ = ["UnitRow", "WeekPoint", "WeeklyReport", "render_report", "report_as_json"]

ReportFormat = Literal["md", "html", "xlsx", "csv"]


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
_RANK_COLUMNS: tuple[tuple[str, Callable[[UnitRow], object]], ...] = (
    ("排名", lambda r: r.rank),
    ("单位", lambda r: r.unit_name),
    ("发现问题", lambda r: r.found),
    ("已整改", lambda r: r.closed),
    ("按期整改", lambda r: r.closed_on_time),
    ("逾期", lambda r: r.overdue),
    ("验收退回", lambda r: r.rejected),
    ("整改率", lambda r: _rate(r.closed, r.found)),
    ("按期率", lambda r: _rate(r.closed_on_time, r.closed)),
)


# ---------------------------------------------------------------------------------------------
# Shared shaping


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percent(value: object) -> str:
    return "—" if value is None else f"{value:.1%}"


def _when(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def _escalation_levels(rows: Sequence[UnitRow]) -> list[str]:
    """Every escalation level seen, in order of first appearance (the ladder's order)."""
    return list(dict.fromkeys(level for r in rows for level in r.escalations))


def _escalation_text(row: UnitRow) -> str:
    return "、".join(f"{level}×{n}" for level, n in row.escalations.items() if n)


def _parent_names(rows: Sequence[UnitRow]) -> dict[str, str]:
    return {r.unit: r.unit_name for r in rows}


def _red_keys(report: WeeklyReport) -> tuple[str, ...]:
    """The red-item columns shown: a public report leaves out who is responsible."""
    if report.public:
        return tuple(k for k in RED_ITEM_KEYS if k != "assignee_name")
    return RED_ITEM_KEYS


def _top(rows: Sequence[UnitRow]) -> list[UnitRow]:
    """The main ranking: rows whose parent is not itself in the report (the townships)."""
    units = {r.unit for r in rows}
    return [r for r in rows if r.parent not in units]


def _sections(rows: Sequence[UnitRow]) -> list[tuple[UnitRow, list[UnitRow]]]:
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


def _ranking_table(
    rows: Sequence[UnitRow], levels: Sequence[str], names: Mapping[str, str]
) -> tuple[list[str], list[list]]:
    """Headers and raw cell values (rates as fractions or None); `names`: unit id -> name."""
    headers = [h for h, _ in _RANK_COLUMNS[:2]] + ["上级单位"]
    headers += [h for h, _ in _RANK_COLUMNS[2:]] + [f"升级:{lv}" for lv in levels] + ["得分"]
    body = []
    for r in rows:
        cells = [get(r) for _, get in _RANK_COLUMNS]
        parent = names.get(r.parent, r.parent) if r.parent else ""
        cells[2:2] = [parent]
        body.append(cells + [r.escalations.get(lv, 0) for lv in levels] + [r.score])
    return headers, body


def _display(header: str, value: object) -> str:
    """One ranking cell as text for Markdown and CSV."""
    if header in ("整改率", "按期率"):
        return _percent(value)
    if header == "得分" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return _when(value)


# ---------------------------------------------------------------------------------------------
# JSON


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
    keys = _red_keys(report)
    return {
        "title": report.title,
        "week": report.week,
        "generated_at": report.generated_at,
        "public": report.public,
        "rows": [_jsonable(_unit_dict(r)) for r in report.rows],
        "red_items": [{k: _jsonable(item.get(k)) for k in keys} for item in report.red_items],
        "history": [{"week": p.week, "open": p.open, "closed": p.closed} for p in report.history],
        "weights": dict(report.weights),
    }


def _unit_dict(row: UnitRow) -> dict[str, object]:
    return {
        "rank": row.rank, "unit": row.unit, "unit_name": row.unit_name, "parent": row.parent,
        "found": row.found, "closed": row.closed, "closed_on_time": row.closed_on_time,
        "overdue": row.overdue, "rejected": row.rejected,
        "escalations": dict(row.escalations), "score": row.score,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Markdown


def _md(value: object) -> str:
    """A table cell: pipes and Markdown marks escaped, HTML neutralised, one line."""
    text = " ".join(_when(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for mark in ("\\", "|", "*", "_", "`", "[", "]"):
        text = text.replace(mark, "\\" + mark)
    return text


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _md_ranking(
    rows: Sequence[UnitRow], levels: Sequence[str], names: Mapping[str, str]
) -> list[str]:
    headers, body = _ranking_table(rows, levels, names)
    return _md_table(
        headers, [[_display(h, c) for h, c in zip(headers, r, strict=True)] for r in body]
    )


def render_markdown(report: WeeklyReport) -> str:
    levels, names = _escalation_levels(report.rows), _parent_names(report.rows)
    out = [f"# {_md(report.title)}{'（公开版）' if report.public else ''}", ""]
    out += [f"周次：{_md(report.week)}　生成时间：{_md(report.generated_at)}", ""]
    out += ["## 单位排名", "", *_md_ranking(_top(report.rows), levels, names), ""]
    sections = _sections(report.rows)
    out += ["## 分乡镇情况", ""] if sections else []
    for township, villages in sections:
        out += [f"### {_md(township.unit_name)}（第 {township.rank} 名）", ""]
        out += [*_md_ranking(villages, levels, names), ""]
    keys = _red_keys(report)
    out += [f"## 红灯事项（{len(report.red_items)} 项）", ""]
    red = [[item.get(k) for k in keys] for item in report.red_items]
    out += [*(_md_table([RED_ITEM_HEADERS[k] for k in keys], red) if red else ["本周无红灯事项。"])]
    out += ["", "## 每周趋势", ""]
    out += _md_table(
        ["周次", "未整改", "已整改"], [[p.week, p.open, p.closed] for p in report.history]
    )
    out += ["", "## 评分权重", ""]
    out += [f"- {_md(WEIGHT_LABELS.get(k, k))}：{w:g}" for k, w in report.weights.items()]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# CSV


def render_csv(report: WeeklyReport) -> str:
    """The ranking, one unit per line; formula-looking text is defused as in ledger exports."""
    rows = report.rows
    headers, body = _ranking_table(rows, _escalation_levels(rows), _parent_names(rows))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for row in body:
        writer.writerow([csv_cell(_display(h, c)) for h, c in zip(headers, row, strict=True)])
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# SVG chart geometry (drawn by the HTML template)

_CHART_W, _CHART_H = 640, 260
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 48, 16, 36, 40


def _nice_ceiling(value: int) -> tuple[int, int]:
    """(axis maximum, tick step) with 1-2-5 steps and about four ticks."""
    if value <= 4:
        return 4, 1
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return int(math.ceil(value / step) * step), int(step)


def _chart(history: Sequence[WeekPoint]) -> dict[str, object] | None:
    """Coordinates for the open-vs-closed chart: bars for closed, a line for open."""
    if not history:
        return None
    top, step = _nice_ceiling(max(max(p.open, p.closed) for p in history))
    plot_h = _CHART_H - _PAD_TOP - _PAD_BOTTOM
    band = (_CHART_W - _PAD_LEFT - _PAD_RIGHT) / len(history)
    base = _PAD_TOP + plot_h
    bar_w = round(band * 0.5, 1)

    def y(v: int) -> float:
        return round(base - v / top * plot_h, 1)

    every = max(1, math.ceil(len(history) / 12))  # keep week labels from overlapping
    points = []
    for i, p in enumerate(history):
        x = round(_PAD_LEFT + band * (i + 0.5), 1)
        points.append({
            "x": x, "week": p.week, "open": p.open, "closed": p.closed,
            "y_open": y(p.open), "y_closed": y(p.closed), "bar_x": round(x - bar_w / 2, 1),
            "bar_h": round(base - y(p.closed), 1), "label": p.week if i % every == 0 else "",
        })  # fmt: skip
    return {
        "width": _CHART_W, "height": _CHART_H, "left": _PAD_LEFT, "right": _CHART_W - _PAD_RIGHT,
        "top": _PAD_TOP, "base": base, "bar_w": bar_w, "points": points,
        "ticks": [{"value": v, "y": y(v)} for v in range(0, top + 1, step)],
        "line": " ".join(f"{p['x']},{p['y_open']}" for p in points),
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# HTML

_HTML = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ r.title }}{% if r.public %}（公开版）{% endif %} {{ r.week }}</title>
<style>
body { font-family: "Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", sans-serif;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { font-size: 1.25em; border-left: 4px solid #c00; padding-left: .5em; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin-top: 1.2em; }
.meta { color: #666; }
table { border-collapse: collapse; width: 100%; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #bbb; padding: .3em .5em; }
th { background: #d9e1f2; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f7f7f7; }
.red td:first-child { border-left: 4px solid #f8696b; }
.empty { color: #666; }
svg text { font-size: 11px; fill: #444; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } }
</style>
</head>
<body>
<h1>{{ r.title }}{% if r.public %}（公开版）{% endif %}</h1>
<p class="meta">周次：{{ r.week }}　生成时间：{{ r.generated_at }}</p>
{% macro ranking(rows, caption) -%}
<table>
<caption hidden>{{ caption }}</caption>
<thead><tr><th>排名</th><th>单位</th><th>上级单位</th><th>发现问题</th><th>已整改</th>
<th>按期整改</th><th>逾期</th><th>验收退回</th><th>整改率</th><th>按期率</th><th>升级督办</th>
<th>得分</th></tr></thead>
<tbody>
{%- for u in rows %}
<tr><td class="n">{{ u.rank }}</td><td>{{ u.unit_name }}</td>
<td>{{ parents.get(u.parent, u.parent or "") }}</td>
<td class="n">{{ u.found }}</td><td class="n">{{ u.closed }}</td>
<td class="n">{{ u.closed_on_time }}</td>
<td class="n">{{ u.overdue }}</td><td class="n">{{ u.rejected }}</td>
<td class="n">{{ percent(rate(u.closed, u.found)) }}</td>
<td class="n">{{ percent(rate(u.closed_on_time, u.closed)) }}</td>
<td>{{ escalations(u) }}</td>
<td class="n">{{ "%.2f"|format(u.score) }}</td></tr>
{%- endfor %}
</tbody>
</table>
{%- endmacro %}
<h2>单位排名</h2>
{{ ranking(top, "单位排名") }}
{% if sections %}<h2>分乡镇情况</h2>{% endif %}
{% for town, villages in sections %}
<section>
<h3>{{ town.unit_name }}（第 {{ town.rank }} 名，得分 {{ "%.2f"|format(town.score) }}）</h3>
{{ ranking(villages, town.unit_name) }}
</section>
{% endfor %}
<h2>红灯事项（{{ r.red_items|length }} 项）</h2>
{% if r.red_items %}
<table class="red">
<thead><tr>{% for k in red_keys %}<th>{{ red_headers[k] }}</th>{% endfor %}</tr></thead>
<tbody>
{%- for item in r.red_items %}
<tr>{% for k in red_keys %}<td>{{ when(item.get(k)) }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody>
</table>
{% else %}<p class="empty">本周无红灯事项。</p>{% endif %}
<h2>每周趋势</h2>
{% if chart %}
<svg width="{{ chart.width }}" height="{{ chart.height }}"
     viewBox="0 0 {{ chart.width }} {{ chart.height }}" role="img"
     aria-label="每周未整改与已整改数量">
<title>每周未整改与已整改数量</title>
{%- for t in chart.ticks %}
<line x1="{{ chart.left }}" y1="{{ t.y }}" x2="{{ chart.right }}" y2="{{ t.y }}" stroke="#e5e5e5"/>
<text x="{{ chart.left - 6 }}" y="{{ t.y + 4 }}" text-anchor="end">{{ t.value }}</text>
{%- endfor %}
<line x1="{{ chart.left }}" y1="{{ chart.top }}" x2="{{ chart.left }}" y2="{{ chart.base }}"
      stroke="#444"/>
<line x1="{{ chart.left }}" y1="{{ chart.base }}" x2="{{ chart.right }}" y2="{{ chart.base }}"
      stroke="#444"/>
{%- for p in chart.points %}
<rect x="{{ p.bar_x }}" y="{{ p.y_closed }}" width="{{ chart.bar_w }}" height="{{ p.bar_h }}"
      fill="#63be7b"><title>{{ p.week }} 已整改 {{ p.closed }}</title></rect>
{%- if p.label %}
<text x="{{ p.x }}" y="{{ chart.base + 16 }}" text-anchor="middle">{{ p.label }}</text>
{%- endif %}
{%- endfor %}
<polyline points="{{ chart.line }}" fill="none" stroke="#d9534f" stroke-width="2"/>
{%- for p in chart.points %}
<circle cx="{{ p.x }}" cy="{{ p.y_open }}" r="3" fill="#d9534f">
<title>{{ p.week }} 未整改 {{ p.open }}</title></circle>
{%- endfor %}
<g transform="translate({{ chart.right - 190 }}, 12)">
<rect x="0" y="-9" width="12" height="10" fill="#63be7b"/><text x="16" y="0">已整改</text>
<line x1="80" y1="-4" x2="100" y2="-4" stroke="#d9534f" stroke-width="2"/>
<text x="104" y="0">未整改</text>
</g>
</svg>
{% else %}<p class="empty">暂无历史数据。</p>{% endif %}
{% if r.weights %}
<h2>评分权重</h2>
<ul>
{% for k, w in r.weights.items() %}
<li>{{ weight_labels.get(k, k) }}：{{ "%g"|format(w) }}</li>
{% endfor %}
</ul>
{% endif %}
</body>
</html>
"""


@cache
def _html_template():
    # Autoescape on: unit names, descriptions and week labels come from users.
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(_HTML)


def render_html(report: WeeklyReport) -> str:
    return _html_template().render(
        r=report,
        parents=_parent_names(report.rows),
        top=_top(report.rows),
        sections=_sections(report.rows),
        red_keys=_red_keys(report),
        red_headers=RED_ITEM_HEADERS,
        weight_labels=WEIGHT_LABELS,
        chart=_chart(report.history),
        rate=_rate,
        escalations=_escalation_text,
        percent=_percent,
        when=_when,
    )


# ---------------------------------------------------------------------------------------------
# xlsx


def _xlsx_sheet(book, title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]):
    """A sheet with a bold filled, frozen header; text is always stored as text, not formulas."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    for values in rows:
        sheet.append([_when(v) if isinstance(v, (date, datetime)) else v for v in values])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    sheet.freeze_panes = "A2"
    for index, header in enumerate(headers, 1):
        sheet.column_dimensions[get_column_letter(index)].width = max(10, len(header) * 2 + 4)
    return sheet


def render_xlsx(report: WeeklyReport, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    book.properties.title = report.title
    rows = report.rows
    headers, body = _ranking_table(rows, _escalation_levels(rows), _parent_names(rows))
    ranking = _xlsx_sheet(book, "单位排名", headers, body)
    for column in (headers.index("整改率") + 1, headers.index("按期率") + 1):
        for (cell,) in ranking.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = "0.0%"
    keys = _red_keys(report)
    red = [[item.get(k) for k in keys] for item in report.red_items]
    _xlsx_sheet(book, "红灯事项", [RED_ITEM_HEADERS[k] for k in keys], red)
    trend = [[p.week, p.open, p.closed] for p in report.history]
    _xlsx_sheet(book, "每周趋势", ["周次", "未整改", "已整改"], trend)
    book.save(path)


# ---------------------------------------------------------------------------------------------
# Entry point

_TEXT_RENDERERS: Mapping[str, Callable[[WeeklyReport], str]] = {
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
        render_xlsx(report, Path(path))
        return None
    if fmt not in _TEXT_RENDERERS:
        raise ValueError(f"unknown report format {fmt!r}: use md, html, xlsx or csv")
    text = _TEXT_RENDERERS[fmt](report)
    if path is not None:
        encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
        Path(path).write_text(text, encoding=encoding, newline="")
    return text
