"""The bundled workflows, walked at the spec level: every path and branch, no database.

Each walk is one item moving through `StateGraph.fire` with the fields, counts and cycle actors
the store would keep between steps. Walks register themselves per workflow, so the coverage test
can replay them and check that every state of every bundled workflow is visited, whatever order
(or xdist worker) the tests run in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from rectify.engine.core.errors import Refused
from rectify.engine.core.fields import coerce_all
from rectify.engine.core.loader import load_workflow_file
from rectify.engine.core.machine import SYSTEM_ACTOR, Actor, ItemView, Outcome, Request, StateGraph
from rectify.engine.core.spec import WorkflowSpec
from rectify.notifications.notices import Notices
from rectify.notifications.render import template_names
from rectify.workflows import BUNDLED
from rectify.workflows import HERE as WORKFLOWS

NOW = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)
UNIT = "village-a1"

VISITED: dict[str, set[str]] = defaultdict(set)  # states entered
TAKEN: dict[str, set[int]] = defaultdict(set)  # transitions taken, by their index in the file
WALKS: dict[str, list[Callable[[], None]]] = defaultdict(list)


def walk(workflow: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register a test as a walk of `workflow`, replayed by the state-coverage test."""

    def register(test: Callable[[], None]) -> Callable[[], None]:
        WALKS[workflow].append(test)
        return test

    return register


@cache
def spec_of(name: str) -> WorkflowSpec:
    return load_workflow_file(WORKFLOWS / f"{name}.yaml", templates=template_names())


@cache
def graph_of(name: str) -> StateGraph:
    return StateGraph(spec_of(name))


def person(pid: str, *roles: str) -> Actor:
    return Actor(pid, frozenset(roles), pid)


def timer_trigger(spec: WorkflowSpec, state: str) -> str:
    """The trigger a timer state fires at its deadline (its `at: 0` fire step)."""
    fires = [s.fire for s in spec.states[state].escalate if s.fire and s.at.amount == 0]
    assert len(fires) == 1, f"{state} is not a timer"
    return fires[0]


@dataclass
class Walk:
    """One item of a workflow; `go` fires and checks the destination, `refused` checks a no."""

    name: str
    item: ItemView

    @classmethod
    def start(cls, name: str, state: str | None = None, *, assignee: str | None = None,
              creator: str = "creator", **fields: Any) -> Walk:
        spec = spec_of(name)
        state = state or spec.initial
        VISITED[name].add(state)
        return cls(name, ItemView(state=state, unit=UNIT, assignee=assignee, creator=creator,
                                  fields=coerce_all(spec, fields)))

    @property
    def spec(self) -> WorkflowSpec:
        return spec_of(self.name)

    @property
    def state(self) -> str:
        return self.item.state

    def _request(self, trigger: str, comment: str | None, fields: dict[str, Any]) -> Request:
        return Request(trigger, coerce_all(self.spec, fields), comment)

    def go(self, trigger: str, actor: Actor, dest: str, comment: str | None = None,
           **fields: Any) -> Outcome:
        outcome = graph_of(self.name).fire(self.item, actor,
                                           self._request(trigger, comment, fields), NOW)
        assert outcome.dest == dest, f"{trigger} from {self.state} went to {outcome.dest}"
        # A 会签 signature stays in the state and is remembered; a state entry starts afresh.
        signed = dict(self.item.signatures)
        if outcome.signed:
            signed[trigger] = (*signed.get(trigger, ()), outcome.signed)
        self.item = self.item._replace(state=outcome.dest, fields=outcome.fields,
                                       counts=outcome.counts, cycle_actors=outcome.cycle_actors,
                                       signatures=signed if outcome.signed else {})
        VISITED[self.name].add(outcome.dest)
        TAKEN[self.name].add(outcome.transition.index)
        return outcome

    def timer(self, dest: str) -> Outcome:
        """The public notice's deadline passes: the sweep fires its step as the system."""
        return self.go(timer_trigger(self.spec, self.state), SYSTEM_ACTOR, dest)

    def refused(self, trigger: str, actor: Actor, reason: str, comment: str | None = None,
                **fields: Any) -> Refused:
        with pytest.raises(Refused) as info:
            graph_of(self.name).fire(self.item, actor, self._request(trigger, comment, fields),
                                     NOW)
        assert info.value.reason == reason, str(info.value)
        return info.value


# --- every bundled workflow ----------------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_workflow_loads_without_errors_or_warnings(name: str) -> None:
    """Each bundled file loads, names only bundled templates, renders them, and builds a graph."""
    spec = spec_of(name)
    assert spec.name == name
    # The contract's rectification example leaves 发现问题 without a deadline (an item's own
    # --due waits there for 整改中); that one warning is expected, no other.
    assert [w.split(": warning: ")[1] for w in spec.warnings] == (
        ["state 'discovered' has no deadline: items may wait in it forever"]
        if name == "rectification" else [])
    Notices.default().check_templates(spec, WORKFLOWS)
    assert set(StateGraph(spec).spec.states) == set(spec.states)


@pytest.mark.parametrize("name", BUNDLED)
def test_every_working_state_has_a_deadline(name: str) -> None:
    """Non-final states have deadlines; the working ones count workdays, notices count days."""
    spec = spec_of(name)
    for state in spec.states.values():
        if state.final or (name, state.name) == ("rectification", "discovered"):
            continue
        assert state.deadline is not None, state.name
        expected = "days" if state.public else "workdays"
        assert state.deadline.unit == expected, state.name


@pytest.mark.parametrize("name", ["identification", "exit"])
def test_public_notices_are_seven_day_timers(name: str) -> None:
    """Every public-notice state is a 7-day timer that announces its start and its end."""
    spec = spec_of(name)
    notices = [s for s in spec.states.values() if s.public]
    assert notices
    for state in notices:
        assert state.is_timer and str(state.deadline) == "7 days"
        assert state.template == "notice_start" and state.notify
        (step,) = state.escalate
        assert step.template == "notice_end" and step.notify


@pytest.mark.parametrize(("name", "private"), [
    ("identification", {"id_number", "phone", "bank_account", "health_condition"}),
    ("exit", {"id_number", "phone"}),
])
def test_personal_data_fields_are_private(name: str, private: set[str]) -> None:
    """ID number, phone, bank account and health are private fields, kept out of notices."""
    assert {n for n, f in spec_of(name).fields.items() if f.private} == private


# --- rectification: 问题整改闭环 ------------------------------------------------------------------

INSPECTOR = person("insp", "inspector")
RECTIFIER = person("rect", "rectifier")
OTHER_RECTIFIER = person("rect2", "rectifier")
ACCEPTOR = person("acc", "acceptor")
LEADER = person("lead", "leader")
RECTIFIER_AND_ACCEPTOR = person("both", "rectifier", "acceptor")
EVIDENCE = [{"name": "photo.jpg", "sha256": "0" * 64}]


def rectifying(assignee: str = "rect") -> Walk:
    w = Walk.start("rectification", assignee=assignee, description="档案信息不实")
    w.go("assign", INSPECTOR, "rectifying")
    return w


def submitted(w: Walk, actor: Actor = RECTIFIER) -> Walk:
    w.go("submit", actor, "accepting", measures="补录档案", evidence=EVIDENCE)
    return w


@walk("rectification")
def test_rectification_happy_path() -> None:
    """discovered -> rectifying -> accepting -> closed, each step by its own role."""
    w = Walk.start("rectification", assignee="rect")
    w.refused("assign", INSPECTOR, "missing_field")
    w.refused("assign", ACCEPTOR, "role", description="档案信息不实")
    w.go("assign", INSPECTOR, "rectifying", description="档案信息不实")
    w.refused("submit", RECTIFIER, "missing_field", measures="补录档案")
    submitted(w)
    w.go("accept", ACCEPTOR, "closed")


@walk("rectification")
def test_rectification_fix_on_the_spot() -> None:
    """立行立改: an inspector closes at once, but only with measures and evidence."""
    w = Walk.start("rectification", description="公示栏信息未更新")
    w.refused("fix_on_spot", INSPECTOR, "missing_field", measures="当场更新")
    w.refused("fix_on_spot", LEADER, "role", measures="当场更新", evidence=EVIDENCE)
    w.go("fix_on_spot", INSPECTOR, "closed", measures="当场更新", evidence=EVIDENCE)


@walk("rectification")
def test_rectification_second_rejection_goes_to_accountability() -> None:
    """Reject once -> rectifying again; reject a second time -> accountable (count.reject)."""
    w = submitted(rectifying())
    w.refused("reject", ACCEPTOR, "comment")
    w.go("reject", ACCEPTOR, "rectifying", comment="佐证材料不全")
    assert w.item.counts["reject"] == 1
    submitted(w)
    w.go("reject", ACCEPTOR, "accountable", comment="仍未整改到位")
    assert w.item.counts["reject"] == 2


@walk("rectification")
def test_rectification_conclude_needs_outcome_and_comment() -> None:
    """conclude requires the 问责结果 choice and a comment; a value outside the choices is no."""
    w = rectifying()
    w.go("hold_accountable", LEADER, "accountable")
    w.refused("conclude", LEADER, "missing_field", comment="已约谈")
    w.refused("conclude", LEADER, "comment", outcome="约谈")
    with pytest.raises(Refused) as info:
        w.go("conclude", LEADER, "closed", comment="已约谈", outcome="罚款")
    assert info.value.reason == "value"
    w.go("conclude", LEADER, "closed", comment="已约谈", outcome="约谈")


def test_rectification_submit_only_by_the_assignee() -> None:
    """Another rectifier may not submit an item assigned to someone else."""
    w = rectifying(assignee="rect")
    w.refused("submit", OTHER_RECTIFIER, "assignee", measures="补录", evidence=EVIDENCE)
    submitted(w)


def test_rectification_submitter_may_not_accept_or_reject() -> None:
    """Separation of duties: whoever submitted may neither accept nor reject, even as acceptor."""
    w = submitted(rectifying(assignee="both"), RECTIFIER_AND_ACCEPTOR)
    w.refused("accept", RECTIFIER_AND_ACCEPTOR, "separation")
    w.refused("reject", RECTIFIER_AND_ACCEPTOR, "separation", comment="不合格")
    w.go("accept", ACCEPTOR, "closed")


@walk("rectification")
def test_rectification_escalation_holds_accountable_as_the_system() -> None:
    """The last rung of the rectifying ladder fires hold_accountable as the system."""
    w = rectifying()
    (fire,) = [s.fire for s in w.spec.states["rectifying"].escalate if s.fire]
    assert fire == "hold_accountable"
    w.refused(fire, RECTIFIER, "role")
    w.go(fire, SYSTEM_ACTOR, "accountable")


def test_rectification_leader_holds_accountable_from_accepting() -> None:
    """hold_accountable also leaves 待验收, by a leader."""
    w = submitted(rectifying())
    w.go("hold_accountable", LEADER, "accountable")


# --- democratic votes: quorum of two thirds, majority of those present ---------------------------

# (workflow, state, (total, attendees, votes for) field names, dest if passed, dest if failed)
VOTES = [
    ("identification", "party_review",
     ("party_members_total", "party_attendees", "party_votes_for"), "rep_resolution", "rejected"),
    ("identification", "rep_resolution",
     ("rep_total", "rep_attendees", "rep_votes_for"), "disclosing", "rejected"),
    ("exit", "appraising",
     ("appraisal_total", "appraisal_attendees", "appraisal_votes_for"), "verifying", "retained"),
]
VOTE_ACTOR = person("sec", "party_secretary", "village_cadre")

# (total, attendees, votes for, result): "pass", "fail" or "invalid" (no decision possible)
BALLOTS = [
    pytest.param(9, 6, 4, "pass", id="quorum-exactly-two-thirds"),
    pytest.param(9, 5, 5, "invalid", id="quorum-just-under-two-thirds"),
    pytest.param(10, 7, 4, "pass", id="quorum-just-over-majority-just-over"),
    pytest.param(10, 6, 6, "invalid", id="quorum-6-of-10-unanimous"),
    pytest.param(9, 6, 3, "fail", id="tie-is-no-majority"),
    pytest.param(9, 6, 0, "fail", id="nobody-agrees"),
    pytest.param(9, 9, 5, "pass", id="everyone-attends"),
    pytest.param(9, 10, 6, "invalid", id="more-attend-than-entitled"),
    pytest.param(9, 6, 7, "invalid", id="more-votes-than-attendees"),
]


@pytest.mark.parametrize(("name", "state", "keys", "passed", "failed"), VOTES)
@pytest.mark.parametrize(("total", "attendees", "votes", "result"), BALLOTS)
def test_vote_guard(name: str, state: str, keys: tuple[str, str, str], passed: str, failed: str,
                    total: int, attendees: int, votes: int, result: str) -> None:
    """approve needs quorum and a majority; reject needs quorum and no majority; else neither."""
    numbers = dict(zip(keys, (str(total), str(attendees), str(votes)), strict=True))
    w = Walk.start(name, state)
    if result == "pass":
        w.refused("reject", VOTE_ACTOR, "guard", comment="未过半数", **numbers)
        w.go("approve", VOTE_ACTOR, passed, **numbers)
    elif result == "fail":
        w.refused("approve", VOTE_ACTOR, "guard", **numbers)
        w.refused("reject", VOTE_ACTOR, "comment", **numbers)
        w.go("reject", VOTE_ACTOR, failed, comment="赞成票未过半数", **numbers)
    else:
        w.refused("approve", VOTE_ACTOR, "guard", **numbers)
        w.refused("reject", VOTE_ACTOR, "guard", comment="未过半数", **numbers)


@pytest.mark.parametrize(("name", "state", "keys", "passed", "failed"), VOTES)
def test_vote_numbers_are_required(name: str, state: str, keys: tuple[str, str, str],
                                   passed: str, failed: str) -> None:
    """A vote is recorded with all three numbers, or it is refused for the missing one."""
    w = Walk.start(name, state)
    error = w.refused("approve", VOTE_ACTOR, "missing_field", **{keys[0]: 9, keys[1]: 9})
    assert keys[2] in str(error)


# --- identification: 识别 ------------------------------------------------------------------------

CADRE = person("cadre", "village_cadre")
SECRETARY = person("sec", "party_secretary")
TEAM = person("team", "work_team")
TOWNSHIP = person("town", "township_reviewer")
COUNTY = person("county", "county_approver")
CIVIL = person("civil", "township_civil")
AGRI = person("agri", "township_agri")
TOWNSHIP_AND_COUNTY = person("both", "township_reviewer", "county_approver")
ALL_ROLES = person("all", "village_cadre", "party_secretary", "work_team", "township_reviewer",
                   "county_approver")

APPLICATION = {"applicant_name": "张三", "id_number": "410000199001011234", "household_size": "4",
               "application": "因病致贫", "phone": "13800000000", "health_condition": "慢性病"}
PARTY_PASS = {"party_members_total": "30", "party_attendees": "24", "party_votes_for": "20"}
REPS_PASS = {"rep_total": "45", "rep_attendees": "30", "rep_votes_for": "28"}


def applied() -> Walk:
    return Walk.start("identification", **APPLICATION)


def to_verifying(w: Walk) -> Walk:
    w.go("propose", SECRETARY, "consulting")
    w.go("consult", CADRE, "party_review", consultation="同意提交党员大会审议")
    w.go("approve", SECRETARY, "rep_resolution", **PARTY_PASS)
    w.go("approve", CADRE, "disclosing", **REPS_PASS)
    w.go("disclose", CADRE, "verifying", resolution_disclosed_on="2025-09-28")
    return w


def to_village_notice(w: Walk) -> Walk:
    w.go("verify", TEAM, "village_notice", verification="入户核实属实", income_per_capita="3200")
    return w


def to_township_notice(w: Walk, reviewer: Actor = TOWNSHIP) -> Walk:
    w.go("approve", reviewer, "township_notice", township_opinion="符合识别标准")
    return w


def to_county(w: Walk) -> Walk:
    to_village_notice(to_verifying(w))
    w.timer("township_review")
    to_township_notice(w)
    w.timer("county_approval")
    return w


@walk("identification")
def test_identification_happy_path() -> None:
    """Application, 四议, 决议公开, verification, two timed notices, approval, 公告 -> 已纳入."""
    w = applied()
    w.refused("propose", CADRE, "role")
    w = to_verifying(w)
    w.refused("verify", TEAM, "missing_field", verification="属实")
    to_village_notice(w)
    w.timer("township_review")
    to_township_notice(w)
    w.timer("county_approval")
    w.go("approve", COUNTY, "announcing")
    w.refused("announce", CADRE, "missing_field")
    w.go("announce", CADRE, "enrolled", result_disclosed_on="2025-11-20")
    assert w.item.fields["id_number"] == APPLICATION["id_number"]


@walk("identification")
def test_identification_failed_votes_reject() -> None:
    """A valid meeting that does not pass the proposal ends in 不予纳入, at either meeting."""
    w = applied()
    w.go("propose", SECRETARY, "consulting")
    w.go("consult", CADRE, "party_review", consultation="同意提交党员大会审议")
    w.go("reject", SECRETARY, "rejected", comment="赞成票未过半数",
         **{**PARTY_PASS, "party_votes_for": "12"})
    w = Walk.start("identification", "rep_resolution")
    w.go("reject", CADRE, "rejected", comment="赞成票未过半数",
         **{**REPS_PASS, "rep_votes_for": "15"})


def test_identification_proposal_needs_the_id_number() -> None:
    """The branch cannot propose a household whose private ID number is not recorded."""
    w = Walk.start("identification", **{**APPLICATION, "id_number": ""})
    error = w.refused("propose", SECRETARY, "missing_field")
    assert "id_number" in str(error)
    w.go("propose", SECRETARY, "consulting", id_number="410000199001011234")


def test_identification_resolution_disclosure_is_recorded() -> None:
    """决议公开 is a recorded date: without it the item stays in 决议公开."""
    w = Walk.start("identification", "disclosing")
    w.refused("disclose", CADRE, "missing_field")
    w.refused("disclose", TEAM, "role", resolution_disclosed_on="2025-09-28")
    w.go("disclose", CADRE, "verifying", resolution_disclosed_on="2025-09-28")


@pytest.mark.parametrize(("steps", "actor"), [
    pytest.param(0, SECRETARY, id="branch-declines-to-propose"),
    pytest.param(1, CADRE, id="two-committees-decline"),
    pytest.param(5, TEAM, id="verification-finds-ineligible"),
])
def test_identification_village_rejections(steps: int, actor: Actor) -> None:
    """At application, 商议 and 核实 the village may reject, always with a comment."""
    w = applied()
    path = [
        ("propose", SECRETARY, "consulting", {}),
        ("consult", CADRE, "party_review", {"consultation": "同意"}),
        ("approve", SECRETARY, "rep_resolution", PARTY_PASS),
        ("approve", CADRE, "disclosing", REPS_PASS),
        ("disclose", CADRE, "verifying", {"resolution_disclosed_on": "2025-09-28"}),
    ]
    for trigger, who, dest, fields in path[:steps]:
        w.go(trigger, who, dest, **fields)
    w.refused("reject", actor, "comment")
    w.refused("reject", TOWNSHIP, "role", comment="不符合条件")
    w.go("reject", actor, "rejected", comment="家庭收入高于标准")


@walk("identification")
def test_identification_village_rejection_walk() -> None:
    """Two committees decline the application: 不予纳入."""
    w = applied()
    w.go("propose", SECRETARY, "consulting")
    w.go("reject", CADRE, "rejected", comment="家庭有稳定工资性收入")


@walk("identification")
def test_identification_first_notice_objection_returns_to_verification() -> None:
    """An objection in the first notice returns the item to 村级核实; the stale timer is refused."""
    w = to_village_notice(to_verifying(applied()))
    passing = timer_trigger(w.spec, "village_notice")
    w.refused(passing, ALL_ROLES, "role")
    w.refused("object", CADRE, "comment")
    w.go("object", CADRE, "verifying", comment="村民反映其家中有经营性收入")
    w.refused(passing, SYSTEM_ACTOR, "state")
    to_village_notice(w)
    w.timer("township_review")


@walk("identification")
def test_identification_township_sends_back_and_rejects() -> None:
    """乡镇审核 may send the item back to 村级核实 or reject it, with a comment either way."""
    w = to_village_notice(to_verifying(applied()))
    w.timer("township_review")
    w.refused("approve", TOWNSHIP, "missing_field")
    w.refused("send_back", TOWNSHIP, "comment")
    w.go("send_back", TOWNSHIP, "verifying", comment="核实材料不全")
    to_village_notice(w).timer("township_review")
    w.refused("reject", TOWNSHIP, "comment")
    w.go("reject", TOWNSHIP, "rejected", comment="不符合识别标准")


@walk("identification")
def test_identification_second_notice_objection_returns_to_township_review() -> None:
    """An objection in the second notice sends the item back to 乡镇审核 before any approval."""
    w = to_village_notice(to_verifying(applied()))
    w.timer("township_review")
    to_township_notice(w)
    passing = timer_trigger(w.spec, "township_notice")
    w.refused(passing, ALL_ROLES, "role")
    w.go("object", TOWNSHIP, "township_review", comment="群众反映有车辆")
    w.refused(passing, SYSTEM_ACTOR, "state")
    to_township_notice(w)
    w.timer("county_approval")


@walk("identification")
def test_identification_county_sends_back_and_rejects() -> None:
    """县级审批 may send the item back to 乡镇审核 or reject it, with a comment either way."""
    w = to_county(applied())
    w.refused("send_back", COUNTY, "comment")
    w.go("send_back", COUNTY, "township_review", comment="请补充收入核算")
    to_township_notice(w)
    w.timer("county_approval")
    w.refused("reject", TOWNSHIP, "role", comment="不同意")
    w.go("reject", COUNTY, "rejected", comment="收入超过监测标准")


def test_identification_approver_of_a_review_may_not_also_approve_at_county() -> None:
    """审核与审批分离: whoever approved at the township may not approve at the county."""
    w = to_verifying(applied())
    to_village_notice(w).timer("township_review")
    to_township_notice(w, TOWNSHIP_AND_COUNTY)
    w.timer("county_approval")
    w.refused("approve", TOWNSHIP_AND_COUNTY, "separation")
    w.go("approve", COUNTY, "announcing")


# --- exit: 退出 ----------------------------------------------------------------------------------

HOUSEHOLD = {"household_head": "李四", "id_number": "410000198001011234", "household_size": "3"}
APPRAISAL_PASS = {"appraisal_total": "21", "appraisal_attendees": "18", "appraisal_votes_for": "15"}
CONSENT_FORM = [{"name": "签字认可表.pdf", "sha256": "1" * 64}]


def exit_verifying() -> Walk:
    w = Walk.start("exit", **HOUSEHOLD)
    w.go("approve", CADRE, "verifying", **APPRAISAL_PASS)
    return w


def exit_consenting() -> Walk:
    w = exit_verifying()
    w.go("verify", TEAM, "consenting", verification="两不愁三保障达标", income_per_capita="9800")
    return w


def exit_notice() -> Walk:
    w = exit_consenting()
    w.go("consent", CADRE, "notice", household_consent="是", consent_form=CONSENT_FORM)
    return w


@walk("exit")
def test_exit_happy_path() -> None:
    """民主评议, 核实, 户主签字认可, a 7-day notice that passes by itself, the township's
    会签, 公告 -> 已销号."""
    w = exit_notice()
    w.timer("township_review")
    township_countersign(w)
    w.refused("announce", TOWNSHIP, "missing_field")
    w.refused("announce", CADRE, "role", announced_on="2025-11-01")
    w.go("announce", TOWNSHIP, "removed", announced_on="2025-11-01")


@walk("exit")
def test_exit_appraisal_fails() -> None:
    """民主评议 without a majority: 不予退出, with a comment."""
    w = Walk.start("exit", **HOUSEHOLD)
    failing = {**APPRAISAL_PASS, "appraisal_votes_for": "9"}
    w.refused("approve", CADRE, "guard", **failing)
    w.go("reject", CADRE, "retained", comment="群众认为尚未稳定脱贫", **failing)


@walk("exit")
def test_exit_verification_rejects() -> None:
    """核实 finds the household does not meet the exit standard: 不予退出."""
    w = exit_verifying()
    w.refused("verify", TEAM, "missing_field", verification="收入未达标")
    w.refused("reject", TEAM, "comment")
    w.go("reject", TEAM, "retained", comment="人均纯收入未稳定超过标准")


def test_exit_needs_the_household_consent_and_its_form() -> None:
    """No signed consent, no exit: the bool must be yes and the signed form attached."""
    w = exit_consenting()
    w.refused("consent", CADRE, "missing_field", consent_form=CONSENT_FORM)
    w.refused("consent", CADRE, "missing_field", household_consent="是")
    w.refused("consent", CADRE, "guard", household_consent="否", consent_form=CONSENT_FORM)
    w.refused("consent", TOWNSHIP, "role", household_consent="是", consent_form=CONSENT_FORM)
    w.go("consent", TEAM, "notice", household_consent="是", consent_form=CONSENT_FORM)


@walk("exit")
def test_exit_household_declines() -> None:
    """户主不认可 ends the exit (不予退出); it needs a comment and cannot contradict a yes."""
    w = exit_consenting()
    w.refused("decline", CADRE, "comment")
    w.refused("decline", CADRE, "guard", comment="户主不同意", household_consent="是")
    w.go("decline", CADRE, "retained", comment="户主认为收入不稳定", household_consent="否")


@walk("exit")
def test_exit_objection_returns_to_verification() -> None:
    """An objection during the notice sends the item back to 核实 and pre-empts the timer."""
    w = exit_notice()
    passing = timer_trigger(w.spec, "notice")
    w.refused(passing, ALL_ROLES, "role")
    w.refused("object", TEAM, "comment")
    w.go("object", TOWNSHIP, "verifying", comment="有群众反映其收入不实")
    w.refused(passing, SYSTEM_ACTOR, "state")
    w.go("verify", TEAM, "consenting", verification="复核属实")
    w.go("consent", CADRE, "notice")
    w.timer("township_review")


def township_countersign(w: Walk) -> None:
    """乡镇审核: three offices sign; the state moves only with the last signature."""
    first = w.go("review", TOWNSHIP, "township_review", comment="材料齐全")
    assert first.signed is not None and first.signed.roles == ("township_reviewer",)
    w.refused("review", TOWNSHIP, "separation")  # one person signs once
    w.go("review", CIVIL, "township_review")
    w.go("review", AGRI, "announcing")


@walk("exit")
def test_exit_township_review_refuses_and_starts_afresh() -> None:
    """A township office refuses the exit: back to 核实; signatures of that entry are gone, so
    the next 乡镇审核 needs every office again."""
    w = exit_notice()
    w.timer("township_review")
    w.go("review", TOWNSHIP, "township_review")
    w.refused("object", CIVIL, "comment")
    w.go("object", CIVIL, "verifying", comment="收入核算有误")
    assert not w.item.signatures
    w.go("verify", TEAM, "consenting", verification="复核", income_per_capita="9900")
    w.go("consent", CADRE, "notice")
    w.timer("township_review")
    w.go("review", CIVIL, "township_review")
    w.go("review", AGRI, "township_review")
    w.go("review", TOWNSHIP, "announcing")


def test_exit_verifier_may_not_sign_off_the_exit() -> None:
    """Separation of duties: whoever verified the household may not announce its exit."""
    verifier = person("tv", "work_team", "township_reviewer")
    w = exit_verifying()
    w.go("verify", verifier, "consenting", verification="达标", income_per_capita="9800")
    w.go("consent", CADRE, "notice", household_consent="是", consent_form=CONSENT_FORM)
    w.timer("township_review")
    w.refused("review", verifier, "separation")  # each signer is checked as any actor is
    township_countersign(w)
    w.refused("announce", verifier, "separation", announced_on="2025-11-01")
    w.go("announce", COUNTY, "removed", announced_on="2025-11-01")


# --- coverage of the bundled graphs --------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED)
def test_walks_visit_every_state_and_take_every_transition(name: str) -> None:
    """Replaying the registered walks of a workflow enters every state and takes every edge."""
    VISITED[name].clear()
    TAKEN[name].clear()
    for test in WALKS[name]:
        test()
    spec = spec_of(name)
    assert VISITED[name] == set(spec.states)
    missed = [f"{t.trigger} ({t.label}) from {', '.join(t.sources)}"
              for t in spec.transitions if t.index not in TAKEN[name]]
    assert not missed
