"""Workflow validation (engine/loader.py, engine/validate.py): each check at its FILE:LINE:COL.

Each file in tests/fixtures/broken/ is `_valid_base.yaml` with one edit, so each must report
exactly the one problem it was made for. `several.yaml` has many and must report them all at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rectify.engine.core.errors import InvalidInput, Problem
from rectify.engine.core.loader import load_workflow
from rectify.engine.core.spec import WorkflowSpec

BROKEN = Path(__file__).parent / "fixtures" / "broken"
BASE = "_valid_base.yaml"
TEMPLATES = frozenset({"reminder", "overdue"})


def load_fixture(name: str, *, templates: frozenset[str] | None = TEMPLATES) -> WorkflowSpec:
    path = BROKEN / name
    return load_workflow(path.read_text("utf-8"), path.name, templates=templates)


def problems_of(name: str, *, templates: frozenset[str] | None = TEMPLATES) -> list[Problem]:
    with pytest.raises(InvalidInput) as info:
        load_fixture(name, templates=templates)
    return info.value.problems


def base_with(old: str, new: str, *, file: str = "edited.yaml") -> WorkflowSpec:
    """The valid base with one textual edit, loaded; the edit must apply exactly once."""
    text = (BROKEN / BASE).read_text("utf-8")
    assert text.count(old) == 1, f"edit target {old!r} is not unique in {BASE}"
    return load_workflow(text.replace(old, new), file, templates=TEMPLATES)


def edit_problems(old: str, new: str) -> list[Problem]:
    with pytest.raises(InvalidInput) as info:
        base_with(old, new)
    return info.value.problems


# --- the base -------------------------------------------------------------------------------------

def test_base_is_valid_without_warnings() -> None:
    """The base every fixture is derived from loads cleanly, so each fixture's error is its own."""
    spec = load_fixture(BASE)
    assert spec.name == "mini"
    assert list(spec.states) == ["open", "working", "done"]
    assert spec.warnings == ()


def test_every_fixture_is_covered() -> None:
    """Each fixture file in broken/ is exercised by one of the tests below."""
    covered = {f"{name}.yaml" for name, _, _ in SINGLE} | {
        BASE, "several.yaml", "no_deadline_warning.yaml"}
    assert {p.name for p in BROKEN.glob("*.yaml")} == covered


# --- one check per fixture ------------------------------------------------------------------------

SINGLE = [
    ("unknown_source", "22:30",
     "transition 'pause' names unknown source state 'wrking' (did you mean 'working'?)"),
    ("unknown_dest", "22:45",
     "transition 'pause' goes to unknown state 'opn' (did you mean 'open'?)"),
    ("unknown_initial", "8:10", "initial names unknown state 'opne' (did you mean 'open'?)"),
    ("unreachable_state", "17:3",
     "state 'parked' cannot be reached from the initial state 'open'"),
    ("trap_state", "17:3", "state 'stuck' is not final but has no way out"),
    ("final_outgoing", "22:31",
     "transition 'reopen' leaves final state 'done'; final states have no outgoing transitions"),
    ("requires_unknown_field", "19:82",
     "transition 'start': requires names unknown field 'descripton' (did you mean 'description'?)"),
    ("when_unknown_field", "21:12",
     "transition 'finish': when names unknown field 'vote' (did you mean 'votes'?)"),
    ("roles_unknown_role", "20:71",
     "transition 'finish': roles names unknown role 'leadr' (did you mean 'leader'?)"),
    ("not_actor_of_unknown", "20:83",
     "transition 'finish': not_actor_of names unknown trigger 'strat' (did you mean 'start'?)"),
    ("escalation_fire_wrong_state", "17:9",
     "state 'working': escalation fires 'start', which cannot fire from 'working'"),
    ("escalation_out_of_order", "17:9",
     "escalation step at -1 workdays comes before the previous step at 0"),
    ("unknown_template", "15:9",
     "state 'working' escalation names unknown template 'remindr' (did you mean 'reminder'?)"),
    ("when_syntax", "21:12", "transition 'finish': when: guard does not compile"),
    ("no_final_state", "10:3", "no final state can be reached from the initial state 'open'"),
    ("unknown_key", "19:51",
     "transition 1: unknown key 'role' (did you mean 'roles'?); allowed keys: trigger, source, "
     "dest, label, roles, actor, not_actor_of, requires, comment, when, notify, template"),
    ("bad_duration", "10:31",
     "deadline: expected a duration such as '10 workdays', '3 days' or '48 hours', "
     "got '5 weekdays'"),
    ("bad_field_type", "6:17",
     "field 'votes': unknown type 'integer'; allowed types: text, number, date, bool, choice, "
     "files"),
    ("choice_without_choices", "7:13", "field 'category' has type choice but no 'choices'"),
    ("yaml_syntax", "3:12", "YAML syntax: mapping values are not allowed here"),
]


@pytest.mark.parametrize(("name", "where", "fragment"), SINGLE, ids=[s[0] for s in SINGLE])
def test_broken_fixture_reports_its_one_problem(name: str, where: str, fragment: str) -> None:
    """The fixture fails with exactly one error, at the offending node, saying what is wrong."""
    problems = problems_of(f"{name}.yaml")
    assert len(problems) == 1, "\n".join(map(str, problems))
    (problem,) = problems
    assert problem.severity == "error"
    assert f"{problem.loc.line}:{problem.loc.column}" == where
    assert problem.loc.file == f"{name}.yaml"
    assert fragment in problem.message
    assert str(problem).startswith(f"{name}.yaml:{where}: ")


def test_pytest_raises_match_on_the_whole_message() -> None:
    """The exception text itself carries FILE:LINE:COL: message, one problem per line."""
    with pytest.raises(InvalidInput, match=r"^unknown_dest\.yaml:22:45: transition 'pause' "
                                           r"goes to unknown state 'opn' \(did you mean"):
        load_fixture("unknown_dest.yaml")


def test_yaml_syntax_error_points_at_the_syntax_error() -> None:
    """A syntax error is reported alone, at the ':' that YAML could not accept."""
    (problem,) = problems_of("yaml_syntax.yaml")
    line = (BROKEN / "yaml_syntax.yaml").read_text("utf-8").splitlines()[problem.loc.line - 1]
    assert line == "title: Mini: the small one"
    assert line[problem.loc.column - 1] == ":"


def test_templates_are_only_checked_when_given() -> None:
    """Without a list of templates the loader cannot know which exist, so it does not complain."""
    spec = load_fixture("unknown_template.yaml", templates=None)
    assert spec.states["working"].escalate[0].template == "remindr"


# --- several problems at once ---------------------------------------------------------------------

def test_several_errors_are_reported_together_in_line_order() -> None:
    """All mistakes of a file come in one InvalidInput, sorted by line then column."""
    problems = problems_of("several.yaml")
    locs = [(p.loc.line, p.loc.column) for p in problems]
    assert locs == sorted(locs)
    assert all(p.severity == "error" and p.loc.file == "several.yaml" for p in problems)
    expected = [
        ((4, 1), "unknown key 'colour'; allowed keys: workflow, title,"),
        ((7, 17), "unknown type 'numeric'"),
        ((14, 15), "got 'ten workdays'"),
        ((20, 82), "unknown field 'descripton' (did you mean 'description'?)"),
        ((21, 46), "unknown state 'don' (did you mean 'done'?)"),
        ((21, 59), "unknown role 'leadr' (did you mean 'leader'?)"),
    ]
    for loc, fragment in expected:
        assert any((p.loc.line, p.loc.column) == loc and fragment in p.message
                   for p in problems), (loc, fragment, [str(p) for p in problems])
    # and the consequences the graph checks still find in the partly broken spec
    assert locs == [(4, 1), (7, 17), (11, 3), (12, 3), (12, 3), (14, 15), (18, 3), (20, 82),
                    (21, 46), (21, 59)]


# --- warnings -------------------------------------------------------------------------------------

def test_non_final_state_without_deadline_is_a_warning_not_an_error() -> None:
    """A waiting state without a deadline loads, with a located warning on spec.warnings."""
    spec = load_fixture("no_deadline_warning.yaml")
    assert spec.warnings == (
        "no_deadline_warning.yaml:10:3: warning: state 'open' has no deadline: "
        "items may wait in it forever",
    )


def test_final_state_needs_no_deadline() -> None:
    """Final states (and the base's states with deadlines) raise no warning."""
    assert load_fixture(BASE).warnings == ()


# --- more checks, as one-line edits of the base ---------------------------------------------------

def test_escalation_fire_of_unknown_trigger_suggests_a_name() -> None:
    """A ladder step firing a trigger that does not exist is located at the step."""
    (problem,) = edit_problems("      - {at: 0, notify: [leader], level: 督办}\n",
                               "      - {at: 0, notify: [leader], level: 督办}\n"
                               "      - {at: 2 days, fire: finsh}\n")
    assert (problem.loc.line, problem.loc.column) == (17, 9)
    assert "escalation fire names unknown trigger 'finsh' (did you mean 'finish'?)" in \
        problem.message


def test_notify_of_unknown_recipient() -> None:
    """notify accepts assignee, creator or a role, and suggests the closest."""
    (problem,) = edit_problems("notify: [leader]", "notify: [leaders]")
    assert (problem.loc.line, problem.loc.column) == (16, 9)
    assert "unknown recipient 'leaders' (did you mean 'leader'?)" in problem.message


def test_escalation_without_deadline_is_an_error() -> None:
    """Ladder offsets count from the deadline, so a ladder needs one."""
    problems = edit_problems("    deadline: 10 workdays\n", "")
    assert [(p.loc.line, p.loc.column) for p in problems] == [(11, 3)]
    assert "has escalation steps but no deadline" in problems[0].message


def test_duplicate_keys_and_states_are_reported() -> None:
    """A key or a state written twice is an error, not a silent override."""
    (problem,) = edit_problems("title: Mini\n", "title: Mini\ntitle: Again\n")
    assert (problem.loc.line, problem.loc.column) == (4, 1)
    assert "key 'title' appears twice" in problem.message
    (problem,) = edit_problems("  done: {label: 完成, final: true}\n",
                               "  done: {label: 完成, final: true}\n  done: {label: again}\n")
    assert (problem.loc.line, problem.loc.column) == (18, 3)
    assert "'done' is defined twice" in problem.message


def test_yes_is_not_a_boolean() -> None:
    """`final: yes` is refused: only true/false are booleans."""
    problems = edit_problems("final: true", "final: yes")
    assert any((p.loc.line, p.loc.column) == (17, 28)
               and "final must be true or false, got 'yes'" in p.message for p in problems)


def test_when_counting_an_unknown_trigger() -> None:
    """`count.X` in a guard must name a trigger of the workflow."""
    (problem,) = edit_problems('"votes >= 1"', '"count.strat >= 1"')
    assert (problem.loc.line, problem.loc.column) == (21, 12)
    assert "when counts unknown trigger 'strat' (did you mean 'start'?)" in problem.message


def test_unknown_timezone() -> None:
    """The timezone must be an IANA name."""
    (problem,) = edit_problems("title: Mini\n", "title: Mini\ntimezone: Asia/Shanghia\n")
    assert (problem.loc.line, problem.loc.column) == (4, 11)
    assert "unknown timezone 'Asia/Shanghia'" in problem.message


# --- bugs found (engine code is not ours to change; each is listed in the report) -----------------

def test_when_with_unknown_filter_is_invalid_input() -> None:
    """`when: "votes | nosuch"` is reported as a problem at the `when` value, not a traceback."""
    (problem,) = edit_problems('"votes >= 1"', '"votes | nosuch"')
    assert (problem.loc.line, problem.loc.column) == (21, 12)


def test_when_that_only_compiles_wrapped_is_rejected() -> None:
    """`votes) or (votes` does not compile as an expression and must be refused at load."""
    edit_problems('"votes >= 1"', '"votes) or (votes"')


def test_empty_when_is_rejected() -> None:
    """An empty guard is refused at load."""
    edit_problems('"votes >= 1"', '""')


def test_when_syntax_message_speaks_of_the_admins_text() -> None:
    """The message for `votes >=` does not talk about an unexpected ')'."""
    (problem,) = problems_of("when_syntax.yaml")
    assert "')'" not in problem.message


@pytest.mark.parametrize("expression", ["range(3) | length > 1", "lipsum(n=3) | length > 0"])
def test_when_may_only_name_fields_and_count(expression: str) -> None:
    """Names a guard reads are fields or `count`; anything else is an unknown field."""
    (problem,) = edit_problems('"votes >= 1"', f'"{expression}"')
    assert "when names unknown field" in problem.message


def test_negative_deadline_is_rejected() -> None:
    """A state's deadline counts forward from entry; a negative one is a mistake."""
    (problem,) = edit_problems("deadline: 5 workdays", "deadline: -3 days")
    assert (problem.loc.line, problem.loc.column) == (10, 31)
