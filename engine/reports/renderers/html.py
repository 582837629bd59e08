"""The weekly report as one self-contained HTML page: CSS and an inline SVG chart, no external
asset, so it can be mailed or opened offline on an office intranet.

The page is `reports/templates/weekly.html.j2` (shipped as package data), autoescaped: unit
names, descriptions and week labels come from users. This module computes the chart's geometry
and hands the template the model's shaping helpers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, Template

from ..model import (
    LIGHT_LABELS,
    RED_ITEM_HEADERS,
    WEIGHT_LABELS,
    WeeklyReport,
    WeekPoint,
    escalation_text,
    parent_names,
    percent,
    rate,
    red_keys,
    top_rows,
    township_sections,
    when,
)

__all__ = ["TEMPLATE_DIR", "render_html"]

TEMPLATE_DIR = Path(__file__).parent.parent / "templates"  # package data of engine.reports

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


@cache
def _html_template() -> Template:
    # Autoescape on: unit names, descriptions and week labels come from users.
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("weekly.html.j2")


def render_html(report: WeeklyReport) -> str:
    """The page, with the same sections as the Markdown and the trend drawn as SVG."""
    return _html_template().render(
        r=report,
        parents=parent_names(report.rows),
        top=top_rows(report.rows),
        sections=township_sections(report.rows),
        red_keys=red_keys(report),
        red_headers=RED_ITEM_HEADERS,
        light_labels=LIGHT_LABELS,
        weight_labels=WEIGHT_LABELS,
        chart=_chart(report.history),
        rate=rate,
        escalations=escalation_text,
        percent=percent,
        when=when,
    )
