"""Workflow loading (engine/loader.py, engine/yamlnodes.py, engine/spec.py): immutable specs,
strict booleans, durations, safe YAML, node locations, and a fuzz test that nothing but
InvalidInput ever escapes."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rectify.engine.core.errors import InvalidInput, Refused, SourceLoc
from rectify.engine.core.loader import load_stored_workflow, load_workflow, load_workflow_file
from rectify.engine.core.machine import Actor, ItemView, Request, StateGraph
from rectify.engine.core.spec import Duration, WorkflowSpec
from rectify.engine.core.yamlnodes import compose
from rectify.workflows import BUNDLED
from rectify.workflows import HERE as WORKFLOWS

RECTIFICATION = WORKFLOWS / "rectification.yaml"
BASE = Path(__file__).parent / "fixtures" / "broken" / "_valid_base.yaml"


@pytest.fixture(scope="module")
def spec() -> WorkflowSpec:
    return load_workflow_file(RECTIFICATION)


# --- immutability ---------------------------------------------------------------------------------

def test_spec_objects_are_frozen(spec: WorkflowSpec) -> None:
    """Assigning to any spec node's attribute raises FrozenInstanceError."""
    state = spec.states["rectifying"]
    targets = [
        (spec, "name"), (spec, "initial"), (spec, "warnings"),
        (state, "deadline"), (state, "final"), (state.escalate[0], "at"),
        (spec.fields["category"], "choices"), (spec.transitions[0], "dest"),
        (state.deadline, "amount"), (state.loc, "line"),
    ]
    for obj, attr in targets:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, attr, None)


def test_spec_mappings_and_sequences_are_read_only(spec: WorkflowSpec) -> None:
    """The spec's mappings refuse item assignment and its collections are tuples."""
    for mapping in (spec.states, spec.fields, spec.roles, spec.key_locs,
                    spec.transitions[0].key_locs):
        with pytest.raises(TypeError):
            mapping["new"] = None  # type: ignore[index]
        with pytest.raises(TypeError):
            del mapping[next(iter(mapping))]  # type: ignore[attr-defined]
    assert isinstance(spec.transitions, tuple)
    assert isinstance(spec.states["rectifying"].escalate, tuple)
    assert isinstance(spec.fields["category"].choices, tuple)
    assert isinstance(spec.transitions[0].roles, tuple)


# --- strict booleans ------------------------------------------------------------------------------

ON_OFF = """\
workflow: switch
roles: {operator: 操作员}
fields:
  answer: {type: choice, label: 回答, choices: [yes, no, on, off, Yes, NO, y, n]}
initial: off
states:
  off: {label: 关, deadline: 1 days}
  on: {label: 开, deadline: 1 days}
  no: {label: 否, final: True}
transitions:
  - {trigger: yes, source: off, dest: on, roles: [operator]}
  - {trigger: off, source: on, dest: no, roles: [operator]}
"""


def test_on_off_yes_no_stay_strings() -> None:
    """YAML 1.1 booleans (on/off/yes/no/y/n) used as names and choices remain strings."""
    spec = load_workflow(ON_OFF, "switch.yaml")
    assert spec.initial == "off"
    assert list(spec.states) == ["off", "on", "no"]
    assert spec.fields["answer"].choices == ("yes", "no", "on", "off", "Yes", "NO", "y", "n")
    assert [t.trigger for t in spec.transitions] == ["yes", "off"]
    assert spec.transitions[0].sources == ("off",) and spec.transitions[0].dest == "on"
    assert spec.states["no"].final is True  # `True` is still a boolean


@pytest.mark.parametrize("word", ["yes", "on", "Y", "no"])
def test_yaml11_booleans_are_not_accepted_as_booleans(word: str) -> None:
    """`final: yes` is refused: only true/false are booleans."""
    text = ON_OFF.replace("final: True", f"final: {word}")
    with pytest.raises(InvalidInput, match=rf"final must be true or false, got '{word}'"):
        load_workflow(text, "switch.yaml")


# --- durations ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "amount", "unit"), [
    ("10 workdays", 10, "workdays"),
    ("-2 workdays", -2, "workdays"),
    ("+3 days", 3, "days"),
    ("48 hours", 48, "hours"),
    ("1 workday", 1, "workdays"),
    ("1 day", 1, "days"),
    ("1 hour", 1, "hours"),
    ("0", 0, "days"),
    (0, 0, "days"),
    ("  5   days ", 5, "days"),
])
def test_duration_parses(text: object, amount: int, unit: str) -> None:
    """Signed N workdays/days/hours (singular or plural) and a bare 0 parse."""
    d = Duration.parse(text)
    assert (d.amount, d.unit) == (amount, unit)


def test_duration_str() -> None:
    """A duration prints back in the form the YAML uses."""
    assert str(Duration.parse("1 workday")) == "1 workdays"
    assert str(Duration.parse("-2 workdays")) == "-2 workdays"
    assert str(Duration.parse("0")) == "0"


@pytest.mark.parametrize("text", [
    "10 weekdays", "ten days", "5", "10", "1.5 days", "", "days", "10 workdays later",
    "--2 days", "+-2 days", "10 Workdays", "2 weeks", "10 workdays 2 days", True, False, None,
    1.0, [10, "days"],
])
def test_bad_durations_are_rejected(text: object) -> None:
    """Anything that is not a signed integer with a known unit (or 0) is a ValueError."""
    with pytest.raises(ValueError):
        Duration.parse(text)


@pytest.mark.parametrize("bad", ["10 weekdays", "10", "1.5 days", "[10, days]", "{n: 1}", "yes"])
def test_bad_deadline_in_a_workflow_is_located(bad: str) -> None:
    """A bad deadline is an InvalidInput at the deadline's own line and column."""
    text = BASE.read_text("utf-8").replace("deadline: 5 workdays", f"deadline: {bad}")
    with pytest.raises(InvalidInput) as info:
        load_workflow(text, "d.yaml")
    problems = info.value.problems
    assert {(p.loc.line, p.loc.column) for p in problems} == {(10, 31)}
    assert any(p.message.startswith("deadline") for p in problems)


# --- safe loading ---------------------------------------------------------------------------------

def _python_tag_variants(marker: Path) -> dict[str, str]:
    base = BASE.read_text("utf-8")
    command = f"touch {marker}"
    return {
        "apply-sequence": base.replace(
            "title: Mini", f"title: !!python/object/apply:os.system [{command!r}]"),
        "apply-root": f"!!python/object/apply:os.system\nargs: [{command!r}]\n",
        "new-mapping": base.replace(
            "title: Mini", "title: !!python/object/new:subprocess.Popen "
                           f"{{args: [[sh, -c, {command!r}]]}}"),
        "object-root": "--- !!python/object:argparse.Namespace\n" + base,
        "name-scalar": base.replace("title: Mini", "title: !!python/name:os.system ''"),
        "object-state": base.replace("  done: {label",
                                     "  done: !!python/object:argparse.Namespace {label"),
    }


VARIANTS = ["apply-sequence", "apply-root", "new-mapping", "object-root", "name-scalar",
            "object-state"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_python_tags_are_never_executed(variant: str, tmp_path: Path) -> None:
    """`!!python/...` tags never construct objects or run code, wherever they appear."""
    marker = tmp_path / "pwned"
    text = _python_tag_variants(marker)[variant]
    try:
        spec = load_workflow(text, "evil.yaml")
    except InvalidInput:
        pass
    else:
        for value in (spec.title, spec.name, *spec.states):
            assert isinstance(value, str)
    assert not marker.exists()




@pytest.mark.parametrize("variant", [
    "apply-sequence", "apply-root", "new-mapping",
    "object-root",
    "name-scalar",
    "object-state",
])
def test_python_tags_are_refused(variant: str, tmp_path: Path) -> None:
    """A workflow carrying `!!python/...` tags is an InvalidInput."""
    text = _python_tag_variants(tmp_path / "pwned")[variant]
    with pytest.raises(InvalidInput):
        load_workflow(text, "evil.yaml")


def test_deep_nesting_is_invalid_input_not_recursion_error() -> None:
    """A 4 KB line of nested brackets is refused like any other bad file."""
    text = BASE.read_text("utf-8").replace("title: Mini", "title: " + "[" * 2000 + "]" * 2000)
    with pytest.raises(InvalidInput):
        load_workflow(text, "deep.yaml")


# --- locations ------------------------------------------------------------------------------------

def _line_of(lines: list[str], pattern: str) -> int:
    found = [i + 1 for i, line in enumerate(lines) if re.match(pattern, line)]
    assert len(found) == 1, (pattern, found)
    return found[0]


def test_state_locations_match_the_file(spec: WorkflowSpec) -> None:
    """Each state's loc is the line and column of its name in the YAML."""
    lines = RECTIFICATION.read_text("utf-8").splitlines()
    for name, state in spec.states.items():
        line = _line_of(lines, rf"  {re.escape(name)}:")
        assert state.loc == SourceLoc(str(RECTIFICATION), line, 3), name


def test_field_step_and_key_locations_match_the_file(spec: WorkflowSpec) -> None:
    """Fields, escalation steps, top-level keys and transitions point at their own lines."""
    lines = RECTIFICATION.read_text("utf-8").splitlines()
    for name, fld in spec.fields.items():
        assert (fld.loc.line, fld.loc.column) == (_line_of(lines, rf"  {name}:"), 3)
    step_lines = [i + 1 for i, line in enumerate(lines) if re.match(r"\s+- \{at:", line)]
    steps = [step for s in spec.states.values() for step in s.escalate]
    assert [s.loc.line for s in steps] == step_lines
    for step in steps:
        assert lines[step.loc.line - 1][step.loc.column - 1:].startswith("{at:")
    initial_line = _line_of(lines, r"initial:")
    assert spec.at("initial") == SourceLoc(str(RECTIFICATION), initial_line, 10)
    trigger_lines = [i + 1 for i, line in enumerate(lines) if re.match(r"  - \{trigger:", line)]
    assert [t.loc.line for t in spec.transitions] == trigger_lines
    for t in spec.transitions:
        dest = t.at("dest")
        assert lines[dest.line - 1][dest.column - 1:].startswith(t.dest)


def test_every_node_carries_a_location_inside_the_file(spec: WorkflowSpec) -> None:
    """Every state, field, step and transition has a loc in this file within its line range."""
    n = len(RECTIFICATION.read_text("utf-8").splitlines())
    locs = [spec.loc, *spec.key_locs.values()]
    locs += [s.loc for s in spec.states.values()]
    locs += [f.loc for f in spec.fields.values()]
    locs += [step.loc for s in spec.states.values() for step in s.escalate]
    locs += [t.loc for t in spec.transitions]
    locs += [loc for t in spec.transitions for loc in t.key_locs.values()]
    for loc in locs:
        assert loc.file == str(RECTIFICATION)
        assert 1 <= loc.line <= n and loc.column >= 1


# --- stored versions: the fast path ---------------------------------------------------------------

@pytest.mark.parametrize("variant", ["as written", "CRLF", "BOM"])
@pytest.mark.parametrize("name", BUNDLED)
def test_a_stored_version_gives_the_spec_the_file_gave(name: str, variant: str) -> None:
    """load_stored_workflow (libyaml, guards not compiled again) builds a spec equal to
    load_workflow's, every location and warning included, for every bundled workflow."""
    text = _bundled(name).read_text("utf-8")
    text = {"as written": text, "CRLF": text.replace("\n", "\r\n"), "BOM": "\ufeff" + text}[variant]
    file = f"/stored/{name}.yaml"
    assert load_stored_workflow(text, file) == load_workflow(text, file)
    if yaml.__with_libyaml__:  # else both paths are the same pure-Python parser
        root = compose(text, file, trusted=True)
        assert root is not None and isinstance(root.start_mark, yaml._yaml.Mark)


def test_a_stored_guard_compiles_when_first_evaluated() -> None:
    """Stored sources passed the guard checks when loaded, so they are not compiled again on
    reading; a guard that somehow no longer compiles refuses its transition when it is tried."""
    text = (Path(__file__).parent / "fixtures" / "broken" / "when_syntax.yaml").read_text("utf-8")
    with pytest.raises(InvalidInput, match="guard does not compile"):
        load_workflow(text, "mini.yaml")
    graph = StateGraph(load_stored_workflow(text, "mini.yaml"))
    item = ItemView(state="working", unit="u", fields={"description": "x", "votes": 3})
    with pytest.raises(Refused, match="cannot be decided") as refused:
        graph.fire(item, Actor("p", frozenset({"leader"})), Request("finish"),
                   datetime(2025, 9, 26, tzinfo=UTC))
    assert refused.value.reason == "guard"


def test_reading_a_stored_version_imports_neither_jinja2_nor_transitions() -> None:
    """Re-reading a stored workflow with `when:` guards and listing what an actor may do (what
    `item show` does) loads neither Jinja2 nor `transitions`: those are for firing."""
    code = (
        "import sys\n"
        "from rectify.engine.core.loader import load_stored_workflow\n"
        "from rectify.engine.core.machine import Actor, ItemView, StateGraph\n"
        f"spec = load_stored_workflow(open({str(RECTIFICATION)!r}, encoding='utf-8').read(), 'r')\n"
        "assert any(t.when for t in spec.transitions)\n"
        "item = ItemView(state='accepting', unit='u', counts={'reject': 1})\n"
        "print(StateGraph(spec).allowed_triggers(item, Actor('p', frozenset({'acceptor'}))))\n"
        "print(sorted(m for m in ('jinja2', 'transitions') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    allowed, loaded = result.stdout.splitlines()[-2:]
    assert "accept" in allowed and loaded == "[]", result.stdout


# --- fuzz -----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\s{}\[\],:#]+")
_NOISE = st.text(alphabet="{}[]:,-'\"&*!|>#%@` \tab1é\n", min_size=1, max_size=4)


@st.composite
def _mutations(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines(keepends=True)
    tokens = sorted(set(_TOKEN.findall(text)))
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "token", "insert", "indent"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "token":
            spots = list(_TOKEN.finditer(lines[i]))
            if spots:
                m = draw(st.sampled_from(spots))
                lines[i] = lines[i][:m.start()] + draw(st.sampled_from(tokens)) + \
                    lines[i][m.end():]
        elif op == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(_NOISE) + lines[i][at:]
        else:
            shift = draw(st.sampled_from([-4, -2, -1, 1, 2, 4]))
            indent = len(lines[i]) - len(lines[i].lstrip(" "))
            lines[i] = " " * shift + lines[i] if shift > 0 else lines[i][min(-shift, indent):]
    return "".join(lines)


def _bundled(name: str) -> Path:
    path = WORKFLOWS / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"{path.name} is not there (yet)")
    return path


# identification.yaml is three times the size of the others: fewer examples keep the whole run
# under about ten seconds.
@pytest.mark.parametrize(("name", "examples"),
                         [("rectification", 300), ("exit", 150), ("identification", 120)])
def test_mutated_workflows_load_or_raise_invalid_input(name: str, examples: int) -> None:
    """Random edits of a bundled workflow give a WorkflowSpec or InvalidInput, nothing else."""
    text = _bundled(name).read_text("utf-8")

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(_mutations(text))
    def check(mutated: str) -> None:
        try:
            result = load_workflow(mutated, f"{name}.yaml")
        except InvalidInput as exc:
            assert exc.problems
            assert all(p.loc.file == f"{name}.yaml" and p.loc.line >= 1 for p in exc.problems)
        else:
            assert isinstance(result, WorkflowSpec)
            # What loads once loads the same when read back from the database.
            assert load_stored_workflow(mutated, f"{name}.yaml") == result

    check()
