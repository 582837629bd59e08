"""`rectify ledger export`: the ledger as offices print it, streamed from the database.

One row per item: 编号, 乡镇, 村, 对象, the workflow's fields by label, 责任人, 交办日期,
整改时限, 状态, 亮灯, 验收人, 销号日期. An xlsx has one sheet per workflow (only the chosen one
with --workflow), each with the columns of its own workflow and laid out for A4 paper under a
title (unit, 台账 name, 填报单位, date); a csv is one table (with a 流程 column when it holds
several workflows). Items are read in keyset batches of 2,000, with the batch's closers and
hand-overs in one query each, and handed to `ledgers.write_sheets` as generators, so memory
stays flat however large the ledger. Units and people are written by name (or the shortest
unambiguous `上级/名称`), so an exported file imports again into a database with the same org.

Fields marked `private: true` are left out unless `include_private` is asked for by someone
holding one of the workflow's roles at the exported unit or above. A public export
(`public=True`, 公开版) also leaves out the names of the people responsible (责任人, 验收人).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ..core.errors import NotFound, Refusal, Refused, UsageError
from ..core.escalation import DEFAULT_LIGHTS, LightRule
from ..core.i18n import _
from ..core.names import Named, PersonIndex, UnitIndex
from ..core.spec import WorkflowSpec
from ..ledgers import LedgerSheet, write_sheets
from ..settings import DEFAULT_COLORS
from ..store import reads, repo
from ..store.db import Connection, read
from ..store.reads import ItemFilter
from .ledger_rows import ExportRows, Layout
from .service import Service

Progress = Callable[[int, int], None]  # (rows written, rows in all)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    columns: list[str]  # the first sheet's headers
    sheets: list[dict[str, Any]]  # {"name", "rows", "columns"} per sheet


@dataclass(frozen=True)
class ExportOptions:
    public: bool = False
    include_private: bool = False
    actor: str | None = None  # who asks: needed for include_private
    office: str | None = None  # 填报单位 (default: the exported unit's name)
    force: bool = False
    rule: LightRule = DEFAULT_LIGHTS
    colors: Mapping[str, str] | None = None  # `[lights] colors`; None: the defaults


def export_ledger(service: Service, path: Path, fmt: Literal["xlsx", "csv"], *,
                  filters: ItemFilter | None = None, options: ExportOptions | None = None,
                  progress: Progress | None = None) -> ExportResult:
    path, filters, opts = Path(path), filters or ItemFilter(), options or ExportOptions()
    if path.exists() and not opts.force:
        raise UsageError(_("{path} already exists; use --force to overwrite it").format(
                             path=path))
    if opts.public and opts.include_private:
        raise UsageError(_("--public and --include-private contradict each other"))
    now = service.clock.now()
    with read(service.engine) as conn:
        specs = _specs(service, conn, filters)
        units = UnitIndex(Named(u.id, u.name, u.path) for u in repo.units(conn))
        people = PersonIndex(Named(p.id, p.name, active=p.active) for p in repo.people(conn))
        filters = _by_unit_id(filters, units)
        scope = _scope(units, filters.unit)
        if opts.include_private:
            _check_private(service, conn, specs, opts.actor, scope)
        total = reads.count_items(conn, filters, now) if progress else 0
    source = ExportRows(service, units, people, now, opts.rule,
                        _Ticker(progress, total) if progress else None)
    groups = [specs] if fmt == "csv" else [[s] for s in specs] or [[]]
    sheets = []
    for group in groups:
        layout = Layout(group, public=opts.public, private=opts.include_private)
        narrowed = replace(filters, workflow=group[0].name) if len(group) == 1 else filters
        sheets.append(_sheet(layout, source.rows(narrowed, layout), group, scope, opts, now))
    try:
        counts = write_sheets(sheets, path, fmt, force=opts.force)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(_("cannot write {path}: {reason}").format(
                             path=path, reason=exc.strerror or exc)) from exc
    described: list[dict[str, Any]] = [
        {"name": s.name, "rows": n, "columns": [h for _, h in s.columns]}
        for s, n in zip(sheets, counts, strict=True)]
    return ExportResult(path, sum(counts), [h for _, h in sheets[0].columns], described)


def _sheet(layout: Layout, rows: Iterator[dict[str, Any]], group: Sequence[WorkflowSpec],
           scope: Named | None, opts: ExportOptions, now: datetime) -> LedgerSheet:
    """A sheet with its title: 某县问题整改闭环台账, 填报单位 and the day it was made."""
    name = group[0].title if len(group) == 1 else "台账"
    place = scope.name if scope else ""
    tz = ZoneInfo(group[0].timezone) if group else ZoneInfo("Asia/Shanghai")
    day = now.astimezone(tz).date()
    office = opts.office or place
    subtitle = (f"填报单位：{office}　　　　" if office else "") + \
        f"填报日期：{day.year}年{day.month}月{day.day}日"
    title = f"{place}{name}台账" + ("（公开版）" if opts.public else "")
    return LedgerSheet(layout.columns, rows, name=name, title=title, subtitle=subtitle,
                       light_column="light", status_choices=layout.states,
                       light_colors=opts.colors or DEFAULT_COLORS)


class _Ticker:
    """Reports progress every few hundred rows, and once at the end."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, rows: int) -> None:
        self.done += rows
        self.progress(self.done, self.total)


def _by_unit_id(filters: ItemFilter, units: UnitIndex) -> ItemFilter:
    """The filter's unit is an id (front ends turn names into ids with `app.names`)."""
    if filters.unit and filters.unit not in units.by_id:
        raise NotFound("unit", filters.unit)
    return filters


def _scope(units: UnitIndex, unit_id: str | None) -> Named | None:
    """The unit the export covers: --unit, else the top of the tree (when there is one)."""
    if unit_id:
        return units.by_id[unit_id]
    roots = [u for u in units.by_id.values() if u.path.count("/") <= 2]
    return roots[0] if len(roots) == 1 else None


def _check_private(service: Service, conn: Connection, specs: Sequence[WorkflowSpec],
                   actor_id: str | None, scope: Named | None) -> None:
    """Private fields go to someone holding one of each workflow's roles over all of it."""
    path = scope.path if scope else "/"
    actor = service.actor(conn, actor_id, path)
    where = scope.name if scope else _("the top of the tree")
    for spec in specs:
        if not actor.roles & set(spec.roles):
            labels = "、".join(f.label for f in spec.fields.values() if f.private) or "-"
            raise Refused(_("{person} holds no role of {workflow} at {unit} or above, so may "
                            "not export its private fields ({fields})").format(
                                person=actor.name, workflow=spec.title, unit=where,
                                fields=labels), reason=Refusal.ROLE)


def _specs(service: Service, conn: Connection, filters: ItemFilter) -> list[WorkflowSpec]:
    """The workflows whose items are exported: the one asked for, else every one with items."""
    if filters.workflow:
        return [service.latest(conn, filters.workflow).spec]
    by_name: dict[str, WorkflowSpec] = {}
    for version_id in reads.versions_with_items(conn):
        spec = service.compiled(conn, version_id).spec
        by_name[spec.name] = spec  # the newest version's fields and labels win
    return [by_name[n] for n in sorted(by_name)]
