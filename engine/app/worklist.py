"""The staff pages' two lists: a person's open items (待办) and a unit's board (红黄绿灯).

`my_items`: open items assigned to the person, and open items waiting for a role they hold
(something they may fire now, by the same `allowed_triggers` that `item show` uses). A trigger
that an escalation ladder fires (`fire: hold_accountable`) is the system's backstop, not a
task: a leader may fire it by hand, but an item does not wait for them because of it (else
every open item of a township would sit on its leader's list).
`unit_board`: per child unit, open items by light, items without a deadline, and items closed
this week. Lights are the engine's own (`escalation.light`), computed once per deadline
boundary, not once per item: within one (workflow version, state) an item is yellow exactly
when its deadline lies between now and a boundary that a binary search finds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..core.calendar import WorkCalendar, shift
from ..core.escalation import DEFAULT_LIGHTS, GREEN, RED, YELLOW, LightRule, light
from ..core.machine import Actor
from ..core.spec import Duration, WorkflowSpec
from ..store import items as store
from ..store import repo, worklist
from ..store.db import Connection, read
from .countersign import with_signatures
from .records import _view
from .service import Compiled, Service

DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class WorkItem:
    """One line of a list: what a clerk needs to pick the item out and see how urgent it is."""

    id: int
    workflow_title: str
    summary: str
    unit_name: str
    state_label: str
    light: str | None
    due_at: datetime | None
    mine: bool  # assigned to the person
    actions: tuple[str, ...] = ()  # labels of what they may do now
    waits: bool = False  # something they may do now is a task, not only a ladder's backstop


@dataclass(frozen=True)
class MyItems:
    assigned: list[WorkItem]
    waiting: list[WorkItem]
    more: bool  # the list was cut at its limit
    units: list[worklist.Grant]  # where the person holds roles: the boards they may open


@dataclass
class BoardLine:
    unit_id: str
    name: str
    has_children: bool
    lights: Counter[str] = field(default_factory=Counter)  # red, yellow, green, none
    closed_week: int = 0

    @property
    def open(self) -> int:
        return sum(self.lights.values())


@dataclass(frozen=True)
class Board:
    unit: repo.UnitRow
    trail: list[repo.UnitRow]  # the units above, top first, that the person may open
    lines: list[BoardLine]  # one per child unit, then the unit itself when it holds items
    total: BoardLine
    items: list[WorkItem]  # a unit without children: its open items
    week_start: datetime


def my_items(service: Service, person_id: str, *, rule: LightRule = DEFAULT_LIGHTS,
             limit: int = 200) -> MyItems:
    now = service.clock.now()
    with read(service.engine) as conn:
        grants = worklist.grants(conn, person_id)
        person = repo.person(conn, person_id)
        specs = _all_compiled(service, conn)
        roles = {g.role for g in grants}
        states = _states_for(specs.values(), roles)
        records = worklist.candidate_items(conn, person_id, [g.unit_path for g in grants],
                                           states, limit + 1)
        directory = repo.read_directory(conn, units={r.unit_id for r in records[:limit]})
        lines = [_line(service, conn, specs, directory, grants, person, r, now, rule)
                 for r in records[:limit]]
    assigned = [w for w in lines if w is not None and w.mine]
    waiting = [w for w in lines if w is not None and not w.mine and w.waits]
    return MyItems(assigned, waiting, len(records) > limit, grants)


def _all_compiled(service: Service, conn: Connection) -> dict[int, Compiled]:
    """Every stored workflow version, compiled (each once per process)."""
    return {i: service.compiled(conn, i) for i in worklist.version_ids(conn)}


def _states_for(compiled: Iterable[Compiled], roles: set[str]) -> dict[str, list[str]]:
    """Per workflow, the states with a transition one of `roles` (or anyone) may fire."""
    states: dict[str, set[str]] = {}
    for c in compiled:
        spec = c.spec
        backstops = ladder_triggers(spec)
        for t in spec.transitions:
            # `actor: assignee` steps wait for one person, found by the assignee half of the
            # query; listing every item of the village for them would only be filtered out.
            if t.trigger not in backstops and t.actor != "assignee" and \
                    (not t.roles or roles & set(t.roles)):
                states.setdefault(spec.name, set()).update(
                    s for s in t.sources if not spec.states[s].final)
    return {w: sorted(s) for w, s in states.items()}


def _line(service: Service, conn: Connection, specs: dict[int, Compiled],
          directory: repo.Directory,
          grants: Sequence[worklist.Grant], person: repo.PersonRow | None,
          item: store.ItemRecord, now: datetime, rule: LightRule) -> WorkItem | None:
    compiled = specs.get(item.workflow_version_id)
    if compiled is None or person is None:
        return None
    spec = compiled.spec
    roles = frozenset(g.role for g in grants if item.unit_path.startswith(g.unit_path))
    unit_name = directory.unit(item.unit_id).name
    actor = Actor(person.id, roles, person.name)
    # A 会签 the person has signed is not offered again (read only in countersigned states).
    triggers = compiled.graph.allowed_triggers(
        with_signatures(conn, spec, item, _view(item, unit_name)), actor) \
        if person.active else []
    return WorkItem(
        id=item.id, workflow_title=spec.title, summary=summary(spec, item),
        unit_name=unit_name, state_label=spec.state_label(item.state),
        light=light(spec, item.state, item.due_at, now, service.calendar(), rule),
        due_at=item.due_at, mine=item.assignee_id == person.id,
        actions=tuple(trigger_label(spec, t) for t in triggers),
        waits=any(t not in ladder_triggers(spec) for t in triggers))


def ladder_triggers(spec: WorkflowSpec) -> frozenset[str]:
    """Triggers some escalation step fires: the ladder's, whoever else may fire them."""
    return frozenset(s.fire for st in spec.states.values() for s in st.escalate if s.fire)


def summary(spec: WorkflowSpec, item: store.ItemRecord) -> str:
    """A line that says what the item is about: its headline field (问题描述, else the first
    public text field), else its subject."""
    shown = item.fields.get(spec.headline) if spec.headline else None
    text = str(shown or item.subject or spec.title)
    return text if len(text) <= 60 else text[:59] + "…"


def trigger_label(spec: WorkflowSpec, trigger: str) -> str:
    for t in spec.transitions:
        if t.trigger == trigger and t.label:
            return t.label
    return trigger


def may_open_unit(grants: Sequence[worklist.Grant], unit_path: str) -> bool:
    """A board is open to people holding a role at the unit or above (as items are)."""
    return any(unit_path.startswith(g.unit_path) for g in grants)


def unit_board(service: Service, unit_id: str, person_id: str, *,
               rule: LightRule = DEFAULT_LIGHTS) -> Board | None:
    """The board of `unit_id`, or None when the person may not see it (the page says 404)."""
    now = service.clock.now()
    with read(service.engine) as conn:
        grants = worklist.grants(conn, person_id)
        unit = repo.unit(conn, unit_id)
        if not may_open_unit(grants, unit.path):
            return None
        specs = _all_compiled(service, conn)
        children = worklist.child_units(conn, unit.id)
        week_start = _week_start(now, _timezone(specs))
        figures = worklist.unit_figures(conn, unit.path, now, week_start,
                                        yellow_bounds(service, specs.values(), now, rule))
        trail = [repo.unit(conn, u) for u in _above(unit.path)]
        has_children = worklist.units_with_children(conn, [c[0] for c in children])
        items: list[WorkItem] = []
        if not children:
            items = _unit_items(service, conn, specs, unit, person_id, grants, now, rule)
    lines = _board_lines(unit, children, has_children, figures)
    total = BoardLine(unit.id, "合计", False)
    for line in lines:
        total.lights.update(line.lights)
        total.closed_week += line.closed_week
    visible_trail = [u for u in trail if may_open_unit(grants, u.path)]
    return Board(unit, visible_trail, lines, total, items, week_start)


def _board_lines(unit: repo.UnitRow, children: list[tuple[str, str, str]],
                 has_children: set[str], figures: list[worklist.UnitFigures]) -> list[BoardLine]:
    lines = {cid: BoardLine(cid, name, cid in has_children) for cid, name, _ in children}
    own = BoardLine(unit.id, f"{unit.name}（本级）", False)
    for f in figures:
        line = lines.get(_child_of(unit.path, f.unit_path) or "", own)
        line.lights.update({RED: f.red, YELLOW: f.yellow, GREEN: f.green,
                            "none": f.no_deadline})
        line.closed_week += f.closed
    ordered = list(lines.values())
    return [*ordered, own] if own.open or own.closed_week else ordered


HORIZON = timedelta(days=400)  # no ladder warns this long before a deadline
TICK = timedelta(microseconds=1)


def yellow_bounds(service: Service, compiled: Iterable[Compiled], now: datetime,
                  rule: LightRule) -> dict[tuple[int, str], datetime]:
    """For each (workflow version, open state), the latest deadline that is yellow now: an
    item there is yellow exactly when its deadline lies in [now, bound]. Decided by the
    engine's own `light`, so the board and the item page never disagree."""
    calendar = service.calendar()
    bounds = {}
    for c in compiled:
        for name, state in c.spec.states.items():
            if not state.final:
                bound = _yellow_until(c.spec, name, now, calendar, rule)
                if bound is not None:
                    bounds[(c.version.id, name)] = bound
    return bounds


def _yellow_until(spec: WorkflowSpec, name: str, now: datetime, calendar: WorkCalendar,
                  rule: LightRule) -> datetime | None:
    """The flip from yellow to green. The guess is `now` moved forward by the warning's lead
    (the state's first early step, else the rule's workdays), checked with `light` on both
    sides of it; when the calendar makes the guess wrong (now on a holiday), the flip is
    bisected instead (`light` only grows greener as a deadline moves later)."""
    def yellow(due: datetime) -> bool:
        return light(spec, name, due, now, calendar, rule) == YELLOW

    if not yellow(now):
        return None
    state = spec.states[name]
    early = [s.at for s in state.escalate if s.at.amount < 0]
    warning = early[0] if early else Duration(-rule.yellow_workdays, "workdays")
    guess = shift(now, Duration(-warning.amount, warning.unit), spec.timezone, calendar).at
    if yellow(guess) and not yellow(guess + TICK):
        return guess
    lo, hi = 0, HORIZON // TICK
    if yellow(now + hi * TICK):
        return now + hi * TICK
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if yellow(now + mid * TICK) else (lo, mid)
    return now + lo * TICK


def _unit_items(service: Service, conn: Connection, specs: dict[int, Compiled],
                unit: repo.UnitRow, person_id: str, grants: Sequence[worklist.Grant],
                now: datetime, rule: LightRule) -> list[WorkItem]:
    records = worklist.open_items_at(conn, unit.id, 100)
    directory = repo.read_directory(conn, people=[person_id],
                                    units={r.unit_id for r in records})
    person = directory.person(person_id)
    lines = [_line(service, conn, specs, directory, grants, person, r, now, rule) for r in records]
    return [w for w in lines if w is not None]


def _child_of(path: str, item_path: str) -> str | None:
    """The id of the child of the unit at `path` that `item_path` lies in (None: the unit)."""
    rest = item_path[len(path):].strip("/")
    return rest.split("/", 1)[0] if rest else None


def _above(path: str) -> list[str]:
    parts = [p for p in path.strip("/").split("/") if p]
    return parts[:-1]


def _timezone(specs: dict[int, Compiled]) -> str:
    for c in specs.values():
        return c.spec.timezone
    return DEFAULT_TZ


def _week_start(now: datetime, tz: str) -> datetime:
    """Monday 00:00 of this week in the workflows' timezone, as the weekly report counts."""
    local = now.astimezone(ZoneInfo(tz)).date()
    monday = local - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), ZoneInfo(tz)).astimezone(UTC)
