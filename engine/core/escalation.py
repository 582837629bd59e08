"""Deadlines, ladders and lights: pure date arithmetic over a workflow's states.

`schedule` says, for one entry into a state, when the item is due and when each escalation step
comes due; the store keeps those as rows and the sweep applies them. `light` is the traffic light
staff see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
