"""Hypothesis drives extensions, decisions, assignments, transfers, advances and sweeps at
random, the clock moving between them, on a real SQLite file (the helpcheck workflow). After
every step: no escalation step was applied twice in one state entry, no pending step is left
from an earlier entry, and `audit verify` passes."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from rectify.engine.app.extensions import decide_extension, request_extension
from rectify.engine.app.integrity import verify
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.app.transfers import transfer
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import Conflict, Refused, UsageError
from rectify.engine.store import items as store
from rectify.engine.store.db import open_engine, read, upgrade

from .conftest import FIXTURES, START

PEOPLE = ["li", "wang", "zhang", "sun", "zhao", "qian", "zhou"]
ENTRY_KINDS = {"create", "transition", "migrate"}
EXPECTED = (Refused, UsageError, Conflict)  # what a random wrong move may meet


class AuthorityMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.home = Path(tempfile.mkdtemp(prefix="rectify-authority-"))
        self.clock = FixedClock(START)
        engine = open_engine(f"sqlite:///{self.home / 'r.db'}")
        upgrade(engine)
        self.service = Service(engine, self.clock, files_dir=self.home / "files")
        self.service.load_org(FIXTURES / "org.yaml")
        self.service.load_workflow(FIXTURES / "helpcheck.yaml")
        self.items: list[int] = []

    @rule(assignee=st.sampled_from(["zhang", "sun", "wang"]))
    def create(self, assignee: str) -> None:
        item = self.service.new_item("li", "helpcheck", "village-a1", assignee=assignee,
                                     values={"description": "手册未更新"})
        self.service.advance(item, "li", "start")
        self.items.append(item)

    @precondition(lambda self: self.items)
    @rule(data=st.data(), days=st.integers(1, 12))
    def extend(self, data: st.DataObject, days: int) -> None:
        item = data.draw(st.sampled_from(self.items))
        actor = data.draw(st.sampled_from(PEOPLE))
        to = (self.clock.now() + timedelta(days=days)).date().isoformat()
        with contextlib.suppress(EXPECTED):
            request_extension(self.service, item, actor, to, "需要更多时间")

    @precondition(lambda self: self.items)
    @rule(data=st.data(), decision=st.sampled_from(["grant", "refuse"]))
    def decide(self, data: st.DataObject, decision: str) -> None:
        item = data.draw(st.sampled_from(self.items))
        with contextlib.suppress(EXPECTED):
            decide_extension(self.service, item, data.draw(st.sampled_from(PEOPLE)), decision)

    @precondition(lambda self: self.items)
    @rule(data=st.data(), due=st.sampled_from([None, "2025-10-20", "2025-12-31"]))
    def assign(self, data: st.DataObject, due: str | None) -> None:
        item = data.draw(st.sampled_from(self.items))
        with contextlib.suppress(EXPECTED):
            self.service.assign(item, data.draw(st.sampled_from(PEOPLE)),
                                data.draw(st.sampled_from(PEOPLE)), due, comment="调整")

    @precondition(lambda self: self.items)
    @rule(data=st.data(), unit=st.sampled_from(["village-a2", "village-b1", "village-a1"]))
    def move(self, data: st.DataObject, unit: str) -> None:
        item = data.draw(st.sampled_from(self.items))
        with contextlib.suppress(EXPECTED):
            transfer(self.service, item, data.draw(st.sampled_from(PEOPLE)), unit, None, "转办")

    @precondition(lambda self: self.items)
    @rule(data=st.data(), trigger=st.sampled_from(["complete", "send_back", "review"]))
    def advance(self, data: st.DataObject, trigger: str) -> None:
        item = data.draw(st.sampled_from(self.items))
        values = {"fix_note": "改"} if trigger == "complete" else (
            {"findings": "好"} if trigger == "review" else {})
        with contextlib.suppress(EXPECTED):
            self.service.advance(item, data.draw(st.sampled_from(PEOPLE)), trigger,
                                 values=values, comment="说明")

    @rule(hours=st.sampled_from([6, 30, 24 * 4, 24 * 9]))
    def tick(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))
        assert sweep(self.service).errors == []

    @invariant()
    def ladders_are_applied_once_and_never_left_behind(self) -> None:
        with read(self.service.engine) as conn:
            for item_id in self.items:
                item = store.get_item(conn, item_id)
                applied: Counter[tuple[int, int]] = Counter()
                entry = 0
                for row in store.history(conn, item_id):
                    if row["kind"] in ENTRY_KINDS:
                        entry += 1
                    elif row["kind"] == "escalation":
                        applied[(entry, row["data"]["step"])] += 1
                assert all(n == 1 for n in applied.values()), applied
                stale = [s for s in store.steps_of(conn, item_id)
                         if s["status"] == "pending" and s["entry_no"] != item.entry_no]
                assert not stale, stale

    @invariant()
    def everything_verifies(self) -> None:
        verdict = verify(self.service)
        assert verdict.ok, verdict.broken

    def teardown(self) -> None:
        self.service.engine.dispose()
        shutil.rmtree(self.home, ignore_errors=True)


AuthorityMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestAuthorityMachine = AuthorityMachine.TestCase
TestAuthorityMachine.__doc__ = ("Random extensions, decisions, assignments, transfers, advances "
                                "and sweeps never apply a step twice, never leave a stale one, "
                                "and always verify.")
