"""Hypothesis drives the engine at random over the bundled workflows on a real SQLite file:
people create items and fire triggers with good and bad fields, the clock moves and sweeps run.
After every step the database must still tell a story the workflow allows."""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.core.audit import verify_chain
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import InvalidInput, NotFound, Refused, UsageError
from rectify.engine.core.fields import is_empty
from rectify.engine.core.guard import GuardError, evaluate
from rectify.engine.core.spec import TransitionSpec, WorkflowSpec
from rectify.engine.store import items as store
from rectify.engine.store.db import open_engine, read, upgrade
from rectify.workflows import bundled_files
from sqlalchemy import select

from .conftest import FIXTURES, START

SYSTEM = "system"
NO_SUCH_ITEM = 999_999

# People for the identification and exit workflows, beside the sample org's rectification staff.
EXTRA_PEOPLE: list[dict[str, Any]] = [
    {"id": "cadre", "name": "村干部", "roles": {"village_cadre": "village-a1"}},
    {"id": "secretary", "name": "村书记",
     "roles": {"party_secretary": "village-a1", "village_cadre": "village-a2"}},
    {"id": "team", "name": "工作队员", "roles": {"work_team": ["village-a1", "village-b1"]}},
    {"id": "reviewer", "name": "乡镇审核员", "roles": {"township_reviewer": "town-a"}},
    {"id": "approver", "name": "县审批员",
     "roles": {"county_approver": "county", "township_reviewer": "town-b"}},
    {"id": "multi", "name": "身兼数职",
     "roles": {"county_approver": "county", "township_reviewer": "town-a",
               "village_cadre": "village-a1", "work_team": "village-a1"}},
]
UNITS = ["village-a1"] * 5 + ["village-a2", "village-b1", "town-a"]


def _org() -> dict[str, Any]:
    org = yaml.safe_load((FIXTURES / "org.yaml").read_text("utf-8"))
    org["people"] += EXTRA_PEOPLE
    return org


ORG = _org()
PEOPLE = [p["id"] for p in ORG["people"]]


def _unit_paths(units: list[dict[str, Any]], above: tuple[str, ...] = ()) -> dict[str, tuple]:
    out: dict[str, tuple[str, ...]] = {}
    for unit in units:
        chain = (*above, unit["id"])
        out[unit["id"]] = chain
        out.update(_unit_paths(unit.get("children", []), chain))
    return out


ANCESTORS = _unit_paths(ORG["units"])  # unit -> (root, ..., unit)


def roles_at(person: str, unit: str) -> set[str]:
    """The roles `person` holds at `unit` or above it, straight from the org file."""
    found = next((p for p in ORG["people"] if p["id"] == person), None)
    if found is None:
        return set()
    held = set()
    for role, where in found.get("roles", {}).items():
        units = where if isinstance(where, list) else [where]
        if set(units) & set(ANCESTORS[unit]):
            held.add(role)
    return held


_TEMPLATE: tuple[Path, tuple[str, ...]] | None = None


def template() -> tuple[Path, tuple[str, ...]]:
    """A migrated database with the org and every bundled workflow that loads, made once."""
    global _TEMPLATE
    if _TEMPLATE is None:
        home = Path(tempfile.mkdtemp(prefix="rectify-stateful-template-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        org = home / "org.yaml"
        org.write_text(yaml.safe_dump(ORG, allow_unicode=True), "utf-8")
        engine = open_engine(f"sqlite:///{home / 'r.db'}")
        upgrade(engine)
        service = Service(engine, FixedClock(START), files_dir=home / "files")
        service.load_org(org)
        loaded = []
        for path in bundled_files():
            try:
                loaded.append(service.load_workflow(path)[0].name)
            except InvalidInput:
                continue
        engine.dispose()
        assert "rectification" in loaded
        _TEMPLATE = (home / "r.db", tuple(loaded))
    return _TEMPLATE


# --- field values ---------------------------------------------------------------------------------

def valid_value(spec: WorkflowSpec, name: str) -> st.SearchStrategy[str]:
    field = spec.fields[name]
    return {
        "text": st.sampled_from(["已整改", "入户核实属实", "x"]),
        "number": st.sampled_from(["0", "1", "2", "3", "3", "4", "5"]),
        "date": st.sampled_from(["2025-10-01", "2026-01-15"]),
        "bool": st.sampled_from(["是", "否", "true"]),
        "choice": st.sampled_from(list(field.choices) or ["?"]),
        "files": st.just(""),  # files come with --attach only
    }[field.type]


def any_value(spec: WorkflowSpec, name: str) -> st.SearchStrategy[str]:
    bad = {"text": st.text(max_size=4), "number": st.sampled_from(["abc", "-1", "1.5", "1e3"]),
           "date": st.sampled_from(["2025-13-01", "明天"]),
           "bool": st.sampled_from(["也许", "2"]), "choice": st.sampled_from(["不存在", " "]),
           "files": st.sampled_from(["photo.jpg", "../x"])}[spec.fields[name].type]
    return st.one_of(valid_value(spec, name), bad, st.just(""))


@st.composite
def field_values(draw: st.DrawFn, spec: WorkflowSpec, wanted: tuple[str, ...],
                 fill: float = 0.5) -> dict[str, str]:
    """Random fields; with chance `fill`, every field in `wanted` with a valid value."""
    out: dict[str, str] = {}
    if wanted and draw(st.integers(0, 9)) < fill * 10:
        for name in wanted:
            out[name] = draw(valid_value(spec, name))
    for name in draw(st.lists(st.sampled_from(sorted(spec.fields)), max_size=2, unique=True)):
        out[name] = draw(any_value(spec, name))
    if draw(st.integers(0, 20)) == 20:
        out["no_such_field"] = "1"
    return out


# --- replaying the history: what the workflow allowed at each row ---------------------------------

def edges(spec: WorkflowSpec) -> set[tuple[str, str, str]]:
    return {(s, t.dest, t.trigger) for t in spec.transitions for s in t.sources}


class Replay:
    """An item's state rebuilt row by row from its history alone."""

    def __init__(self, spec: WorkflowSpec, unit: str) -> None:
        self.spec, self.unit = spec, unit
        self.state: str | None = None
        self.entry = 0
        self.fields: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.cycle: dict[str, list[str]] = {}
        self.assignee: str | None = None

    def allowed(self, t: TransitionSpec, actor: str, fields: Mapping[str, Any],
                comment: str | None) -> bool:
        """Whether the engine's rules let `actor` take edge `t` now (as specified, not as coded)."""
        person = actor != SYSTEM
        if person and t.roles and not roles_at(actor, self.unit) & set(t.roles):
            return False
        if person and t.actor == "assignee" and actor != self.assignee:
            return False
        if person and t.not_actor_of and actor in self.cycle.get(t.not_actor_of, []):
            return False
        if any(is_empty(fields.get(name)) for name in t.requires):
            return False
        if person and t.comment_required and not (comment or "").strip():
            return False
        if t.when:
            try:
                return evaluate(t.when, {n: fields.get(n) for n in self.spec.fields},
                                self.counts)
            except GuardError:
                return False
        return True

    def transition(self, row: Mapping[str, Any]) -> None:
        spec, key = self.spec, (row["source"], row["dest"], row["trigger"])
        assert key in edges(spec), f"undeclared edge {key}"
        assert row["source"] == self.state
        after = {**self.fields, **{k: new for k, (_, new) in row["data"]["changes"].items()}}
        candidates = [t for t in spec.transitions_from(self.state) if t.trigger == row["trigger"]]
        chosen = next((t for t in candidates if t.dest == row["dest"]
                       and self.allowed(t, row["actor"], after, row["comment"])), None)
        assert chosen is not None, f"{row['actor']} took {key} against the workflow's rules"
        for earlier in candidates[:candidates.index(chosen)]:
            assert not self.allowed(earlier, row["actor"], after, row["comment"]), \
                f"{row['trigger']} took {chosen.dest}, but the first allowed edge went elsewhere"
        self.fields = after
        self.counts[chosen.trigger] = self.counts.get(chosen.trigger, 0) + 1
        if row["dest"] == spec.initial:
            self.cycle = {}
        self.cycle.setdefault(chosen.trigger, [])
        if row["actor"] not in self.cycle[chosen.trigger]:
            self.cycle[chosen.trigger].append(row["actor"])
        self.state, self.entry = row["dest"], self.entry + 1


def set_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Fields with a value (an empty field may be absent or None)."""
    return {k: v for k, v in values.items() if v is not None}


def planned(row: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(row["data"]["planned_at"])


class EngineMachine(RuleBasedStateMachine):
    """Random people, triggers, fields and clock moves against one fresh SQLite database."""

    def __init__(self) -> None:
        super().__init__()
        db, self.workflows = template()
        self.home = Path(tempfile.mkdtemp(prefix="rectify-stateful-"))
        for part in db.parent.glob(db.name + "*"):  # the file and any WAL beside it
            shutil.copy(part, self.home / part.name)
        self.clock = FixedClock(START)
        self.service = Service(open_engine(f"sqlite:///{self.home / 'r.db'}"), self.clock,
                               files_dir=self.home / "files")
        self.items: list[int] = []
        self.specs: dict[int, WorkflowSpec] = {}  # workflow version id -> spec
        self.files = itertools.count()

    def spec_of(self, item: store.ItemRecord) -> WorkflowSpec:
        if item.workflow_version_id not in self.specs:
            with read(self.service.engine) as conn:
                compiled = self.service.compiled(conn, item.workflow_version_id)
            self.specs[item.workflow_version_id] = compiled.spec
        return self.specs[item.workflow_version_id]

    def latest_spec(self, workflow: str) -> WorkflowSpec:
        with read(self.service.engine) as conn:
            return self.service.latest(conn, workflow).spec

    def record(self, item_id: int) -> store.ItemRecord:
        with read(self.service.engine) as conn:
            return store.get_item(conn, item_id)

    def snapshot(self, item_id: int) -> tuple[Any, ...]:
        """Everything an event on the item may change."""
        with read(self.service.engine) as conn:
            try:
                item: Any = store.get_item(conn, item_id)
            except NotFound:
                item = None
            return (item, tuple(r["hash"] for r in store.history(conn, item_id)),
                    tuple(tuple(sorted(s.items())) for s in store.steps_of(conn, item_id)),
                    self.count(conn, store.ITEMS), self.count(conn, store.ATTACHMENTS))

    @staticmethod
    def count(conn: Any, table: Any) -> int:
        return len(conn.execute(select(table.c.id)).all())

    # --- rules --------------------------------------------------------------------------------

    @precondition(lambda self: len(self.items) < 6)
    @rule(data=st.data())
    def create(self, data: st.DataObject) -> None:
        """Someone files an item, maybe with fields, an assignee and a due date."""
        workflow = data.draw(st.sampled_from(self.workflows), label="workflow")
        spec = self.latest_spec(workflow)
        wanted = tuple(dict.fromkeys(n for t in spec.transitions_from(spec.initial)
                                     for n in t.requires))
        actor = data.draw(st.sampled_from([*PEOPLE, "ghost"]), label="actor")
        unit = data.draw(st.sampled_from(UNITS), label="unit")
        doers = {r for t in spec.transitions if t.actor == "assignee" for r in t.roles}
        local = [p for p in PEOPLE if roles_at(p, unit) & doers] or \
            [p for p in PEOPLE if roles_at(p, unit)]
        assignee = data.draw(st.sampled_from(local) if local and not data.draw(st.booleans())
                             else st.none() | st.sampled_from([*PEOPLE, "ghost"]),
                             label="assignee")
        due = data.draw(st.sampled_from([None, None, None, "2025-10-09", "tomorrow"]),
                        label="due")
        values = data.draw(field_values(spec, wanted, fill=0.7), label="fields")
        before = self.snapshot(NO_SUCH_ITEM)
        try:
            item_id = self.service.new_item(actor, workflow, unit, assignee=assignee, due=due,
                                            values=values)
        except (Refused, UsageError):
            assert self.snapshot(NO_SUCH_ITEM) == before
            return
        item = self.record(item_id)
        assert (item.state, item.creator_id, item.assignee_id) == \
            (spec.initial, actor, assignee)
        assert roles_at(actor, unit), f"{actor} holds no role at {unit} but created an item"
        self.items.append(item_id)

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def fire(self, data: st.DataObject) -> None:
        """Mostly someone works an item along; sometimes anyone fires anything."""
        if data.draw(st.integers(0, 3), label="chaos") < 3:
            self.fire_plausibly(data)
        else:
            self.fire_anything(data)

    def fire_anything(self, data: st.DataObject) -> None:
        """Anyone fires any trigger with random fields, comment and attachment."""
        item_id = data.draw(st.sampled_from([*self.items, NO_SUCH_ITEM]), label="item")
        item = self.record(self.items[0] if item_id == NO_SUCH_ITEM else item_id)
        spec = self.spec_of(item)
        trigger = data.draw(st.sampled_from([*spec.triggers, "no_such_trigger"]),
                            label="trigger")
        actor = data.draw(st.sampled_from([*PEOPLE, "ghost", None]), label="actor")
        values = data.draw(field_values(spec, ()), label="fields")
        comment = data.draw(st.sampled_from([None, "", "  ", "照片不清"]), label="comment")
        self.attempt(data, item_id, item, actor, trigger, values, comment,
                     data.draw(st.booleans(), label="attach"))

    def fire_plausibly(self, data: st.DataObject) -> None:
        """Someone works an item: a few triggers possible now, mostly by people who may fire
        them and with what they need, moving forward more often than to a final state."""
        item_id = data.draw(st.sampled_from(self.items), label="item")
        for _ in range(data.draw(st.integers(1, 5), label="steps")):
            item = self.record(item_id)
            spec = self.spec_of(item)
            here = [t.trigger for t in spec.transitions_from(item.state)
                    for _ in range(1 if spec.states[t.dest].final else 3)]
            if not here:
                return
            trigger = data.draw(st.sampled_from(here), label="trigger")
            edges_here = [t for t in spec.transitions_from(item.state) if t.trigger == trigger]
            edge = data.draw(st.sampled_from(edges_here), label="edge")
            fitting = [p for p in PEOPLE if roles_at(p, item.unit_id) & set(edge.roles)]
            if edge.actor == "assignee" and item.assignee_id:
                fitting = [item.assignee_id]
            actor = data.draw(st.sampled_from(fitting or PEOPLE), label="actor")
            wanted = tuple(dict.fromkeys(n for t in edges_here for n in t.requires
                                         if spec.fields[n].type != "files"))
            values = data.draw(field_values(spec, wanted, fill=0.8), label="fields")
            comment = data.draw(st.sampled_from(["已核实", "照片不清", None]), label="comment")
            files = any(spec.fields[n].type == "files" for t in edges_here for n in t.requires)
            self.attempt(data, item_id, item, actor, trigger, values, comment,
                         files or data.draw(st.integers(0, 4), label="attach") == 0)

    def attempt(self, data: st.DataObject, item_id: int, item: store.ItemRecord,
                actor: str | None, trigger: str, values: dict[str, str],
                comment: str | None, attach: bool) -> None:
        """Fire; a refusal must leave everything as it was, a success add exactly one row."""
        files = []
        if attach:
            source = self.home / "src" / f"photo{next(self.files)}.jpg"
            source.parent.mkdir(exist_ok=True)
            source.write_bytes(data.draw(st.binary(max_size=16), label="bytes"))
            files.append(source)
        before = self.snapshot(item_id)
        try:
            outcome = self.service.advance(item_id, actor, trigger, values=values,
                                           comment=comment, attach=files)
        except (Refused, UsageError, NotFound):
            assert self.snapshot(item_id) == before, "a refused fire changed the item"
            return
        event(f"fired {item.workflow}:{trigger} -> {outcome.dest}")
        after = self.record(item_id)
        with read(self.service.engine) as conn:
            last = store.history(conn, item_id)[-1]
        assert item_id != NO_SUCH_ITEM
        assert (outcome.source, outcome.dest, after.state) == (item.state, after.state,
                                                               outcome.dest)
        assert (after.version, after.last_seq) == (item.version + 1, item.last_seq + 1)
        assert (last["kind"], last["trigger"], last["source"], last["dest"], last["actor"]) == \
            ("transition", trigger, item.state, outcome.dest, actor)

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def reassign(self, data: st.DataObject) -> None:
        """Someone hands an item to another person, maybe with a new deadline."""
        item_id = data.draw(st.sampled_from(self.items), label="item")
        actor = data.draw(st.sampled_from([*PEOPLE, "ghost"]), label="actor")
        person = data.draw(st.sampled_from([*PEOPLE, "ghost"]), label="person")
        due = data.draw(st.sampled_from([None, "2025-10-20", "2025-13-01"]), label="due")
        before = self.snapshot(item_id)
        try:
            self.service.assign(item_id, actor, person, due, comment="交办")
        except (Refused, UsageError):
            assert self.snapshot(item_id) == before, "a refused assign changed the item"
            return
        assert self.record(item_id).assignee_id == person

    @rule(hours=st.sampled_from([24 * 5, 24 * 10, 49, 24 * 3, 6]))
    def tick(self, hours: int) -> None:
        """Time passes and a sweep runs: everything due is applied, nothing else."""
        now = self.clock.advance(timedelta(hours=hours))
        report = sweep(self.service)
        for e in report.escalations:
            event(f"escalation {e['state']}:{e['step']}")
        for f in report.fired:
            event(f"swept fire {f['trigger']}")
        assert report.errors == []
        with read(self.service.engine) as conn:
            steps = conn.execute(select(store.STEPS)).all()
        assert not [s for s in steps if s.status == "pending" and s.due_at <= now]
        again = sweep(self.service)
        assert (again.escalations, again.fired) == ([], [])

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def history_tells_an_allowed_story(self) -> None:
        """States, edges, rules, ladder rows and the item record all agree with the spec."""
        with read(self.service.engine) as conn:
            items = [store.to_record(r) for r in conn.execute(store.select_items())]
            rows = list(store.iter_history(conn))
            steps = [dict(s._mapping) for s in conn.execute(select(store.STEPS))]
        assert sorted(i.id for i in items) == sorted(self.items)
        by_item = {k: list(g) for k, g in itertools.groupby(rows, key=lambda r: r["item_id"])}
        applied: set[tuple[int, int, int]] = set()
        for item in items:
            spec = self.spec_of(item)
            assert item.state in spec.states
            assert item.final == spec.states[item.state].final
            if spec.states[item.state].deadline is not None:
                assert item.due_at is not None, "a state with a deadline but no due date"
            elif not item.due_override:
                assert item.due_at is None, "a due date from nowhere"
            history = by_item[item.id]
            assert [r["seq"] for r in history] == list(range(1, len(history) + 1))
            assert (item.last_seq, item.last_hash) == (history[-1]["seq"], history[-1]["hash"])
            applied |= self.replay(item, spec, history)
        ladder = {(s["item_id"], s["entry_no"], s["step_index"]) for s in steps
                  if s["status"] == "applied"}
        assert ladder == applied
        for s in steps:
            if s["status"] == "applied":
                assert s["applied_at"] >= s["planned_at"], "a step was applied before its time"
            if s["status"] == "pending":
                item = next(i for i in items if i.id == s["item_id"])
                assert (s["entry_no"], s["state"]) == (item.entry_no, item.state)

    def replay(self, item: store.ItemRecord, spec: WorkflowSpec,
               history: list[dict[str, Any]]) -> set[tuple[int, int, int]]:
        replay = Replay(spec, item.unit_id)
        assigns = [r for r in history if r["kind"] == "assign"]
        replay.assignee = assigns[0]["data"]["assignee"][0] if assigns else item.assignee_id
        applied: set[tuple[int, int, int]] = set()
        pending_fire: str | None = None
        for row in history:
            if pending_fire:
                assert (row["kind"], row["trigger"], row["actor"]) == \
                    ("transition", pending_fire, SYSTEM), "a fire step did not fire"
                pending_fire = None
            if row["kind"] == "create":
                assert (row["seq"], row["dest"]) == (1, spec.initial)
                replay.state, replay.entry = spec.initial, 1
                replay.fields = dict(row["data"]["fields"])
            elif row["kind"] == "transition":
                replay.transition(row)
            elif row["kind"] == "assign":
                assert row["data"]["assignee"][0] == replay.assignee
                replay.assignee = row["data"]["assignee"][1]
            elif row["kind"] == "escalation":
                assert row["source"] == row["dest"] == replay.state and row["actor"] == SYSTEM
                step = spec.states[replay.state].escalate[row["data"]["step"]]
                assert row["data"]["action"] == step.action
                assert row["at"] >= planned(row), "an escalation fired before its time"
                key = (item.id, replay.entry, step.index)
                assert key not in applied, f"escalation {key} applied twice"
                applied.add(key)
                pending_fire = step.fire
            else:
                raise AssertionError(f"unexpected history kind {row['kind']}")
        assert (replay.state, replay.entry, replay.assignee) == \
            (item.state, item.entry_no, item.assignee_id)
        assert replay.counts == item.counts
        assert set_fields(replay.fields) == set_fields(item.fields)
        return applied

    def teardown(self) -> None:
        try:
            with read(self.service.engine) as conn:
                rows = list(store.iter_history(conn))
            for item_id, group in itertools.groupby(rows, key=lambda r: r["item_id"]):
                assert verify_chain(item_id, group) is None
        finally:
            self.service.engine.dispose()
            shutil.rmtree(self.home, ignore_errors=True)


EngineMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngineMachine = EngineMachine.TestCase
TestEngineMachine.__doc__ = "Random runs of people, triggers and time keep every invariant."
