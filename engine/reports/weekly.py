"""`rectify report weekly`: the weekly report's figures, read from the database.

Ranks the units directly below the report's unit (the townships, for the whole county) and,
within each, the units below them (villages), with the figures and score of reports/figures.py;
lists the first red items (as of the week's end for a past week) and counts the rest; and counts
open vs closed items for each of the last weeks, for the chart. Every figure is a SQL aggregate:
the report reads no more items than it lists. `report_render` lays the result out as md, html,
xlsx or csv.

Reports never show a field marked `private: true` (an item's summary is its 问题描述, or its
first non-private fields); a public report (公开版) also leaves out who is responsible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from ..app.service import Service
from ..core.errors import NotFound
from ..core.escalation import DEFAULT_LIGHTS, LightRule
from ..core.fields import display
from ..core.masking import posted
from ..core.spec import WorkflowSpec
from ..settings import DEFAULT_COLORS, ReportSettings
from ..store import figures as counted
from ..store import repo
from ..store.db import Connection, read
from ..store.figures import Scope
from .figures import Counts, count_units, ladders, ranks, score, townships, unit_light
from .figures import weights_with_defaults as full_weights
from .render import UnitRow, WeeklyReport, WeekPoint
from .week import Week, issue_label, period_label

DEFAULT_TZ = "Asia/Shanghai"
HISTORY_WEEKS = 8
SUMMARY_FIELDS = 2  # fields shown for an item whose workflow has no 问题描述


def build_weekly_report(service: Service, *, week: str | None = None, unit: str | None = None,
                        workflow: str | None = None, weights: Mapping[str, float] | None = None,
                        public: bool = False, history_weeks: int = HISTORY_WEEKS,
                        rule: LightRule = DEFAULT_LIGHTS, options: ReportSettings | None = None,
                        colors: Mapping[str, str] | None = None) -> WeeklyReport:
    options = options or ReportSettings()
    weights = options.weights if weights is None else weights
    now = service.clock.now()
    with read(service.engine) as conn:
        spec = service.latest(conn, workflow).spec if workflow else None
        tz = spec.timezone if spec else DEFAULT_TZ
        the_week = Week.parse(week, tz) if week else Week.containing(now, tz)
        units = repo.units(conn)
        scope_unit = _scope(units, unit)
        scope = Scope(scope_unit.path if scope_unit else None, workflow)
        known = ladders(service, conn)
        counts = count_units(service, conn, the_week, now, scope, tz, rule, known)
        rows = _unit_rows(units, scope_unit, counts, weights)
        red = _red_items(service, conn, counts.lights, public, options.red_limit)
        weeks = [the_week.shift(-back, tz) for back in range(history_weeks - 1, -1, -1)]
        points = counted.open_and_closed(conn, scope, [(w.start, w.end) for w in weeks])
        history = [WeekPoint(w.label, *p) for w, p in zip(weeks, points, strict=True)]
    from ..app.integrity import anchor_digest_now  # the foot pins every chain as of now

    anchor = anchor_digest_now(service)
    place = scope_unit.name if scope_unit else next(
        (u.name for u in units if u.parent_id is None), "")
    return WeeklyReport(
        title=f"{place}{spec.title if spec else '问题整改'}周报", week=the_week.label,
        generated_at=now.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M"), rows=rows,
        red_items=red, history=history, weights=full_weights(weights), public=public,
        anchor=anchor, period=period_label(the_week, tz), office=options.office,
        issue=issue_label(options.issue_number, the_week, tz, options.first_week),
        colors=dict(colors or DEFAULT_COLORS), red_total=counts.total("overdue"))


def _scope(units: Sequence[repo.UnitRow], unit: str | None) -> repo.UnitRow | None:
    """The report's unit, by id (front ends turn names into ids with `app.names`); None:
    the whole org."""
    if unit is None:
        roots = [u for u in units if u.parent_id is None]
        return roots[0] if len(roots) == 1 else None
    found = next((u for u in units if u.id == unit), None)
    if found is None:
        raise NotFound("unit", unit)
    return found


def _unit_rows(units: Sequence[repo.UnitRow], scope: repo.UnitRow | None, counts: Counts,
               weights: Mapping[str, float]) -> list[UnitRow]:
    """Units below the scope ranked among themselves, each followed by its own units ranked."""
    if scope is None:
        top = townships(units)
    else:
        top = [u for u in units if u.parent_id == scope.id] or [scope]
    out: list[UnitRow] = []
    for town in _ranked(top, None, counts, weights):
        out.append(town)
        children = [u for u in units if u.parent_id == town.unit and u is not scope]
        out += _ranked(children, town.unit, counts, weights)
    return out


def _ranked(units: Sequence[repo.UnitRow], parent: str | None, counts: Counts,
            weights: Mapping[str, float]) -> list[UnitRow]:
    figures = []
    for u in units:
        metrics, levels = counts.rollup(u.id)
        figures.append((u, metrics, levels, score(metrics, levels, weights)))
    figures.sort(key=lambda f: (-f[3], f[0].path))
    places = ranks([f[3] for f in figures])
    return [UnitRow(rank, u.id, u.name, parent, m["found"], m["closed"], m["on_time"],
                    m["overdue"], m["rejected"], lv, s, m["extended"], m["urged"],
                    unit_light(m))
            for rank, (u, m, lv, s) in zip(places, figures, strict=True)]


def _red_items(service: Service, conn: Connection, lights: counted.Lights, public: bool,
               limit: int) -> list[dict[str, Any]]:
    """The first `limit` red items as of the report's instant, the longest overdue first."""
    records = lights.red(limit)
    unit_names = {u.id: u.name for u in repo.units(conn)}
    people = repo.people_by(conn, {r.assignee_id for r, _ in records if r.assignee_id})
    out = []
    for r, due in records:
        spec = service.compiled(conn, r.workflow_version_id).spec
        person = people.get(r.assignee_id or "")
        out.append({
            "id": r.id, "unit_name": unit_names.get(r.unit_id, r.unit_id),
            "state_label": spec.state_label(r.state),
            "due_at": due.astimezone(ZoneInfo(spec.timezone)) if due else None,
            "description": summary(spec, posted(spec, r.fields) if public else r.fields),
            **({} if public else {"assignee_name": person.name if person else r.assignee_id}),
        })
    return out


def summary(spec: WorkflowSpec, values: Mapping[str, Any]) -> str:
    """What an item is about, from non-private fields only: 问题描述, else its first fields."""
    description = spec.fields.get("description")
    if description is not None and not description.private:
        return display(values.get("description"))
    shown = [f"{f.label}：{display(values[n])}" for n, f in spec.fields.items()
             if not f.private and f.type != "files" and values.get(n) not in (None, "", [])]
    return "；".join(shown[:SUMMARY_FIELDS])
