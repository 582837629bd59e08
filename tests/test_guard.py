"""`when:` guards (engine/guard.py): arithmetic over fields, `count`, and the sandbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rectify.engine.core.guard import (
    GuardError,
    GuardSyntaxError,
    compile_guard,
    counted_triggers,
    evaluate,
    names_used,
)

# --- what guards are for --------------------------------------------------------------------------

@pytest.mark.parametrize(("votes_for", "attendees", "expected"), [
    (3, 5, True), (2, 5, False), (2, 4, False), (0, 0, False), (10, 3, True),
])
def test_majority_guard(votes_for: int, attendees: int, expected: bool) -> None:
    """`votes_for * 2 > attendees` is plain arithmetic over the item's fields."""
    assert evaluate("votes_for * 2 > attendees",
                    {"votes_for": votes_for, "attendees": attendees}, {}) is expected


def test_count_with_and_without_counts() -> None:
    """`count.X` is how often X fired; a trigger that never fired counts zero."""
    assert evaluate("count.reject >= 1", {}, {}) is False
    assert evaluate("count.reject >= 1", {}, {"submit": 3}) is False
    assert evaluate("count.reject >= 1", {}, {"reject": 1}) is True
    assert evaluate("count['reject'] == 2 and count.submit == 3", {},
                    {"reject": 2, "submit": 3}) is True


def test_guard_result_is_a_bool() -> None:
    """Whatever the expression yields, evaluate returns True or False."""
    assert evaluate("votes", {"votes": 5}, {}) is True
    assert evaluate("votes", {"votes": 0}, {}) is False
    assert evaluate("votes is none", {"votes": None}, {}) is True


# --- empty fields and bad expressions -------------------------------------------------------------

@pytest.mark.parametrize("expression", [
    "votes_for * 2 > attendees", "votes_for + 1 > 0", "votes_for > 1", "-votes_for < 0",
])
def test_empty_field_in_arithmetic_is_a_guard_error(expression: str) -> None:
    """A field still empty (None) makes the guard undecidable: GuardError, not TypeError."""
    with pytest.raises(GuardError):
        evaluate(expression, {"votes_for": None, "attendees": 5}, {})


def test_division_by_zero_and_unknown_names_are_guard_errors() -> None:
    """Run-time failures of a guard are GuardError."""
    with pytest.raises(GuardError):
        evaluate("votes / attendees > 0.5", {"votes": 1, "attendees": 0}, {})
    with pytest.raises(GuardError, match="undefined"):
        evaluate("nobody > 1", {}, {})


@pytest.mark.parametrize("expression", ["votes >=", "(votes", "votes ==== 1", "votes }}"])
def test_syntax_errors_are_guard_syntax_errors(expression: str) -> None:
    """An expression that does not compile raises GuardSyntaxError when compiled."""
    with pytest.raises(GuardSyntaxError, match="guard does not compile"):
        compile_guard(expression)
    with pytest.raises(GuardSyntaxError):
        names_used(expression)


# --- the sandbox ----------------------------------------------------------------------------------

def _marker_command(marker: Path) -> str:
    return f"'touch {marker}'"


ESCAPES = [
    "''.__class__.__mro__",
    "''.__class__.__mro__[1].__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()",
    "foo.__globals__",
    "foo.__code__.co_code",
    "foo.__globals__['__builtins__']['__import__']('os').system({cmd})",
    "lipsum.__globals__['os'].system({cmd})",
    "cycler.__init__.__globals__.os.system({cmd})",
    "joiner.__init__.__globals__.os.system({cmd})",
    "namespace.__init__.__globals__.os.system({cmd})",
    "self.__init__.__globals__",
    "self._TemplateReference__context",
    "votes.__class__.__base__.__subclasses__()",
    "votes|attr('__class__')",
    "'{{0.__class__.__mro__}}'.format(votes)",
    "'%s'.__mod__.__self__.__class__",
    "count.__class__",
    "count.reject.__class__",
    "count.update({{'reject': 99}}) or count.reject == 99",
    "items.append(1) or items|length == 1",
    "items.pop() is none",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_refuses_escapes(template: str, tmp_path: Path) -> None:
    """Dunder access, introspection and mutation raise GuardError; nothing runs or changes."""
    marker = tmp_path / "escaped"
    expression = template.format(cmd=_marker_command(marker))
    items: list[int] = []
    counts = {"reject": 1}

    def foo() -> None:
        """A function reachable from a field value."""

    with pytest.raises(GuardError):
        evaluate(expression, {"foo": foo, "votes": 3, "items": items}, counts)
    assert not marker.exists()
    assert items == [] and counts == {"reject": 1}


def test_sandbox_refusal_says_why() -> None:
    """A refused attribute is reported as not allowed in a guard, naming the attribute."""
    with pytest.raises(GuardError, match=r"not allowed in a guard: .*'__class__'"):
        evaluate("''.__class__.__mro__", {}, {})


@pytest.mark.parametrize("expression", ["range(10**9)", "range(10**9) | list | length > 0"])
def test_huge_range_is_a_guard_error(expression: str) -> None:
    """range(10**9) is refused by the sandbox, and that refusal is a GuardError."""
    with pytest.raises(GuardError):
        evaluate(expression, {}, {})


def test_huge_string_is_a_guard_error() -> None:
    """String repetition to gigabytes is refused as a GuardError (checked under a 1 GB limit)."""
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from rectify.engine.core.guard import evaluate\n"
        "try:\n"
        "    evaluate(\"'a' * 10**10 != ''\", {}, {})\n"
        "except BaseException as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)
    assert result.stdout.strip() == "GuardError", result.stdout + result.stderr


# --- static analysis for the validator ------------------------------------------------------------

def test_names_used() -> None:
    """names_used lists the top-level names an expression reads, not attributes or literals."""
    assert names_used("votes_for * 2 > attendees") == {"votes_for", "attendees"}
    assert names_used("count.reject >= 1") == {"count"}
    assert names_used("a.b + c['d'] > 'e'") == {"a", "c"}
    assert names_used("1 + 2 > 2") == set()


def test_counted_triggers() -> None:
    """counted_triggers finds every `count.X` and `count['X']`, and nothing else."""
    assert counted_triggers("count.reject >= 1") == {"reject"}
    assert counted_triggers("count.reject >= 1 and count['submit'] > 0") == {"reject", "submit"}
    assert counted_triggers("votes.reject > 1 and other['x'] > 0") == set()
    assert counted_triggers("votes_for * 2 > attendees") == set()
