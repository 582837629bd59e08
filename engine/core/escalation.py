"""Deadlines, ladders and lights: pure date arithmetic over a workflow's states.

`schedule` says, for one entry into a state, when the item is due and when each escalation step
comes due; the store keeps those as rows and the sweep applies them. `light` is the traffic light
staff see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from .calendar import Due, WorkCalendar, due_after, shift
from .spec import Duration, StateSpec, WorkflowSpec

GREEN, YELLOW, RED = "green", "yellow", "red"


@dataclass(frozen=True)
class PlannedStep:
    index: int
    at: datetime  # UTC
    past_deadline: bool = False  # at or after the deadline: the item is overdue when it fires


@dataclass(frozen=True)
class Schedule:
    due_at: datetime | None
    provisional: bool
    steps: tuple[PlannedStep, ...]


@dataclass(frozen=True)
class LightRule:
    """When an item turns yellow: `yellow_workdays` before its deadline (if its state has no
    earlier escalation step to go by)."""

    yellow_workdays: int = 2


DEFAULT_LIGHTS = LightRule()


def schedule(
    spec: WorkflowSpec,
    state: str,
    entered_at: datetime,
    calendar: WorkCalendar,
    due_override: datetime | None = None,
) -> Schedule:
    """Deadline and step times for an entry into `state` at `entered_at`."""
    state_spec = spec.states[state]
    if due_override is not None:
        due = Due(due_override, False)
    elif state_spec.deadline is not None:
        due = due_after(entered_at, state_spec.deadline, spec.timezone, calendar)
    else:
        return Schedule(None, False, ())
    return steps_for(spec, state_spec, due, calendar)


class Plans:
    """`schedule` computed once per (workflow version, state, entry, override), not per item.

    Every item a bulk action or a sweep moves enters its new state at the same instant, so
    they all get the same deadline and ladder: a batch asks for it thousands of times. A
    deadline in days or workdays depends only on the local day of the entry, so entries on
    the same day share one plan too (a deadline recompute, a migration). The schedules are
    immutable and shared. Holds one calendar: make a new `Plans` when the calendar changes.
    """

    LIMIT = 4096  # distinct entries kept before starting afresh; a batch needs a handful

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        # keyed by id(spec); the entry keeps the spec alive, so its id cannot be reused
        self._known: dict[tuple[object, ...], tuple[WorkflowSpec, Schedule]] = {}

    def schedule(self, spec: WorkflowSpec, state: str, entered_at: datetime,
                 due_override: datetime | None = None) -> Schedule:
        key = (id(spec), state, _entry_key(spec, state, entered_at, due_override), due_override)
        found = self._known.get(key)
        if found is not None and found[0] is spec:
            return found[1]
        plan = schedule(spec, state, entered_at, self.calendar, due_override)
        if len(self._known) >= self.LIMIT:
            self._known.clear()
        self._known[key] = (spec, plan)
        return plan


def _entry_key(spec: WorkflowSpec, state: str, entered_at: datetime,
               due_override: datetime | None) -> object:
    """What of the entry instant the plan depends on: nothing with an override or no
    deadline, the local day for a deadline in days or workdays, else the instant."""
    deadline = spec.states[state].deadline
    if due_override is not None or deadline is None:
        return None
    if deadline.unit == "hours":
        return entered_at
    return entered_at.astimezone(ZoneInfo(spec.timezone)).date()


def steps_for(spec: WorkflowSpec, state: StateSpec, due: Due, calendar: WorkCalendar) -> Schedule:
    provisional = due.provisional
    planned = []
    for step in state.escalate:
        at = shift(due.at, step.at, spec.timezone, calendar)
        provisional = provisional or at.provisional
        planned.append(PlannedStep(step.index, at.at, step.at.amount >= 0))
    return Schedule(due.at, provisional, tuple(planned))


def light(
    spec: WorkflowSpec,
    state: str,
    due_at: datetime | None,
    now: datetime,
    calendar: WorkCalendar,
    rule: LightRule = DEFAULT_LIGHTS,
) -> str | None:
    """green / yellow / red, or None for items without a deadline or in a final state."""
    state_spec = spec.states.get(state)
    if due_at is None or state_spec is None or state_spec.final:
        return None
    if now > due_at:
        return RED
    if now >= _yellow_from(spec, state_spec, due_at, calendar, rule):
        return YELLOW
    return GREEN


def _yellow_from(
    spec: WorkflowSpec, state: StateSpec, due_at: datetime, calendar: WorkCalendar,
    rule: LightRule,
) -> datetime:
    early = [s.at for s in state.escalate if s.at.amount < 0]
    offset = early[0] if early else Duration(-rule.yellow_workdays, "workdays")
    return shift(due_at, offset, spec.timezone, calendar).at
