"""Deadlines and ladders computed once per (workflow version, state, entry), not per item.

`escalation.Plans` hands every item a batch moves into a state the same immutable schedule;
these tests hold it to what `escalation.schedule` computes alone, show which parts of the entry
instant a plan depends on, and show a bulk action counting its deadline once for all its items.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rectify.engine.app.bulk import bulk
from rectify.engine.app.service import Service
from rectify.engine.app.views import ItemFilter
from rectify.engine.core.calendar import WorkCalendar
from rectify.engine.core.escalation import Plans, schedule
from rectify.engine.core.loader import load_workflow
from rectify.engine.store import items as store
from rectify.engine.store.db import read

TEXT = """
workflow: plans
title: 期限
roles: {leader: 分管领导}
initial: rectifying
states:
  rectifying:
    label: 整改中
    deadline: 5 workdays
    escalate:
      - {at: -2 workdays, level: 提醒}
      - {at: 0, level: 督办}
      - {at: 3 workdays, level: 约谈}
  urgent:
    label: 急办
    deadline: 8 hours
    escalate:
      - {at: -1 hours, level: 提醒}
  done: {label: 完成, final: true}
transitions:
  - {trigger: hurry, source: rectifying, dest: urgent, roles: [leader]}
  - {trigger: finish, source: [rectifying, urgent], dest: done, roles: [leader]}
"""
SPEC = load_workflow(TEXT)
MORNING = datetime(2025, 9, 29, 1, tzinfo=UTC)  # 09:00 in Shanghai, Monday
EVENING = datetime(2025, 9, 29, 12, tzinfo=UTC)  # 20:00 the same local day


class CountingCalendar(WorkCalendar):
    """The real calendar, counting how often a working-day sum is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.sums = 0

    def add_workdays(self, day: date, n: int) -> tuple[date, bool]:
        self.sums += 1
        return super().add_workdays(day, n)


def test_a_plan_is_what_schedule_computes_and_is_shared_by_the_same_entry():
    """Plans gives exactly schedule's answer (deadline, three steps, provisional flag), the
    same object for a second item entering at the same instant, and counts the working days
    only for the first."""
    calendar = CountingCalendar()
    plans = Plans(calendar)
    first = plans.schedule(SPEC, "rectifying", MORNING)
    counted = calendar.sums
    assert first == schedule(SPEC, "rectifying", MORNING, WorkCalendar())
    assert len(first.steps) == 3 and first.due_at is not None
    assert plans.schedule(SPEC, "rectifying", MORNING) is first
    assert calendar.sums == counted == 3  # the deadline and two workday steps (at: 0 is free)


def test_workday_deadlines_depend_on_the_local_day_hours_on_the_instant():
    """Entries on the same local day share a workday plan; an entry the next day, or an
    hours deadline entered at another instant, gets its own, each equal to schedule's."""
    plans = Plans(WorkCalendar())
    assert plans.schedule(SPEC, "rectifying", EVENING) is plans.schedule(
        SPEC, "rectifying", MORNING)
    next_day = MORNING + timedelta(days=1)
    assert plans.schedule(SPEC, "rectifying", next_day) == schedule(
        SPEC, "rectifying", next_day, WorkCalendar())
    assert plans.schedule(SPEC, "rectifying", next_day).due_at != plans.schedule(
        SPEC, "rectifying", MORNING).due_at
    urgent = [plans.schedule(SPEC, "urgent", at) for at in (MORNING, EVENING)]
    assert [p.due_at for p in urgent] == [MORNING + timedelta(hours=8),
                                          EVENING + timedelta(hours=8)]


def test_an_override_and_another_spec_get_their_own_plans():
    """A deadline given by hand is part of the key, and so is the workflow version: the same
    state name in another spec is planned from that spec."""
    plans = Plans(WorkCalendar())
    given = datetime(2025, 10, 20, 15, 59, 59, tzinfo=UTC)
    overridden = plans.schedule(SPEC, "rectifying", MORNING, given)
    assert overridden.due_at == given
    assert overridden == schedule(SPEC, "rectifying", MORNING, WorkCalendar(), given)
    other = load_workflow(TEXT.replace("deadline: 5 workdays", "deadline: 9 workdays"))
    assert plans.schedule(other, "rectifying", MORNING).due_at != plans.schedule(
        SPEC, "rectifying", MORNING).due_at


def test_bulk_counts_the_deadline_once_for_all_its_items(service: Service) -> None:
    """A bulk `assign` of 12 items in batches of 5 moves them all into `rectifying` at one
    instant: the working days of its deadline and ladder are counted once, not 12 times, and
    every item still gets exactly the deadline and pending steps schedule() gives."""
    ids = [service.new_item("qian", "rectification", "village-a1", assignee="zhang",
                            values={"description": "户籍信息与实际不符"}) for _ in range(12)]
    calendar = CountingCalendar()
    service._calendar = calendar  # the service's calendar, counting (the same data: no file)
    summary = bulk(service, "li", "assign", ItemFilter(workflow="rectification"), batch=5)
    assert summary.fired == 12
    with read(service.engine) as conn:
        spec = service.latest(conn, "rectification").spec
        expected = schedule(spec, "rectifying", service.clock.now(), WorkCalendar())
        for item_id in ids:
            item = store.get_item(conn, item_id)
            assert (item.state, item.due_at) == ("rectifying", expected.due_at)
            pending = [(s["step_index"], s["due_at"]) for s in store.steps_of(conn, item_id)
                       if s["status"] == "pending"]
            assert pending == [(p.index, p.at) for p in expected.steps]
    per_plan = CountingCalendar()
    schedule(spec, "rectifying", service.clock.now(), per_plan)
    assert 0 < calendar.sums == per_plan.sums
