"""The weekly report as Markdown: tables with every cell escaped, for mail and chat robots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..model import (
    RED_ITEM_HEADERS,
    WEIGHT_LABELS,
    UnitRow,
    WeeklyReport,
    display,
    escalation_levels,
    parent_names,
    ranking_table,
    red_keys,
    top_rows,
    township_sections,
    when,
)

__all__ = ["render_markdown"]


def _md(value: object) -> str:
    """A table cell: pipes and Markdown marks escaped, HTML neutralised, one line."""
    text = " ".join(when(value).split())
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
    headers, body = ranking_table(rows, levels, names)
    return _md_table(
        headers, [[display(h, c) for h, c in zip(headers, r, strict=True)] for r in body]
    )


def render_markdown(report: WeeklyReport) -> str:
    """Ranking, townships with their villages, red items, trend and weights, in that order."""
    levels, names = escalation_levels(report.rows), parent_names(report.rows)
    out = [f"# {_md(report.title)}{'（公开版）' if report.public else ''}", ""]
    head = [f"填报单位：{_md(report.office)}" if report.office else "", _md(report.issue),
            f"统计周期：{_md(report.period or report.week)}（{_md(report.week)}）",
            f"生成时间：{_md(report.generated_at)}"]
    out += ["　".join(h for h in head if h), ""]
    out += ["## 单位排名", "", *_md_ranking(top_rows(report.rows), levels, names), ""]
    sections = township_sections(report.rows)
    out += ["## 分乡镇情况", ""] if sections else []
    for township, villages in sections:
        out += [f"### {_md(township.unit_name)}（第 {township.rank} 名）", ""]
        out += [*_md_ranking(villages, levels, names), ""]
    keys = red_keys(report)
    out += [f"## 红灯事项（{report.red_total or len(report.red_items)} 项）", ""]
    red = [[item.get(k) for k in keys] for item in report.red_items]
    out += [*(_md_table([RED_ITEM_HEADERS[k] for k in keys], red) if red else ["本周无红灯事项。"])]
    if report.red_more:
        out += ["", f"另有 {report.red_more} 项未列出（共 {report.red_total} 项）。"]
    out += ["", "## 每周趋势", ""]
    out += _md_table(
        ["周次", "未整改", "已整改"], [[p.week, p.open, p.closed] for p in report.history]
    )
    out += ["", "## 评分权重", ""]
    out += [f"- {_md(WEIGHT_LABELS.get(k, k))}：{w:g}" for k, w in report.weights.items()]
    if report.anchor:
        out += ["", f"审计锚点（rectify audit anchor）：`{report.anchor}`"]
    return "\n".join(out) + "\n"
