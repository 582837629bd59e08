"""`rectify workflow validate|show|graph` and the CLI's start-up (cli.py, commands/workflow.py).

Error paths run the real console script, since exit codes are mapped in `cli_support.run`;
output-only paths use click's CliRunner. No database is created or needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rectify.cli import cli
from rectify.engine.core.errors import InvalidInput
from rectify.engine.core.loader import load_workflow_file
from rectify.engine.core.spec import WorkflowSpec
from rectify.workflows import HERE as WORKFLOWS
from rectify.workflows import bundled_files

from .cli_inprocess import invoke

BROKEN = Path(__file__).parent / "fixtures" / "broken"


def _script() -> str:
    beside = Path(sys.executable).parent / "rectify"
    found = str(beside) if beside.exists() else shutil.which("rectify")
    if found is None:
        pytest.skip("the rectify console script is not installed")
    return found


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    env.update(extra)
    return env


def rectify(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_script(), *args], cwd=cwd, env=_env(**env), capture_output=True,
                          text=True, timeout=60)


def problem_lines(path: Path) -> list[str]:
    """What the loader reports for a file: the lines the CLI must print."""
    with pytest.raises(InvalidInput) as info:
        load_workflow_file(path)
    return [str(p) for p in info.value.problems]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CliRunner in an empty folder (no rectify.db, no rectify.toml) without RECTIFY_*."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("RECTIFY_")]:
        monkeypatch.delenv(key)
    return CliRunner()


@pytest.fixture(scope="module")
def spec() -> WorkflowSpec:
    return load_workflow_file(WORKFLOWS / "rectification.yaml")


# --- validate -------------------------------------------------------------------------------------

def test_validate_bundled_workflows_from_another_directory(tmp_path: Path) -> None:
    """Every installed bundled workflow validates (exit 0), run from an unrelated folder."""
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yaml"))
    assert str(WORKFLOWS / "rectification.yaml") in files
    result = rectify("workflow", "validate", *files, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for f in files:
        assert re.search(rf"^{re.escape(f)}: ok \(\w+: \d+ states, \d+ transitions\)$",
                         result.stdout, re.MULTILINE), result.stdout
    assert result.stderr.count("warning:") == result.stderr.count("\n") == 1  # discovered


def test_validate_bundled_with_cli_runner(runner: CliRunner) -> None:
    """validate exits 0 for the bundled files through click as well."""
    result = runner.invoke(cli, ["workflow", "validate", *map(str, bundled_files())])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok (") == len(bundled_files())


def test_validate_broken_file_prints_every_problem(tmp_path: Path) -> None:
    """A broken file: exit 6, each problem on stderr as FILE:LINE:COL: message, nothing else."""
    path = BROKEN / "several.yaml"
    result = rectify("workflow", "validate", str(path), cwd=tmp_path)
    assert result.returncode == 6
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == problem_lines(path)
    assert len(lines) >= 6
    assert f"{path}:21:46: transition 'finish' goes to unknown state 'don' " \
           "(did you mean 'done'?)" in lines
    assert all(re.match(rf"{re.escape(str(path))}:\d+:\d+: ", line) for line in lines)


def test_validate_two_broken_files_at_once(tmp_path: Path) -> None:
    """With several files, all are checked: both broken files' problems, the valid one ok."""
    first, good, second = BROKEN / "unknown_dest.yaml", BROKEN / "_valid_base.yaml", \
        BROKEN / "when_unknown_field.yaml"
    result = rectify("workflow", "validate", str(first), str(good), str(second), cwd=tmp_path)
    assert result.returncode == 6
    assert result.stderr.splitlines() == problem_lines(first) + problem_lines(second)
    assert f"{first}:22:45: " in result.stderr and f"{second}:21:12: " in result.stderr
    assert result.stdout.strip() == f"{good}: ok (mini: 3 states, 2 transitions)"


def test_validate_relative_path_reports_it_as_given() -> None:
    """Problems name the file as the admin typed it (relative stays relative)."""
    result = rectify("workflow", "validate", "bad_field_type.yaml", cwd=BROKEN)
    assert result.returncode == 6
    assert result.stderr.startswith("bad_field_type.yaml:6:17: field 'votes': unknown type")


def test_validate_warning_goes_to_stderr_with_exit_0(tmp_path: Path) -> None:
    """A warning is printed located, and does not fail validation."""
    path = BROKEN / "no_deadline_warning.yaml"
    result = rectify("workflow", "validate", str(path), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr.strip() == (f"{path}:10:3: warning: state 'open' has no deadline: "
                                     "items may wait in it forever")


def test_validate_missing_file_is_exit_6(tmp_path: Path) -> None:
    """A file that cannot be read is a located problem too."""
    result = rectify("workflow", "validate", "nope.yaml", cwd=tmp_path)
    assert result.returncode == 6
    assert result.stderr.startswith("nope.yaml:1:1: cannot read")


def test_validate_json(runner: CliRunner) -> None:
    """--json validate gives one result per file with its errors."""
    result = runner.invoke(cli, ["--json", "workflow", "validate",
                                 str(BROKEN / "unknown_initial.yaml"),
                                 str(BROKEN / "_valid_base.yaml")])
    assert result.exit_code == 6
    data = json.loads(result.stdout)
    assert [r["valid"] for r in data] == [False, True]
    assert data[0]["errors"] == problem_lines(BROKEN / "unknown_initial.yaml")
    assert data[1]["workflow"] == "mini"


# --- show -----------------------------------------------------------------------------------------

def test_show_bundled_by_name(runner: CliRunner, spec: WorkflowSpec) -> None:
    """`workflow show rectification` without a database: states, transitions, escalation."""
    result = runner.invoke(cli, ["workflow", "show", "rectification"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(f"rectification: {spec.title}")
    states, rest = out.split("\ntransitions:\n")
    transitions, escalation = rest.split("\nescalation:\n")
    for name, state in spec.states.items():
        row = next(line for line in states.splitlines() if line.startswith(name + " "))
        assert state.label in row
        assert (str(state.deadline) in row) if state.deadline else row.rstrip().endswith(
            "yes" if state.final else state.label)
    assert re.search(r"^closed\s+已销号\s+yes$", states, re.MULTILINE)
    rows = [line for line in transitions.splitlines()[2:] if line.strip()]
    assert len(rows) == len(spec.transitions)
    for t, row in zip(spec.transitions, rows, strict=True):
        assert row.startswith(t.trigger + " ")
        assert t.dest in row
        for role in t.roles:
            assert spec.role_label(role) in row
        if t.when:
            assert f"when {t.when}" in row
    assert "only the assignee" in transitions and "not whoever fired submit" in transitions
    steps = [step for s in spec.states.values() for step in s.escalate]
    ladder = [line for line in escalation.splitlines()[2:] if line.strip()]
    assert len(ladder) == len(steps)
    for step, row in zip(steps, ladder, strict=True):
        assert (step.level or "") in row
        assert (step.fire or "") in row
        n, unit = abs(step.at.amount), step.at.unit
        assert (f"{n} {unit} {'before' if step.at.amount < 0 else 'after'} the deadline"
                if step.at.amount else "deadline") in row


def test_show_says_durations_in_chinese(tmp_path: Path) -> None:
    """Under --lang zh the deadlines and ladder times read as Chinese (10 个工作日,
    时限前 2 个工作日) and whom a step notifies by role label, not the YAML's '-2 workdays' or
    role ids."""
    result = invoke(["rectify", "--lang", "zh", "workflow", "show", "rectification"],
                    dict(os.environ), tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^rectifying\s+整改中\s+10 个工作日", out, re.MULTILINE)
    assert re.search(r"^整改中\s+时限前 2 个工作日\s+提醒\s+责任人$", out, re.MULTILINE)
    assert re.search(r"^整改中\s+时限后 3 个工作日\s+约谈\s+分管领导", out, re.MULTILINE)
    assert "workdays" not in out and "仅限 责任人" in out


def test_show_json(runner: CliRunner, spec: WorkflowSpec) -> None:
    """--json workflow show gives states, deadlines, ladders and transitions as data."""
    result = runner.invoke(cli, ["--json", "workflow", "show", "rectification"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["workflow"] == "rectification" and data["initial"] == spec.initial
    assert list(data["states"]) == list(spec.states)
    rect = data["states"]["rectifying"]
    assert rect["deadline"] == "10 workdays"
    assert [s["at"] for s in rect["escalate"]] == [str(s.at) for s in
                                                   spec.states["rectifying"].escalate]
    assert rect["escalate"][-1]["fire"] == "hold_accountable"
    assert data["states"]["closed"] == {"label": "已销号", "final": True, "deadline": None,
                                        "escalate": []}
    assert [(t["trigger"], t["dest"], t["roles"], t["when"]) for t in data["transitions"]] == \
        [(t.trigger, t.dest, list(t.roles), t.when) for t in spec.transitions]


def test_show_a_file(runner: CliRunner) -> None:
    """show accepts a file path as well as a name."""
    result = runner.invoke(cli, ["workflow", "show", str(BROKEN / "_valid_base.yaml")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("mini: Mini")


def test_show_broken_file_is_exit_6(tmp_path: Path) -> None:
    """show of a broken file prints its problems and exits 6."""
    path = BROKEN / "unknown_dest.yaml"
    result = rectify("workflow", "show", str(path), cwd=tmp_path)
    assert result.returncode == 6
    assert result.stderr.splitlines() == problem_lines(path)


# --- graph ----------------------------------------------------------------------------------------

def test_graph_mermaid(runner: CliRunner, spec: WorkflowSpec) -> None:
    """Mermaid output is a stateDiagram with every state and every edge, one per line."""
    result = runner.invoke(cli, ["workflow", "graph", "rectification", "--format", "mermaid"])
    assert result.exit_code == 0, result.output
    lines = result.output.rstrip("\n").splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert f"    [*] --> {spec.initial}" in lines
    grammar = re.compile(r'^    (\[\*\] --> \w+|state "[^"]+" as \w+|\w+ --> (\w+|\[\*\])'
                         r'(: [^:]+)?)$')
    for line in lines[1:]:
        assert grammar.match(line), line
    for name, state in spec.states.items():
        assert any(line.startswith(f'    state "{state.label}') and line.endswith(f" as {name}")
                   for line in lines), name
    edges = [line.strip() for line in lines if " --> " in line and "[*]" not in line]
    assert len(edges) == sum(len(t.sources) for t in spec.transitions)
    assert "    closed --> [*]" in lines


def test_graph_dot(runner: CliRunner, spec: WorkflowSpec) -> None:
    """DOT output is one digraph, balanced, with a node per state and an edge per source."""
    result = runner.invoke(cli, ["workflow", "graph", "rectification", "--format", "dot"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith('digraph "rectification" {') and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}") == 1
    assert text.replace('\\"', "").count('"') % 2 == 0
    for name in spec.states:
        assert re.search(rf'^    "{name}" \[label="[^"]+"(, peripheries=2)?\];$', text,
                         re.MULTILINE), name
    edges = re.findall(r'^    "(\w+)" -> "(\w+)" \[label="[^"]*"\];$', text, re.MULTILINE)
    assert sorted(edges) == sorted((s, t.dest) for t in spec.transitions for s in t.sources)


def test_graph_to_file(runner: CliRunner, tmp_path: Path) -> None:
    """-o writes the text to a file instead of stdout."""
    out = tmp_path / "g.mmd"
    result = runner.invoke(cli, ["workflow", "graph", "rectification", "-o", str(out)])
    assert result.exit_code == 0 and result.output == ""
    assert out.read_text("utf-8").startswith("stateDiagram-v2")


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_graph_image_without_graphviz_is_a_clear_usage_error(fmt: str, tmp_path: Path) -> None:
    """svg/png with no `dot` on PATH: exit 2 and a message naming Graphviz; no file, no trace."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    out = tmp_path / f"g.{fmt}"
    result = rectify("workflow", "graph", "rectification", "--format", fmt, "-o", str(out),
                     cwd=tmp_path, PATH=str(empty_bin))
    assert result.returncode == 2, result.stderr
    assert "Graphviz" in result.stderr and "`dot`" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


# --- start-up -------------------------------------------------------------------------------------

def test_help_lists_every_group_quickly(tmp_path: Path) -> None:
    """`rectify --help` lists every command and group, and starts in under a second."""
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        result = rectify("--help", cwd=tmp_path)
        timings.append(time.perf_counter() - start)
        assert result.returncode == 0
    commands = re.search(r"^Commands:\n((?:  .*\n?)+)", result.stdout, re.MULTILINE)
    assert commands is not None
    listed = {line.split()[0] for line in commands.group(1).splitlines()}
    assert listed == set(cli.commands)
    assert {"workflow", "org", "calendar", "item", "audit"} <= listed
    assert min(timings) < 1.0, timings


def test_importing_the_cli_loads_no_database_or_scheduler_code() -> None:
    """`import rectify.cli` pulls in neither SQLAlchemy, Alembic nor APScheduler."""
    code = ("import sys, rectify.cli; print(any(m.startswith(('sqlalchemy', 'alembic', "
            "'apscheduler')) for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_workflow_help_lists_its_commands(runner: CliRunner) -> None:
    """`rectify workflow --help` lists validate, load, list, show and graph."""
    result = runner.invoke(cli, ["workflow", "--help"])
    assert result.exit_code == 0
    for name in ("validate", "load", "list", "show", "graph"):
        assert re.search(rf"^  {name}\s", result.output, re.MULTILINE), name
